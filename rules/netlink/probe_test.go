package netlink

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/devfence/devfence/rules"
	"github.com/devfence/devfence/rules/netlink/nltest"
)

// TestProbeCoversEveryFeature: the probe tries each feature of
// rules.Features once, in that order.
func TestProbeCoversEveryFeature(t *testing.T) {
	var want, got []rules.Feature
	for _, f := range rules.Features {
		want = append(want, f.Feature)
	}
	for _, p := range probes {
		got = append(got, p.feature)
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("probed features (-rules.Features +probes):\n%s", d)
	}
}

// TestProbeLeavesTablesAlone: probing a namespace with devfence's table in
// force leaves that table exactly as it was (rules, sets and the state of
// its dynamic sets) and no other table behind; on this kernel every
// feature is there.
func TestProbeLeavesTablesAlone(t *testing.T) {
	nltest.RequireNFT(t)
	ns := nltest.NS(t)
	c := open(t, ns)
	tbl := nltest.Compile(t, filepath.Join(filepath.Dir(nltest.Examples(t)[0]), "baby-monitor.yaml"))
	apply(t, c, tbl)
	// State in a dynamic set, which a replaced table would lose.
	nltest.NFT(t, ns, "", "add", "element", "inet", "devfence", "consent_v4", "{ 192.0.2.77 }")
	before := nltest.NFT(t, ns, "", "list", "ruleset")

	start := time.Now()
	k, err := c.Probe()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("probe of %d features took %v on %s", len(k.Has), time.Since(start).Round(time.Millisecond), k.Release)

	if after := nltest.NFT(t, ns, "", "list", "ruleset"); !sameRuleset(before, after) {
		t.Errorf("the probe changed the ruleset:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if tables := nltest.NFT(t, ns, "", "list", "tables"); strings.TrimSpace(tables) != "table inet devfence" {
		t.Errorf("tables after the probe: %q, want only devfence's", tables)
	}
	if k.Release == "" {
		t.Error("no kernel release")
	}
	for _, f := range rules.Features {
		if !k.Has[f.Feature] {
			t.Errorf("this kernel (%s) lacks %s by the probe; devfence's own tests use it", k.Release, f.Feature)
		}
	}
}

// TestProbeRefusal: a probe the kernel refuses reports the feature
// missing, not an error, and leaves nothing behind; each feature's probe
// on its own passes here (the path a kernel that lacks one takes).
func TestProbeRefusal(t *testing.T) {
	ns := nltest.NS(t)
	c := open(t, ns)
	has, err := c.try(try1("nothing", nil, rules.AddrMatch{Family: rules.IPv4, Field: rules.Dst, Set: "no-such-set"}))
	if err != nil || has {
		t.Fatalf("a refused probe: has %v, err %v; want false, nil", has, err)
	}
	for _, p := range probes {
		if has, err := c.try(p); err != nil || !has {
			t.Errorf("probe %s alone: has %v, err %v", p.feature, has, err)
		}
	}
	if tables := nltest.NFT(t, ns, "", "list", "tables"); tables != "" {
		t.Errorf("tables after the probes: %q, want none", tables)
	}
}

// sameRuleset compares two `nft list ruleset` outputs, ignoring the time
// left on dynamic set elements, which runs on between the two.
func sameRuleset(a, b string) bool {
	norm := func(s string) string {
		var out []string
		for _, f := range strings.Fields(s) {
			if strings.HasSuffix(f, "ms") || strings.HasSuffix(f, "s") && strings.ContainsAny(f[:1], "0123456789") {
				continue
			}
			out = append(out, f)
		}
		return strings.Join(out, " ")
	}
	return norm(a) == norm(b)
}
