package netlab

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// TestDeviceFirewall proves traffic really traverses the device's kernel: a
// ruleset loaded with nft inside the device namespace decides per port
// whether connections succeed, are silently dropped or are refused.
func TestDeviceFirewall(t *testing.T) {
	t.Parallel()
	RequireTool(t, "nft")
	l := New(t, WithVictims(0))

	const open, dropped, rejected = 9000, 9001, 9002
	sinks := map[uint16]*TCPSink{}
	for _, p := range []uint16{open, dropped, rejected} {
		s, err := l.Device.ListenTCP(p)
		if err != nil {
			t.Fatal(err)
		}
		sinks[p] = s
	}

	probe := func(from *Host, fam Family, port uint16, timeout time.Duration) error {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		return from.ProbeTCP(ctx, l.Device.Addr(fam), port)
	}

	// Without a ruleset every port accepts.
	for _, fam := range Families {
		for p := range sinks {
			if err := probe(l.Viewer, fam, p, waitTimeout); err != nil {
				t.Fatalf("before ruleset, %s port %d: %v", fam, p, err)
			}
		}
	}

	if err := l.Device.NFT(fmt.Sprintf(`
table inet netlabtest {
	counter dropped_syn {}
	chain input {
		type filter hook input priority 0; policy accept;
		tcp dport %d counter name "dropped_syn" drop
		tcp dport %d reject with tcp reset
	}
}`, dropped, rejected)); err != nil {
		t.Fatal(err)
	}
	droppedBefore := sinks[dropped].Conns()

	cases := []struct {
		port  uint16
		check func(error) bool
		want  string
	}{
		{open, func(err error) bool { return err == nil }, "connected"},
		{dropped, IsTimeout, "timeout (silently dropped)"},
		{rejected, IsRefused, "connection refused (RST)"},
	}
	for _, from := range []*Host{l.Viewer, l.Cloud, l.Attacker} {
		for _, fam := range Families {
			for _, c := range cases {
				t.Run(fmt.Sprintf("%s/%s/%d", from.Name, fam, c.port), func(t *testing.T) {
					err := probe(from, fam, c.port, 300*time.Millisecond)
					if !c.check(err) {
						t.Fatalf("got %v, want %s", err, c.want)
					}
				})
			}
		}
	}
	if got := sinks[dropped].Conns(); got != droppedBefore {
		t.Errorf("dropped port accepted %d new connections", got-droppedBefore)
	}
	ctr, err := l.Device.NFTCounter("inet", "netlabtest", "dropped_syn")
	if err != nil {
		t.Fatal(err)
	}
	if ctr.Packets < 6 { // at least one SYN per (client, family)
		t.Errorf("dropped_syn counter = %+v, want >= 6 packets", ctr)
	}
}
