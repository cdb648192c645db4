package differential

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	_ "github.com/devfence/devfence/internal/golden" // -update
	"github.com/devfence/devfence/internal/netlab"
	"github.com/devfence/devfence/internal/pipeline"
	"github.com/devfence/devfence/rules"
	"github.com/devfence/devfence/rules/trace"
)

// The profile under test: the camera's (examples/baby-monitor.yaml) shape
// on the lab's address plan, with windows of seconds so that a sequence
// sees them end, and a peer table small enough to fill.
const profile = `version: 1
device: {name: diff-camera}
networks:
  lan: [192.0.2.0/24, "2001:db8:1::/64"]
  cloud: [203.0.113.10, "2001:db8:3::10"]
  resolver: [192.0.2.20, "2001:db8:1::20"]
inbound:
  services:
    - {name: echo, proto: udp, port: 7000, from: [lan]}
egress:
  quota: 8KiB/2s
  total: 24KiB/2s
  allow:
    - {name: dns, to: [resolver], proto: udp, port: 53, quota: 4KiB/2s}
    - {name: ntp, to: any, proto: udp, port: 123}
    - {name: upload, to: [cloud], proto: udp, port: 9000}
consent:
  idle: 2s
  bulk: [{proto: udp, port: 5000}]
limits: {peers: 2, ipv6Prefix: 64}
log: {drops: 0}
`

// Ports of the generated traffic. The device's own port differs per
// sequence, so no sequence meets another's conntrack entries.
var (
	peerPorts   = []uint16{53, 123, 9000, 5000, 7777}
	devicePorts = []uint16{7000, 7002} // 7000 is the service
	peerNames   = []string{"viewer", "lan2", "cloud", "attacker", "victim0", "victim1", "victim2", "victim3"}
)

// wait is the only pause a sequence takes. The steps between two waits
// take well under a second, so nothing a set holds expires between them
// (the windows and consent.idle are 2 s); after a wait, everything from
// before it is more than 1.5 s past its window. The kernel counts an
// expired element against the set's size until its garbage collection
// (once a second) removes it, while the tracer drops it at once: a shorter
// wait made a full @total drop a family's traffic in the kernel for up to
// a second after the window (found by this test, seed 7).
const wait = 3500 * time.Millisecond

// step is one generated action.
type step struct {
	kind   string // out, in, reply, spoof, wait
	peer   string
	v6     bool
	port   uint16 // peer port (out, reply) or device port (in)
	size   int
	count  int
	forged string // spoof: the lab host whose address the device forges
}

type env struct {
	lab     *netlab.Lab
	device  *netlab.Host
	table   *rules.Table
	peers   map[string]map[netip.AddrPort]*socket
	dev     map[netip.AddrPort]*socket
	nextSeq int
}

func addr(h *netlab.Host, v6 bool) netip.Addr {
	if v6 {
		return h.V6
	}
	return h.V4
}

// TestTracerMatchesKernel generates random UDP sequences against the
// profile and requires the kernel and the tracer to agree on every
// datagram the device sends (accepted, or EPERM from the output hook) and
// on how many of those sent to it arrive. DEVFENCE_DIFF_SEQUENCES (default
// 4, about 20 s) and DEVFENCE_DIFF_SEED choose how many and which; a failure reports
// the shortest failing sequence found by dropping steps.
func TestTracerMatchesKernel(t *testing.T) {
	lab := netlab.New(t, netlab.WithVictims(4))
	netlab.RequireTool(t, "nft")
	path := filepath.Join(t.TempDir(), "diff-camera.yaml")
	if err := os.WriteFile(path, []byte(profile), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := pipeline.Build(context.Background(), path, pipeline.Options{})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{lab: lab, device: lab.Host(netlab.DeviceName), table: res.Table,
		peers: map[string]map[netip.AddrPort]*socket{}, dev: map[netip.AddrPort]*socket{}}
	for _, name := range peerNames {
		h := lab.Host(name)
		e.peers[name] = map[netip.AddrPort]*socket{}
		for _, v6 := range []bool{false, true} {
			for _, p := range peerPorts {
				ap := netip.AddrPortFrom(addr(h, v6), p)
				e.peers[name][ap] = bind(t, h, ap)
			}
		}
	}
	for _, v6 := range []bool{false, true} {
		for _, p := range devicePorts {
			ap := netip.AddrPortFrom(addr(e.device, v6), p)
			e.dev[ap] = bind(t, e.device, ap)
		}
	}

	sequences := envInt(t, "DEVFENCE_DIFF_SEQUENCES", 4)
	seed := uint64(envInt(t, "DEVFENCE_DIFF_SEED", 1))
	rng := rand.New(rand.NewPCG(seed, 0))
	t.Logf("%d sequences, seed %d", sequences, seed)
	for i := range sequences {
		seq := generate(rng, 16)
		t.Logf("sequence %d:\n%s", i+1, describe(seq))
		failure, err := e.run(t, seq)
		if err != nil {
			t.Fatal(err)
		}
		if failure == "" {
			continue
		}
		short, why := e.shrink(t, seq, failure)
		t.Fatalf("sequence %d (seed %d): the tracer and the kernel disagree; shortest failing sequence found:\n%s\n%s", i+1, seed, describe(short), why)
	}
}

func envInt(t *testing.T, name string, def int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		t.Fatalf("%s=%q: want a whole number", name, s)
	}
	return n
}

