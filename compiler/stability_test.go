package compiler_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/devfence/devfence/compiler"
	"github.com/devfence/devfence/internal/device"
	"github.com/devfence/devfence/internal/golden"
	"github.com/devfence/devfence/rules"
)

// TestRemovingAnEntryTouchesOnlyItsRules removes the middle entry of each
// list from testdata/stability/full.yaml and checks that the compiled
// table loses that entry's rules and sets and changes nothing else: the
// rules after it keep their comments, because comments name entries by
// name, not by index. golden/stability/<case>.diff is what `devfence diff`
// shows for the change, byte for byte.
func TestRemovingAnEntryTouchesOnlyItsRules(t *testing.T) {
	full := compileFile(t, "testdata/stability/full.yaml")
	for _, tc := range []struct {
		name   string // of the profile without the entry, and of the golden diff
		origin string // the comment of the removed entry's rules and sets
	}{
		{"without-service", "inbound.services onvif"},
		{"without-allow", "egress.allow cloud-api"},
		{"without-handshake", "consent.handshakes backup"},
		{"without-bulk", "consent.bulk tcp 8554"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			removed := compileFile(t, "testdata/stability/"+tc.name+".yaml")
			diff := device.Diff(full, removed, "full.yaml", tc.name+".yaml")
			golden.Compare(t, "../golden/stability/"+tc.name+".diff", []byte(diff))

			want := withoutOrigin(full, tc.origin)
			if want.String() == full.String() {
				t.Fatalf("full.yaml compiles to no rule or set of %q", tc.origin)
			}
			if d := cmp.Diff(want.String(), removed.String()); d != "" {
				t.Errorf("full.yaml's table less the rules and sets of %q, against %s.yaml's (-want +got):\n%s", tc.origin, tc.name, d)
			}
		})
	}
}

func compileFile(t *testing.T, path string) *rules.Table {
	t.Helper()
	p, err := compiler.Load(path, compiler.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tbl, err := compiler.Compile(p, compiler.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return tbl
}

// withoutOrigin is a copy of t without the rules and sets whose comment
// names origin: the origin itself, or it followed by a detail (": consent",
// " quota 16KiB/1h", "; hosts ...").
func withoutOrigin(t *rules.Table, origin string) *rules.Table {
	of := func(comment string) bool {
		rest, ok := strings.CutPrefix(comment, origin)
		return ok && (rest == "" || strings.ContainsAny(rest[:1], ":; "))
	}
	out := &rules.Table{Family: t.Family, Name: t.Name}
	for _, s := range t.Sets {
		if !of(s.Comment) {
			out.Sets = append(out.Sets, s)
		}
	}
	for _, c := range t.Chains {
		nc := *c
		nc.Rules = nil
		for _, r := range c.Rules {
			if !of(r.Comment) {
				nc.Rules = append(nc.Rules, r)
			}
		}
		out.Chains = append(out.Chains, &nc)
	}
	return out
}
