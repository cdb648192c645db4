// Package bench holds devfence's whole-system benchmarks; the figures and
// the commands that reproduce them are in docs/BENCHMARKS.md.
package bench

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/devfence/devfence/compiler"
	_ "github.com/devfence/devfence/internal/golden"
	"github.com/devfence/devfence/internal/netlab"
	"github.com/devfence/devfence/rules"
)

// datapathProfile allows TCP to the lab's cloud (203.0.113.10) through a
// network of n addresses: n-1 from the benchmarking range 198.18.0.0/15
// (RFC 2544; never a traffic target) and the cloud last. No quota, so the
// measurement is the table's lookup cost, not a budget.
func datapathProfile(n int) string {
	var b strings.Builder
	b.WriteString("version: 1\ndevice: {name: bench}\nnetworks:\n  cloud: [")
	for i := range n - 1 {
		fmt.Fprintf(&b, "198.18.%d.%d, ", i>>8&255, i&255)
	}
	b.WriteString("203.0.113.10]\negress:\n  allow:\n    - {name: iperf, to: [cloud], proto: tcp, port: 5201}\n")
	return b.String()
}

// linear rewrites a compiled table the way rule-per-entry generators write
// allow lists: one rule per address, the cloud's last, instead of one set
// lookup.
func linear(t *rules.Table) *rules.Table {
	out := t.Chain("output")
	set := t.Set("allow_iperf_v4")
	var rs []*rules.Rule
	for _, r := range out.Rules {
		if r.Comment != "egress.allow iperf" || r.Stmts[0].String() != "meta nfproto ipv4" {
			rs = append(rs, r)
			continue
		}
		for _, e := range set.Elements {
			for a := e.From; ; a = a.Next() {
				stmts := slices.Clone(r.Stmts)
				for i, s := range stmts {
					if m, ok := s.(rules.AddrMatch); ok && m.Set == set.Name {
						stmts[i] = rules.AddrMatch{Family: rules.IPv4, Field: rules.Dst, Prefix: netip.PrefixFrom(a, 32)}
					}
				}
				rs = append(rs, &rules.Rule{Stmts: stmts, Comment: r.Comment})
				if a == e.To {
					break
				}
			}
		}
	}
	out.Rules = rs
	t.Sets = slices.DeleteFunc(t.Sets, func(s *rules.Set) bool { return s == set })
	return t
}

func compileProfile(tb testing.TB, yaml string) *rules.Table {
	tb.Helper()
	p, err := compiler.Parse("bench.yaml", []byte(yaml))
	if err != nil {
		tb.Fatal(err)
	}
	t, err := compiler.Compile(p, compiler.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	return t
}

// BenchmarkDatapath measures TCP throughput from the device to the cloud
// through the devfence table with 1 and 10,000 allowed networks, and through
// a linear rule-per-network chain of 10,000, alternating the three five
// times in one lab and reporting the medians and their ratios:
//
//	go test ./internal/bench -run '^$' -bench Datapath -benchtime 1x -v
func BenchmarkDatapath(b *testing.B) {
	iperf := netlab.RequireTool(b, "iperf3")
	nft := netlab.RequireTool(b, "nft")
	lab := netlab.New(b, netlab.WithVictims(0))
	server, err := lab.Cloud.StartProcess(iperf, "-s", "-B", lab.Cloud.V4.String())
	if err != nil {
		b.Fatal(err)
	}
	defer server.Stop()

	configs := []struct {
		name  string
		table *rules.Table
	}{
		{"set-1", compileProfile(b, datapathProfile(1))},
		{"set-10000", compileProfile(b, datapathProfile(10000))},
		{"linear-10000", linear(compileProfile(b, datapathProfile(10000)))},
	}
	results := map[string][]float64{}
	for b.Loop() {
		for round := range 5 {
			for _, c := range configs {
				if out, err := lab.Device.ExecInput(rules.Replace(c.table).String(), nft, "-f", "-"); err != nil {
					b.Fatalf("%s: load: %v\n%s", c.name, err, out)
				}
				bps, err := iperfOnce(lab, iperf)
				if err != nil {
					b.Fatalf("%s round %d: %v", c.name, round, err)
				}
				results[c.name] = append(results[c.name], bps)
			}
		}
	}
	med := map[string]float64{}
	for name, v := range results {
		slices.Sort(v)
		med[name] = v[len(v)/2]
		b.ReportMetric(med[name]/1e9, name+"-Gbit/s")
	}
	b.ReportMetric(med["set-10000"]/med["set-1"], "set10000/set1")
	b.ReportMetric(med["linear-10000"]/med["set-1"], "linear10000/set1")
}

// iperfOnce runs a 2-second iperf3 TCP test from the device to the cloud.
func iperfOnce(lab *netlab.Lab, iperf string) (float64, error) {
	var out string
	err := netlab.Poll(10*time.Second, 200*time.Millisecond, func() (bool, error) {
		var err error
		out, err = lab.Device.Exec(iperf, "-c", lab.Cloud.V4.String(), "-t", "2", "-J")
		return err == nil, nil // the server may still be starting
	})
	if err != nil {
		return 0, fmt.Errorf("iperf3: %w\n%s", err, out)
	}
	var r struct {
		End struct {
			SumReceived struct {
				BitsPerSecond float64 `json:"bits_per_second"`
			} `json:"sum_received"`
		} `json:"end"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		return 0, err
	}
	if r.End.SumReceived.BitsPerSecond == 0 {
		return 0, fmt.Errorf("iperf3 moved nothing: %s", out)
	}
	return r.End.SumReceived.BitsPerSecond, nil
}