func generate(rng *rand.Rand, n int) []step {
	var seq []step
	var outs []step // what a reply can answer
	for range n {
		s := step{peer: peerNames[rng.IntN(len(peerNames))], v6: rng.IntN(2) == 1}
		switch r := rng.IntN(20); {
		case r < 10:
			// ntp goes to anyone: half the time, so that sequences fill
			// the peer table and spend quotas.
			s.kind, s.port = "out", peerPorts[rng.IntN(len(peerPorts))]
			if rng.IntN(2) == 0 {
				s.port = 123
			}
			s.size, s.count = []int{100, 1000, 1400}[rng.IntN(3)], 1+rng.IntN(12)
			outs = append(outs, s)
		case r < 14:
			s.kind, s.port = "in", devicePorts[rng.IntN(len(devicePorts))]
			s.size, s.count = 100, 1+rng.IntN(4)
		case r < 17 && len(outs) > 0:
			o := outs[rng.IntN(len(outs))]
			s = step{kind: "reply", peer: o.peer, v6: o.v6, port: o.port, size: 200, count: 1 + rng.IntN(3)}
		case r < 18:
			s.kind, s.port, s.size, s.count = "spoof", 123, 100, 1
			s.forged = []string{"lan2", "viewer"}[rng.IntN(2)]
		default:
			s = step{kind: "wait"}
		}
		seq = append(seq, s)
	}
	return seq
}

func describe(seq []step) string {
	var b strings.Builder
	for i, s := range seq {
		fmt.Fprintf(&b, "  %2d. %s\n", i+1, s.String())
	}
	return b.String()
}

func (s step) String() string {
	fam := "v4"
	if s.v6 {
		fam = "v6"
	}
	switch s.kind {
	case "wait":
		return "wait " + wait.String()
	case "spoof":
		return fmt.Sprintf("device forges %s's %s address to %s:%d", s.forged, fam, s.peer, s.port)
	case "in":
		return fmt.Sprintf("%s -> device:%d %s, %d x %d B", s.peer, s.port, fam, s.count, s.size)
	case "reply":
		return fmt.Sprintf("%s:%d answers the device %s, %d x %d B", s.peer, s.port, fam, s.count, s.size)
	}
	return fmt.Sprintf("device -> %s:%d %s, %d x %d B", s.peer, s.port, fam, s.count, s.size)
}

