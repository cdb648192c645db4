package netlab

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// TestFlood runs every flood kind briefly from the device at victim0 and
// checks that the floods are bounded and that packets arrive.
func TestFlood(t *testing.T) {
	t.Parallel()
	l := New(t, WithVictims(1))
	victim := l.Victims[0]
	tcpSink, err := victim.ListenTCP(80)
	if err != nil {
		t.Fatal(err)
	}
	udpSink, err := victim.ListenUDP(9999)
	if err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		kind    FloodKind
		port    uint16
		arrived func() int64
	}{
		{FloodTCPConnect, 80, tcpSink.Conns},
		{FloodHTTP, 80, tcpSink.Bytes},
		{FloodUDP, 9999, udpSink.Packets},
		{FloodRawSYN, 80, nil},
	}
	for _, c := range cases {
		for _, fam := range Families {
			t.Run(fmt.Sprintf("%s/%s", c.kind, fam), func(t *testing.T) {
				var before int64
				if c.arrived != nil {
					before = c.arrived()
				}
				const max = 300
				res, err := l.Device.Flood(context.Background(), FloodSpec{
					Kind: c.kind, Dst: victim.Addr(fam), Port: c.port,
					Duration: 2 * time.Second, MaxAttempts: max, Concurrency: 4,
				})
				if err != nil {
					t.Fatal(err)
				}
				if res.Attempts == 0 || res.Attempts > max {
					t.Fatalf("attempts = %d, want 1..%d (%+v)", res.Attempts, max, res)
				}
				if res.Succeeded == 0 || res.Failed != res.Attempts-res.Succeeded {
					t.Fatalf("result %+v (first error %v)", res, res.FirstErr)
				}
				if c.arrived != nil {
					if !Eventually(waitTimeout, func() bool { return c.arrived() > before }) {
						t.Fatalf("nothing arrived at the victim: %+v", res)
					}
				}
			})
		}
	}

	// A flood against a black-holed address is bounded by Duration.
	start := time.Now()
	res, err := l.Device.Flood(context.Background(), FloodSpec{
		Kind: FloodTCPConnect, Dst: Unassigned4, Port: 80, Duration: 300 * time.Millisecond,
		ConnectTimeout: 100 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Succeeded != 0 || res.Attempts == 0 {
		t.Errorf("black-hole flood result %+v", res)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("flood not bounded by Duration: took %v", el)
	}
}
