package traffic

import (
	"context"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/devfence/devfence/internal/netlab"
)

// Two profiles that differ (so every apply is a real replacement): both
// serve the viewer on tcp/8443, only A also serves udp/7353.
const (
	swapProfileA = `version: 1
device: {name: traffic-swap}
networks:
  viewer: ["{{.Viewer.V4}}", "{{.Viewer.V6}}"]
inbound:
  services:
    - {name: app, proto: tcp, port: 8443, from: [viewer]}
    - {name: discovery, proto: udp, port: 7353, from: [viewer]}
egress:
  quota: 64KiB/1h
`
	swapProfileB = `version: 1
device: {name: traffic-swap}
networks:
  viewer: ["{{.Viewer.V4}}", "{{.Viewer.V6}}"]
inbound:
  services:
    - {name: app, proto: tcp, port: 8443, from: [viewer]}
egress:
  quota: 32KiB/1h
`
)

// swaps is how many times the ruleset is replaced under the flood.
const swaps = 50

// TestSwapUnderFlood: while the ruleset is swapped between two profiles
// over and over, an attacker floods the device with unsolicited TCP
// connections and UDP datagrams (IPv4 and IPv6, to closed-off listeners
// and to the service port it is not allowed on); not one connection or
// datagram gets in, because every apply replaces the table in one
// transaction and the kernel never runs without it. Positive controls:
// before devfence the same flood does get in; during the swaps the viewer
// keeps connecting to its service; and the swaps really switch rulesets
// (the UDP service answers under A, not under B).
func TestSwapUnderFlood(t *testing.T) {
	t.Parallel()
	lab := netlab.New(t, netlab.WithVictims(0))
	dev, atk, viewer := lab.Device, lab.Attacker, lab.Viewer
	tcp := mustListenTCP(t, dev, 7000)
	udp := mustListenUDP(t, dev, 7001)
	svc := mustListenTCP(t, dev, 8443)
	disc := mustListenUDP(t, dev, 7353, netlab.WithEcho())

	// Without devfence the attacker gets in.
	for _, fam := range netlab.Families {
		mustConnect(t, atk, dev.Addr(fam), 7000).Close()
		if _, err := atk.SendUDP(dev.Addr(fam), 7001, []byte("x"), 1); err != nil {
			t.Fatal(err)
		}
	}
	if err := udp.WaitPackets(2, arrive); err != nil {
		t.Fatalf("positive control: the attacker's datagrams did not arrive before devfence: %v", err)
	}
	if err := tcp.WaitConns(2, arrive); err != nil {
		t.Fatalf("positive control: %v", err)
	}
	applyProfile(t, lab, swapProfileA)
	base := map[netip.Addr][3]int64{}
	for _, a := range atk.Addrs() {
		base[a] = [3]int64{tcp.ConnsFrom(a), udp.PacketsFrom(a), svc.ConnsFrom(a)}
	}

	// The flood: paced UDP (~10k datagrams/s per family) and TCP connects.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	var udpSent atomic.Int64
	floods := make([]netlab.FloodResult, 0, 4)
	var floodMu sync.Mutex
	for _, fam := range netlab.Families {
		dst := dev.Addr(fam)
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := atk.DialUDP(ctx, dst, 7001)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			for i := 0; ctx.Err() == nil; i++ {
				if _, err := c.Write([]byte("flood")); err == nil {
					udpSent.Add(1)
				}
				if i%4 == 3 {
					time.Sleep(200 * time.Microsecond)
				}
			}
		}()
		for _, port := range []uint16{7000, 8443} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res, err := atk.Flood(ctx, netlab.FloodSpec{Kind: netlab.FloodTCPConnect, Dst: dst, Port: port,
					Duration: time.Minute, MaxAttempts: 1 << 30, Concurrency: 4, ConnectTimeout: 50 * time.Millisecond})
				if err != nil {
					t.Error(err)
				}
				floodMu.Lock()
				floods = append(floods, res)
				floodMu.Unlock()
			}()
		}
	}

	start := time.Now()
	for i := range swaps {
		profile := swapProfileB
		if i%2 == 1 {
			profile = swapProfileA
		}
		applyProfile(t, lab, profile)
		fam := netlab.Families[i%2]
		mustConnect(t, viewer, dev.Addr(fam), 8443).Close()
		if i < 2 {
			// The swap is real: B has no UDP service, A has. A ping may be
			// lost in the flood (or be slow under emulation), so A gets
			// pings until one is answered, within arrive; B two, both of
			// which must go unanswered.
			bound := 2 * dropDial
			if profile == swapProfileA {
				bound = arrive
			}
			if got := udpAnswers(viewer, dev.Addr(fam), 7353, bound); got != (profile == swapProfileA) {
				t.Errorf("swap %d: udp service answered=%v under profile %c", i, got, "BA"[i%2])
			}
		}
	}
	elapsed := time.Since(start)
	cancel()
	wg.Wait()

	var attempts int64
	for _, r := range floods {
		attempts += r.Attempts
	}
	t.Logf("%d swaps in %v under a flood of %d datagrams and %d connection attempts",
		swaps, elapsed.Round(time.Millisecond), udpSent.Load(), attempts)
	if udpSent.Load() == 0 || attempts == 0 {
		t.Fatalf("the flood did not run (%d datagrams, %d connection attempts)", udpSent.Load(), attempts)
	}
	if err := svc.WaitConns(swaps, arrive); err != nil {
		t.Errorf("positive control: the viewer's connections during the swaps: %v", err)
	}
	for _, a := range atk.Addrs() {
		got := [3]int64{tcp.ConnsFrom(a), settled(func() int64 { return udp.PacketsFrom(a) }), svc.ConnsFrom(a)}
		for i, what := range []string{"connections to tcp/7000", "datagrams to udp/7001", "connections to the service tcp/8443"} {
			if n := got[i] - base[a][i]; n != 0 {
				t.Errorf("during the swaps the attacker (%s) got %d %s in", a, n, what)
			}
		}
	}
	if disc.Packets() == 0 {
		t.Errorf("positive control: the UDP service never answered under profile A")
	}
}

// udpAnswers reports whether a UDP echo service at dst:port answers one of
// the pings from h sent for bound, one each dropDial.
func udpAnswers(h *netlab.Host, dst netip.Addr, port uint16, bound time.Duration) bool {
	for end := time.Now().Add(bound); time.Now().Before(end); {
		ctx, cancel := context.WithTimeout(context.Background(), dropDial)
		_, err := h.UDPRoundTrip(ctx, dst, port, []byte("ping"))
		cancel()
		if err == nil {
			return true
		}
	}
	return false
}
