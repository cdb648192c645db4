package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/devfence/devfence/internal/bench/fleet"
	"github.com/devfence/devfence/rules/netlink/nltest"
)

// bigProfile writes fleet.BigNetwork of examples/baby-monitor.yaml with n
// addresses; testdata/bench-apply.sh generates the same file.
func bigProfile(tb testing.TB, dir string, n int) string {
	tb.Helper()
	base, err := os.ReadFile(babyMonitor)
	if err != nil {
		tb.Fatal(err)
	}
	p, err := fleet.BigNetwork(string(base), n)
	if err != nil {
		tb.Fatal(err)
	}
	path := filepath.Join(dir, fmt.Sprintf("big-%d.yaml", n))
	if err := os.WriteFile(path, []byte(p), 0o644); err != nil {
		tb.Fatal(err)
	}
	return path
}

// BenchmarkApplyVsNft times, as whole processes in one run, `devfence
// apply` of a profile with 100,000 network entries (load, policies,
// compile, netlink) against `nft -f` of the same profile's compiled text
// (parse, netlink), each into an empty namespace, and reports both and
// their ratio (medians; ns/op is the pair). The no-policy variant leaves
// out the Rego policy evaluation. See docs/BENCHMARKS.md.
//
//	DEVFENCE_KERNEL_TESTS=require go test -run '^$' -bench ApplyVsNft -benchtime 10x ./cmd/devfence/
func BenchmarkApplyVsNft(b *testing.B) {
	nltest.RequireNFT(b)
	dir := b.TempDir()
	bin := filepath.Join(dir, "devfence")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	profile := bigProfile(b, dir, 100000)
	maxSize := "--max-size=16777216" // the profile is ~2 MB; the default refuses 1 MiB+
	text, err := exec.Command(bin, "compile", maxSize, profile).Output()
	if err != nil {
		b.Fatalf("compile: %v", err)
	}
	ruleset := filepath.Join(dir, "big.nft")
	if err := os.WriteFile(ruleset, text, 0o644); err != nil {
		b.Fatal(err)
	}
	nsDevfence, nsNft := nltest.NS(b), nltest.NS(b)
	state := filepath.Join(dir, "state")

	timed := func(ns string, name string, args ...string) time.Duration {
		cmd := exec.Command(name, args...)
		var errb strings.Builder
		cmd.Stderr = &errb
		start := time.Now()
		var err error
		if ns == "" {
			err = cmd.Start() // devfence enters the namespace itself (--netns)
		} else {
			err = nltest.Start(ns, cmd)
		}
		if err != nil {
			b.Fatal(err)
		}
		if err := cmd.Wait(); err != nil {
			b.Fatalf("%s: %v: %s", name, err, errb.String())
		}
		return time.Since(start)
	}
	empty := func(ns string) {
		nltest.Run(ns, "", "nft", "delete", "table", "inet", "devfence") //nolint:errcheck // absent the first time
	}
	for _, variant := range []struct {
		name string
		args []string
	}{{"policies", nil}, {"no-policy", []string{"--no-policy"}}} {
		b.Run(variant.name, func(b *testing.B) {
			args := append([]string{"apply", "--netns", nsDevfence, "--state-dir", state, maxSize}, variant.args...)
			args = append(args, profile)
			var dev, nft []time.Duration
			for range b.N {
				empty(nsDevfence)
				empty(nsNft)
				os.RemoveAll(state)
				dev = append(dev, timed("", bin, args...))
				nft = append(nft, timed(nsNft, "nft", "-f", ruleset))
			}
			md, mn := median(dev), median(nft)
			b.ReportMetric(float64(md.Microseconds())/1000, "devfence-ms")
			b.ReportMetric(float64(mn.Microseconds())/1000, "nft-ms")
			b.ReportMetric(float64(md)/float64(mn), "ratio")
		})
	}
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}
