package netlink

import (
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

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
// force (fitted to the kernel, as apply puts it) leaves that table exactly
// as it was (rules, sets and the state of its dynamic sets) and no other
// table behind. Every feature is there on the kernels devfence supports,
// except the inner-header payload base before Linux 5.16.
func TestProbeLeavesTablesAlone(t *testing.T) {
	nltest.RequireNFT(t)
	ns := nltest.NS(t)
	c := open(t, ns)
	first, err := c.Probe()
	if err != nil {
		t.Fatal(err)
	}
	tbl, err := rules.Lower(nltest.Compile(t, filepath.Join(filepath.Dir(nltest.Examples(t)[0]), "baby-monitor.yaml")), first)
	if err != nil {
		t.Fatal(err)
	}
	apply(t, c, tbl)
	// State in a dynamic set, which a replaced table would lose.
	nltest.NFT(t, ns, "", "add", "element", "inet", "devfence", "consent_v4", "{ 192.0.2.77 }")
	before := nltest.NFT(t, ns, "", "list", "ruleset")
	gen, err := c.Generation()
	if err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	k, err := c.Probe()
	if err != nil {
		t.Fatal(err)
	}
	// No probe batch is committed: apply --dry-run and apply's check that
	// nothing changed the ruleset while it read it rely on that.
	if g, err := c.Generation(); err != nil || g != gen {
		t.Errorf("the probe moved the ruleset generation from %d to %d (%v)", gen, g, err)
	}
	t.Logf("probe of %d features took %v on %s", len(k.Has), time.Since(start).Round(time.Millisecond), k.Release)

	if after := nltest.NFT(t, ns, "", "list", "ruleset"); !sameRuleset(before, after) {
		t.Errorf("the probe changed the ruleset:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if tables := nltest.NFT(t, ns, "", "list", "tables"); strings.TrimSpace(tables) != "table inet devfence" {
		t.Errorf("tables after the probe: %q, want only devfence's", tables)
	}
	if d := cmp.Diff(first, k); d != "" {
		t.Errorf("two probes disagree (-first +second):\n%s", d)
	}
	major, minor, ok := release(k.Release)
	if !ok {
		t.Fatalf("kernel release %q", k.Release)
	}
	var uts unix.Utsname
	if err := unix.Uname(&uts); err != nil {
		t.Fatal(err)
	}
	arm32 := rules.ElementQuotaNote(unix.ByteSliceToString(uts.Machine[:])) != ""
	for _, f := range rules.Features {
		want := f.Feature != rules.FeatPayloadInner || major > 5 || major == 5 && minor >= 16
		if f.Feature == rules.FeatDynsetQuota && arm32 {
			want = false // taken, but unsafe to use: see rules.ElementQuotaNote
		}
		if k.Has[f.Feature] != want {
			t.Errorf("kernel %s: the probe says %s available %v, want %v", k.Release, f.Feature, k.Has[f.Feature], want)
		}
	}
}

// release reads major and minor from a kernel release ("6.1.0-57-amd64").
func release(r string) (major, minor int, ok bool) {
	parts := strings.SplitN(r, ".", 3)
	if len(parts) < 2 {
		return 0, 0, false
	}
	var err1, err2 error
	major, err1 = strconv.Atoi(parts[0])
	minor, err2 = strconv.Atoi(strings.TrimRightFunc(parts[1], func(r rune) bool { return r < '0' || r > '9' }))
	return major, minor, err1 == nil && err2 == nil
}

// TestProbeRefusal: a probe the kernel refuses reports the feature
// missing, not an error, and leaves nothing behind; each feature's probe
// on its own (the path a kernel that lacks one takes) gives the answer
// the combined probe gave.
func TestProbeRefusal(t *testing.T) {
	ns := nltest.NS(t)
	c := open(t, ns)
	has, err := c.try(try1("nothing", nil, rules.AddrMatch{Family: rules.IPv4, Field: rules.Dst, Set: "no-such-set"}))
	if err != nil || has {
		t.Fatalf("a refused probe: has %v, err %v; want false, nil", has, err)
	}
	k, err := c.Probe()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range probes {
		if k.Notes[p.feature] != "" {
			continue // taken but not used: the combined probe said so on purpose
		}
		if has, err := c.try(p); err != nil || has != k.Has[p.feature] {
			t.Errorf("probe %s alone: has %v, err %v; the combined probe said %v", p.feature, has, err, k.Has[p.feature])
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
