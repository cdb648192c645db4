package differential

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/devfence/devfence/internal/golden" // -update
	"github.com/devfence/devfence/internal/netlab"
	"github.com/devfence/devfence/internal/pipeline"
	"github.com/devfence/devfence/rules"
	"github.com/devfence/devfence/rules/trace"
)

// labProfile is the camera's (examples/baby-monitor.yaml) shape on the
// lab's address plan, with windows of seconds so that a sequence sees them
// end, and a peer table small enough to fill.
const labProfile = `version: 1
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

// wait is the only pause a sequence takes. The steps between two waits
// take well under a second, so nothing a set holds expires between them
// (the lab profile's windows and consent.idle are 2 s); after a wait,
// everything from before it is more than 1.5 s past its window. The kernel
// counts an expired element against the set's size until its garbage
// collection (once a second) removes it, while the tracer drops it at
// once: a shorter wait made a full @total drop a family's traffic in the
// kernel for up to a second after the window (found by this test, seed 7).
// Collection can lag more on a loaded machine; settle (gc_test.go) waits
// for it after every wait.
const wait = 3500 * time.Millisecond

// peerHosts are the lab hosts that exchange traffic with the device.
var peerHosts = []string{"viewer", "lan2", "cloud", "attacker", "victim0", "victim1", "victim2", "victim3"}

// peer is one address pair a lab host sends from: its own, or one that
// an example profile names, added to it.
type peer struct {
	host *netlab.Host
	v4   netip.Addr
	v6   netip.Addr
}

func (p peer) addr(v6 bool) netip.Addr {
	if v6 {
		return p.v6
	}
	return p.v4
}

func (p peer) String() string {
	a := p.v4
	if !a.IsValid() {
		a = p.v6
	}
	if a == p.host.V4 || a == p.host.V6 {
		return p.host.Name
	}
	return p.host.Name + "@" + a.String()
}

// step is one generated action.
type step struct {
	kind   string // out, in, reply, spoof, wait
	peer   int    // index in env.peers
	v6     bool
	port   uint16 // peer port (out, reply, spoof); device port (in)
	from   uint16 // peer port of an in
	size   int
	count  int
	forged int // spoof: the peer whose address the device forges
}

type env struct {
	lab         *netlab.Lab
	device      *netlab.Host
	table       *rules.Table
	peers       []peer
	peerPorts   []uint16
	devicePorts []uint16
	sockets     map[netip.AddrPort]*socket // bound in the peers and the device
	nextSeq     int
	verdicts    int // datagrams whose fate the kernel and the tracer agreed on
	unjudged    int // sequences that ran too slowly to judge (errTiming)
	gcLags      int // waits after which the kernel had not yet collected (settle)
}

// TestTracerMatchesKernel generates random UDP sequences against the lab
// profile and requires the kernel and the tracer to agree on every
// datagram the device sends (accepted, or EPERM from the output hook) and
// on how many of those sent to it arrive. DEVFENCE_DIFF_SEQUENCES (default
// 4, about 20 s) and DEVFENCE_DIFF_SEED choose how many and which; a
// failure reports the shortest failing sequence found by dropping steps.
// DEVFENCE_DIFF_LABS (default 1) spreads the sequences over that many labs
// at once, lab i with seed+i (the sequences mostly wait on the profile's
// windows, so labs overlap well); DEVFENCE_DIFF_MIN_VERDICTS fails the
// run if the labs compared fewer datagrams than that in all (CI's proof
// of how many cases the test covered).
func TestTracerMatchesKernel(t *testing.T) {
	netlab.RequireTool(t, "nft")
	path := writeLabProfile(t)
	sequences, labs := envInt(t, "DEVFENCE_DIFF_SEQUENCES", 4), max(envInt(t, "DEVFENCE_DIFF_LABS", 1), 1)
	seed := envInt(t, "DEVFENCE_DIFF_SEED", 1)
	var mu sync.Mutex
	verdicts, unjudged, gcLags := 0, 0, 0
	t.Run("labs", func(t *testing.T) {
		for i := range labs {
			n := sequences / labs
			if i < sequences%labs {
				n++
			}
			t.Run(fmt.Sprintf("seed-%d", seed+i), func(t *testing.T) {
				t.Parallel()
				e := newEnv(t, netlab.New(t, netlab.WithVictims(4)), path, false)
				e.check(t, n, 16, uint64(seed+i))
				mu.Lock()
				verdicts += e.verdicts
				unjudged += e.unjudged
				gcLags += e.gcLags
				mu.Unlock()
			})
		}
	})
	t.Logf("%d sequences over %d labs (%d not judged: too slow, see errTiming; %d waits outlasted by the kernel's garbage collection, see settle): the kernel and the tracer agreed on %d datagrams",
		sequences, labs, unjudged, gcLags, verdicts)
	if min := envInt(t, "DEVFENCE_DIFF_MIN_VERDICTS", 0); verdicts < min {
		t.Errorf("%d datagrams compared, fewer than DEVFENCE_DIFF_MIN_VERDICTS=%d: raise DEVFENCE_DIFF_SEQUENCES", verdicts, min)
	}
}

// TestExamplesMatchKernel does the same for every example profile, as it
// is: each example's addresses are added to the lab's hosts (one address
// per element of its sets), so that the device meets its own networks.
// The examples' windows are long, so these sequences check the verdicts
// of its rules, not their renewal. DEVFENCE_DIFF_EXAMPLE_SEQUENCES
// (default 1 per example, about 2 s each) chooses how many.
func TestExamplesMatchKernel(t *testing.T) {
	profiles, err := filepath.Glob("../../examples/*.yaml")
	if err != nil || len(profiles) < 5 {
		t.Fatalf("example profiles: %v, %v", profiles, err)
	}
	n := envInt(t, "DEVFENCE_DIFF_EXAMPLE_SEQUENCES", 1)
	for _, path := range profiles {
		t.Run(filepath.Base(path), func(t *testing.T) {
			lab := netlab.New(t, netlab.WithVictims(4))
			netlab.RequireTool(t, "nft")
			newEnv(t, lab, path, true).check(t, n, 16, uint64(envInt(t, "DEVFENCE_DIFF_SEED", 1)))
		})
	}
}

// writeLabProfile writes labProfile to a file for pipeline.Build.
func writeLabProfile(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "diff-camera.yaml")
	if err := os.WriteFile(path, []byte(labProfile), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func newEnv(t *testing.T, lab *netlab.Lab, path string, examples bool) *env {
	t.Helper()
	res, err := pipeline.Build(context.Background(), path, pipeline.Options{})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{lab: lab, device: lab.Host(netlab.DeviceName), table: res.Table, sockets: map[netip.AddrPort]*socket{}}
	for _, name := range peerHosts {
		h := lab.Host(name)
		e.peers = append(e.peers, peer{host: h, v4: h.V4, v6: h.V6})
	}
	if examples {
		e.addProfileAddrs(t)
	}
	e.peerPorts, e.devicePorts = udpPorts(res.Table)
	for _, p := range e.peers {
		for _, a := range []netip.Addr{p.v4, p.v6} {
			if !a.IsValid() {
				continue
			}
			for _, port := range e.peerPorts {
				ap := netip.AddrPortFrom(a, port)
				if e.sockets[ap] == nil {
					e.sockets[ap] = bind(t, p.host, ap)
				}
			}
		}
	}
	for _, a := range e.device.Addrs() {
		for _, port := range e.devicePorts {
			ap := netip.AddrPortFrom(a, port)
			e.sockets[ap] = bind(t, e.device, ap)
		}
	}
	return e
}

// addProfileAddrs gives the lab's hosts an address in every element of
// the table's sets, round robin, and the device an on-link route to each.
func (e *env) addProfileAddrs(t *testing.T) {
	t.Helper()
	taken := map[netip.Addr]bool{}
	for _, h := range e.lab.Hosts() {
		for _, a := range h.Addrs() {
			taken[a] = true
		}
	}
	next := 0
	for _, s := range e.table.Sets {
		for _, el := range s.Elements {
			a := el.From
			if el.From != el.To {
				a = a.Next() // not the network's address
			}
			// A link-local address needs a zone to bind: the router's
			// fe80::1 stays out; so do multicast groups (an IGMP rule's
			// 224.0.0.22), which no host can hold as its address.
			if !a.IsValid() || taken[a] || a.IsLinkLocalUnicast() || a.IsMulticast() {
				continue
			}
			taken[a] = true
			h := e.lab.Host(peerHosts[next%4]) // viewer, lan2, cloud, attacker
			next++
			bits, ip := "/32", "-4"
			if a.Is6() {
				bits, ip = "/128", "-6"
			}
			args := []string{ip, "addr", "add", a.String() + bits, "dev", netlab.HostIfName}
			if a.Is6() {
				args = append(args, "nodad")
			}
			if out, err := h.Exec("ip", args...); err != nil {
				t.Fatalf("%s: ip %v: %v: %s", h.Name, args, err, out)
			}
			if out, err := e.device.Exec("ip", ip, "route", "add", a.String()+bits, "dev", netlab.HostIfName); err != nil {
				t.Fatalf("device: route to %s: %v: %s", a, err, out)
			}
			p := peer{host: h}
			if a.Is6() {
				p.v6 = a
			} else {
				p.v4 = a
			}
			e.peers = append(e.peers, p)
		}
	}
}

// udpPorts are the UDP ports the table's rules name, for the peers (the
// output chain's destination and input chain's source ports) and the
// device (the input chain's destination ports), each with one port no
// rule names.
func udpPorts(t *rules.Table) (peerPorts, devicePorts []uint16) {
	add := func(list []uint16, ports ...uint16) []uint16 {
		for _, p := range ports {
			if !slices.Contains(list, p) {
				list = append(list, p)
			}
		}
		return list
	}
	for _, c := range t.Chains {
		for _, r := range c.Rules {
			for _, s := range r.Stmts {
				pm, ok := s.(rules.PortMatch)
				if !ok || pm.Proto != "udp" {
					continue
				}
				switch {
				case c.Hook == rules.HookOutput && pm.Field == rules.Dst, c.Hook == rules.HookInput && pm.Field == rules.Src:
					peerPorts = add(peerPorts, pm.Lo, pm.Hi)
				case c.Hook == rules.HookInput && pm.Field == rules.Dst:
					devicePorts = add(devicePorts, pm.Lo, pm.Hi)
				}
			}
		}
	}
	return add(peerPorts, 7777), add(devicePorts, 7002)
}

func (e *env) check(t *testing.T, sequences, steps int, seed uint64) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 0))
	t.Logf("%d sequences, seed %d; peers %v; peer ports %v; device ports %v", sequences, seed, e.peers, e.peerPorts, e.devicePorts)
	for i := range sequences {
		seq := e.generate(rng, steps)
		t.Logf("sequence %d:\n%s", i+1, e.describe(seq))
		failure, compared, err := e.run(t, seq)
		if errors.Is(err, errTiming) {
			t.Logf("sequence %d not judged: %v", i+1, err)
			e.unjudged++
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if failure == "" {
			e.verdicts += compared
			continue
		}
		short, why := e.shrink(t, seq, failure)
		t.Fatalf("sequence %d (seed %d): the tracer and the kernel disagree; shortest failing sequence found:\n%s\n%s", i+1, seed, e.describe(short), why)
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

// pick chooses a peer and one of its families.
func (e *env) pick(rng *rand.Rand) (int, bool) {
	i := rng.IntN(len(e.peers))
	p := e.peers[i]
	v6 := rng.IntN(2) == 1
	if !p.addr(v6).IsValid() {
		v6 = !v6
	}
	return i, v6
}

func (e *env) generate(rng *rand.Rand, n int) []step {
	var seq []step
	var outs []step // what a reply can answer
	for range n {
		var s step
		s.peer, s.v6 = e.pick(rng)
		switch r := rng.IntN(20); {
		case r < 10:
			// ntp (allowed to anyone where a profile has it) half the
			// time, so that sequences fill the peer table and spend
			// quotas.
			s.kind, s.port = "out", e.peerPorts[rng.IntN(len(e.peerPorts))]
			if rng.IntN(2) == 0 && slices.Contains(e.peerPorts, 123) {
				s.port = 123
			}
			s.size, s.count = []int{100, 1000, 1400}[rng.IntN(3)], 1+rng.IntN(12)
			outs = append(outs, s)
		case r < 14:
			s.kind, s.port = "in", e.devicePorts[rng.IntN(len(e.devicePorts))]
			s.from = e.peerPorts[rng.IntN(len(e.peerPorts))]
			s.size, s.count = 100, 1+rng.IntN(4)
		case r < 17 && len(outs) > 0:
			o := outs[rng.IntN(len(outs))]
			s = step{kind: "reply", peer: o.peer, v6: o.v6, port: o.port, size: 200, count: 1 + rng.IntN(3)}
		case r < 18:
			s.kind, s.port, s.size, s.count = "spoof", e.peerPorts[0], 100, 1
			s.forged = rng.IntN(len(e.peers))
			if !e.peers[s.forged].addr(s.v6).IsValid() {
				s.kind = "wait"
			}
		default:
			s = step{kind: "wait"}
		}
		seq = append(seq, s)
	}
	return seq
}

func (e *env) describe(seq []step) string {
	var b strings.Builder
	for i, s := range seq {
		fmt.Fprintf(&b, "  %2d. %s\n", i+1, e.stepString(s))
	}
	return b.String()
}

func (e *env) stepString(s step) string {
	fam := "v4"
	if s.v6 {
		fam = "v6"
	}
	p := e.peers[s.peer]
	switch s.kind {
	case "wait":
		return "wait " + wait.String()
	case "spoof":
		return fmt.Sprintf("device forges %s's %s address to %s:%d", e.peers[s.forged], fam, p, s.port)
	case "in":
		return fmt.Sprintf("%s:%d -> device:%d %s, %d x %d B", p, s.from, s.port, fam, s.count, s.size)
	case "reply":
		return fmt.Sprintf("%s:%d answers the device %s, %d x %d B", p, s.port, fam, s.count, s.size)
	}
	return fmt.Sprintf("device -> %s:%d %s, %d x %d B", p, s.port, fam, s.count, s.size)
}

// run plays seq in the lab and in a fresh tracer: the table is loaded
// anew (empty sets), the device sends from a port of its own, so that no
// sequence meets another's conntrack entries. It returns the first
// disagreement, or "".
// errTiming: a sequence's steps between two waits ran so slowly (a loaded
// machine) that the elements they added could expire among them, where
// the kernel's garbage-collection lag (see wait) makes its verdicts
// differ from the tracer's for reasons the test does not judge. Such a
// sequence counts for nothing, neither way.
var errTiming = errors.New("steps between waits took too long to judge")

// stepBudget is how long after a wait the steps before the next one may
// run: nothing they add can expire within the profile's 2 s windows.
const stepBudget = 1500 * time.Millisecond

// run plays seq through the kernel and the tracer. It returns the first
// disagreement ("" when none) and how many datagrams were compared.
func (e *env) run(t *testing.T, seq []step) (string, int, error) {
	e.nextSeq++
	compared := 0
	if err := e.device.NFT(rules.Replace(e.table).String()); err != nil {
		return "", 0, fmt.Errorf("load the table: %w", err)
	}
	sport := uint16(20000 + e.nextSeq)
	out := map[bool]*socket{}
	for _, v6 := range []bool{false, true} {
		out[v6] = bind(t, e.device, netip.AddrPortFrom(addrOf(e.device, v6), sport))
	}
	tr := trace.New(e.table, e.device.Addrs())
	start := time.Now()
	mark := start // the end of the last wait
	for i, s := range seq {
		if s.kind == "wait" {
			time.Sleep(wait)
			tr.Advance(time.Since(start) - tr.Now())
			if err := e.settle(tr, len(seq)); err != nil {
				return "", 0, fmt.Errorf("step %d: %w", i+1, err)
			}
			mark = time.Now()
			continue
		}
		if late := time.Since(mark); late > stepBudget {
			return "", 0, fmt.Errorf("step %d began %v after the last wait: %w", i+1, late.Round(time.Millisecond), errTiming)
		}
		tr.Advance(time.Since(start) - tr.Now())
		p := e.peers[s.peer]
		dev := netip.AddrPortFrom(addrOf(e.device, s.v6), sport)
		remote := netip.AddrPortFrom(p.addr(s.v6), s.port)
		var spec string
		switch s.kind {
		case "out":
			spec = fmt.Sprintf("out udp %s > %s size %d count %d", dev, remote, s.size, s.count)
		case "spoof":
			src := netip.AddrPortFrom(e.peers[s.forged].addr(s.v6), sport)
			spec = fmt.Sprintf("out udp %s > %s size %d", src, remote, s.size)
		case "in":
			remote = netip.AddrPortFrom(p.addr(s.v6), s.from)
			dev = netip.AddrPortFrom(addrOf(e.device, s.v6), s.port)
			spec = fmt.Sprintf("in udp %s > %s size %d count %d", remote, dev, s.size, s.count)
		case "reply":
			spec = fmt.Sprintf("in udp %s > %s size %d count %d", remote, dev, s.size, s.count)
		}
		parsed, err := trace.Parse(spec)
		if err != nil {
			return "", 0, fmt.Errorf("step %d: %s: %w", i+1, spec, err)
		}
		rs, err := tr.Run(parsed)
		if err != nil {
			return "", 0, fmt.Errorf("step %d: %s: %w", i+1, spec, err)
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
				return "", 0, fmt.Errorf("step %d: %w", i+1, err)
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				return judged(mark, fmt.Sprintf("step %d (%s): kernel let out %v, tracer %v\n%s", i+1, spec, got, want, walk()))
			}
			compared += len(want)
		case "spoof":
			err := e.device.SpoofUDP(e.peers[s.forged].addr(s.v6), remote.Addr(), sport, s.port, make([]byte, s.size))
			if got := err == nil; got != want[0] {
				return judged(mark, fmt.Sprintf("step %d (%s): kernel let out %v (%v), tracer %v\n%s", i+1, spec, got, err, want[0], walk()))
			}
			compared++
		case "in", "reply":
			to := out[s.v6]
			if s.kind == "in" {
				to = e.sockets[dev]
			}
			before := to.received(remote)
			if _, err := e.sockets[remote].send(dev, s.size, s.count); err != nil {
				return "", 0, fmt.Errorf("step %d: %w", i+1, err)
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
				return judged(mark, fmt.Sprintf("step %d (%s): %d of %d arrived, tracer let in %d\n%s", i+1, spec, got, s.count, n, walk()))
			}
			compared += s.count
		}
	}
	if late := time.Since(mark); late > lateEnd {
		return "", 0, fmt.Errorf("the last step ended %v after the last wait: %w", late.Round(time.Millisecond), errTiming)
	}
	return "", compared, nil
}

// lateEnd: a step that ended this long after the last wait may have met
// an element that expired among the steps (the windows are 2 s).
const lateEnd = 1750 * time.Millisecond

// judged is a disagreement found mark-relative late enough that expiry
// among the steps could explain it: errTiming, not a failure.
func judged(mark time.Time, failure string) (string, int, error) {
	if late := time.Since(mark); late > lateEnd {
		return "", 0, fmt.Errorf("a disagreement %v after the last wait (%s): %w", late.Round(time.Millisecond), failure, errTiming)
	}
	return failure, 0, nil
}

func addrOf(h *netlab.Host, v6 bool) netip.Addr {
	if v6 {
		return h.V6
	}
	return h.V4
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
		if !e.valid(try) {
			continue
		}
		f, _, err := e.run(t, try)
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

// valid: every step can be played (a spoof needs an address of its
// family; replies always can, their flow simply may not exist).
func (e *env) valid(seq []step) bool {
	for _, s := range seq {
		if s.kind == "spoof" && !e.peers[s.forged].addr(s.v6).IsValid() {
			return false
		}
	}
	return true
}

func failingStep(failure string) (int, bool) {
	var n int
	_, err := fmt.Sscanf(failure, "step %d", &n)
	return n, err == nil
}