// run plays seq in the lab and in a fresh tracer: the table is loaded
// anew (empty sets), the device sends from a port of its own. It returns
// the first disagreement, or "".
func (e *env) run(t *testing.T, seq []step) (string, error) {
	e.nextSeq++
	if err := e.device.NFT(rules.Replace(e.table).String()); err != nil {
		return "", fmt.Errorf("load the table: %w", err)
	}
	sport := uint16(20000 + e.nextSeq)
	out := map[bool]*socket{}
	for _, v6 := range []bool{false, true} {
		ap := netip.AddrPortFrom(addr(e.device, v6), sport)
		out[v6] = bind(t, e.device, ap)
	}
	tr := trace.New(e.table, e.device.Addrs())
	start := time.Now()
	for i, s := range seq {
		if s.kind == "wait" {
			time.Sleep(wait)
			continue
		}
		tr.Advance(time.Since(start) - tr.Now())
		peer := e.lab.Host(s.peer)
		dev := netip.AddrPortFrom(addr(e.device, s.v6), sport)
		remote := netip.AddrPortFrom(addr(peer, s.v6), s.port)
		var spec string
		switch s.kind {
		case "out":
			spec = fmt.Sprintf("out udp %s > %s size %d count %d", dev, remote, s.size, s.count)
		case "spoof":
			src := netip.AddrPortFrom(addr(e.lab.Host(s.forged), s.v6), sport)
			spec = fmt.Sprintf("out udp %s > %s size %d", src, remote, s.size)
		case "in":
			remote = netip.AddrPortFrom(addr(peer, s.v6), peerPorts[0])
			dev = netip.AddrPortFrom(addr(e.device, s.v6), s.port)
			spec = fmt.Sprintf("in udp %s > %s size %d count %d", remote, dev, s.size, s.count)
		case "reply":
			spec = fmt.Sprintf("in udp %s > %s size %d count %d", remote, dev, s.size, s.count)
		}
		parsed, err := trace.Parse(spec)
		if err != nil {
			return "", fmt.Errorf("step %d: %s: %w", i+1, spec, err)
		}
		rs, err := tr.Run(parsed)
		if err != nil {
			return "", fmt.Errorf("step %d: %s: %w", i+1, spec, err)
		}
		var want []bool
		for _, r := range rs {
			want = append(want, r.Verdict == rules.Accept)
		}
		walk := func() string {
			var b strings.Builder
			trace.WriteRun(&b, rs, trace.Decisive)
			return b.String()
		}
		switch s.kind {
		case "out":
			got, err := out[s.v6].send(remote, s.size, s.count)
			if err != nil {
				return "", fmt.Errorf("step %d: %w", i+1, err)
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				return fmt.Sprintf("step %d (%s): kernel let out %v, tracer %v\n%s", i+1, spec, got, want, walk()), nil
			}
		case "spoof":
			err := e.device.SpoofUDP(addr(e.lab.Host(s.forged), s.v6), remote.Addr(), sport, s.port, make([]byte, s.size))
			if got := err == nil; got != want[0] {
				return fmt.Sprintf("step %d (%s): kernel let out %v (%v), tracer %v\n%s", i+1, spec, got, err, want[0], walk()), nil
			}
		case "in", "reply":
			to := out[s.v6]
			if s.kind == "in" {
				to = e.dev[dev]
			}
			from := e.peers[s.peer][remote]
			before := to.received(remote)
			if _, err := from.send(dev, s.size, s.count); err != nil {
				return "", fmt.Errorf("step %d: %w", i+1, err)
			}
			n := 0
			for _, ok := range want {
				if ok {
					n++
				}
			}
			// Wait for what the tracer let in, then a little longer,
			// so that more would show too.
			netlab.Eventually(500*time.Millisecond, func() bool { return to.received(remote)-before >= n })
			time.Sleep(30 * time.Millisecond)
			if got := to.received(remote) - before; got != n {
				return fmt.Sprintf("step %d (%s): %d of %d arrived, tracer let in %d\n%s", i+1, spec, got, s.count, n, walk()), nil
			}
		}
	}
	return "", nil
}

// shrink drops steps, one at a time, while the sequence still fails: the
// steps after the first disagreement, then any step the failure does not
// need. It returns the shortest failing sequence it found and its failure.
func (e *env) shrink(t *testing.T, seq []step, failure string) ([]step, string) {
	if n, ok := failingStep(failure); ok && n < len(seq) {
		seq = seq[:n]
	}
	for i := 0; i < len(seq)-1; i++ {
		try := append(append([]step{}, seq[:i]...), seq[i+1:]...)
		f, err := e.run(t, try)
		if err != nil || f == "" {
			continue
		}
		seq, failure = try, f
		if n, ok := failingStep(f); ok && n < len(seq) {
			seq = seq[:n]
		}
		i--
	}
	return seq, failure
}

func failingStep(failure string) (int, bool) {
	var n int
	_, err := fmt.Sscanf(failure, "step %d", &n)
	return n, err == nil
}
