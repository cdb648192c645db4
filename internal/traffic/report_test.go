package traffic

import (
	"context"
	"fmt"
	"math"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/devfence/devfence/internal/netlab"
)

// Reports: measurements for docs/THREAT.md, not pass/fail checks of the
// regular suite. They run only with DEVFENCE_REPORT=1 (and as root):
//
//	DEVFENCE_REPORT=1 DEVFENCE_KERNEL_TESTS=require go test -count=1 -run TestMiraiReport -v ./internal/traffic/
const envReport = "DEVFENCE_REPORT"

func requireReport(t *testing.T) {
	t.Helper()
	if os.Getenv(envReport) != "1" {
		t.Skipf("a report, not a regular test: set %s=1 to run it", envReport)
	}
}

// miraiProfile: the only ways out are three to-any rules with quotas (the
// ports a real device would need: web, TLS, NTP).
const miraiProfile = `version: 1
device: {name: traffic-mirai}
egress:
  quota: 64KiB/1h
  allow:
    - {name: web, to: any, proto: tcp, port: 80, quota: 64KiB/1h}
    - {name: tls, to: any, proto: tcp, port: 443, quota: 64KiB/1h}
    - {name: time, to: any, proto: udp, port: 123, quota: 16KiB/1h}
`

// miraiVector is one attack vector against one victim.
type miraiVector struct {
	name string // counter name at the victim
	kind netlab.FloodKind
	port uint16
}

// Victim 0 is attacked on ports no rule allows; victim 1 on the ports of
// the to-any rules, where only the quotas stand between it and the flood.
var miraiVectors = [2][]miraiVector{
	{{"syn", netlab.FloodRawSYN, 22}, {"udp", netlab.FloodUDP, 9999}, {"http", netlab.FloodHTTP, 8080}},
	{{"syn", netlab.FloodRawSYN, 443}, {"udp", netlab.FloodUDP, 123}, {"http", netlab.FloodHTTP, 80}},
}

const miraiDuration = 10 * time.Second

// TestMiraiReport: the device, as if infected, floods two victims for 10 s
// with Mirai's TCP SYN, UDP ("udpplain") and HTTP vectors, all at once,
// first without devfence (no table) and then with the profile applied. A
// counter in each victim's namespace, hooked before anything else there,
// counts the IP bytes arriving from the device per vector.
func TestMiraiReport(t *testing.T) {
	requireReport(t)
	lab := netlab.New(t, netlab.WithVictims(2))
	dev := lab.Device
	for i, v := range lab.Victims {
		var rules strings.Builder
		for _, vec := range miraiVectors[i] {
			proto := "tcp"
			if vec.kind == netlab.FloodUDP {
				proto = "udp"
				mustListenUDP(t, v, vec.port)
			} else {
				mustListenTCP(t, v, vec.port)
			}
			fmt.Fprintf(&rules, "\t\tip saddr %s %s dport %d counter name \"n_%s\"\n", dev.V4, proto, vec.port, vec.name)
		}
		if err := v.NFT(fmt.Sprintf("table inet count {\n\tcounter n_syn {}\n\tcounter n_udp {}\n\tcounter n_http {}\n"+
			"\tchain input {\n\t\ttype filter hook input priority -400; policy accept;\n%s\t}\n}\n", rules.String())); err != nil {
			t.Fatal(err)
		}
	}

	type result struct {
		bytes, packets [2][3]uint64
		sent           [2][3]netlab.FloodResult
	}
	run := func(label string) result {
		for _, v := range lab.Victims {
			if out, err := v.Exec("nft", "reset", "counters", "table", "inet", "count"); err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
		}
		var r result
		var wg sync.WaitGroup
		for i, v := range lab.Victims {
			for j, vec := range miraiVectors[i] {
				wg.Add(1)
				go func() {
					defer wg.Done()
					res, err := dev.Flood(context.Background(), netlab.FloodSpec{Kind: vec.kind, Dst: v.V4, Port: vec.port,
						Duration: miraiDuration, MaxAttempts: math.MaxInt32, Concurrency: 16, PayloadSize: 512})
					if err != nil {
						t.Error(err)
					}
					r.sent[i][j] = res
				}()
			}
		}
		wg.Wait()
		time.Sleep(500 * time.Millisecond) // let the last packets land
		for i, v := range lab.Victims {
			for j, vec := range miraiVectors[i] {
				c, err := v.NFTCounter("inet", "count", "n_"+vec.name)
				if err != nil {
					t.Fatal(err)
				}
				r.bytes[i][j], r.packets[i][j] = c.Bytes, c.Packets
			}
		}
		t.Logf("%s: done", label)
		return r
	}

	without := run("without devfence")
	applyProfile(t, lab, miraiProfile)
	with := run("with devfence")

	var b strings.Builder
	fmt.Fprintf(&b, "Mirai-style flood from the device, %v per run, IPv4, SYN+UDP+HTTP at once against both victims\n", miraiDuration)
	fmt.Fprintf(&b, "%-40s %-10s %16s %16s %13s\n", "victim", "vector", "without (bytes)", "with (bytes)", "with/without")
	names := [2]string{"victim0 (ports outside the allow list)", "victim1 (to-any rules with quotas)"}
	for i := range lab.Victims {
		var tw, tn uint64
		for j, vec := range miraiVectors[i] {
			w, n := without.bytes[i][j], with.bytes[i][j]
			tw, tn = tw+w, tn+n
			fmt.Fprintf(&b, "%-40s %-10s %16d %16d %13s\n", names[i], fmt.Sprintf("%s/%d", vec.name, vec.port), w, n, ratio(n, w))
		}
		fmt.Fprintf(&b, "%-40s %-10s %16d %16d %13s\n", names[i], "total", tw, tn, ratio(tn, tw))
	}
	fmt.Fprintf(&b, "flood attempts (without / with):")
	for i := range lab.Victims {
		for j, vec := range miraiVectors[i] {
			fmt.Fprintf(&b, " victim%d %s %d/%d;", i, vec.name, without.sent[i][j].Attempts, with.sent[i][j].Attempts)
		}
	}
	t.Log("\n" + b.String())

	// The report's own sanity: the flood reached the victims without devfence.
	for i := range lab.Victims {
		for j, vec := range miraiVectors[i] {
			if without.bytes[i][j] == 0 {
				t.Errorf("victim%d %s: nothing arrived even without devfence; the measurement is void", i, vec.name)
			}
		}
	}
}

func ratio(n, d uint64) string {
	if d == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2g", float64(n)/float64(d))
}
