package device

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/devfence/devfence/rules"
	"github.com/devfence/devfence/rules/netlink"
)

// TestFileKernel: handles on one file share its tables per namespace, as
// processes sharing a kernel do; only a committed transaction moves the
// generation, and a rejected one leaves the file as it was.
func TestFileKernel(t *testing.T) {
	e := newFakeEnv(t)
	plug, monitor := e.example(t, "smart-plug"), e.example(t, "baby-monitor")
	path := filepath.Join(t.TempDir(), "kernel.json")
	a, again, b := OpenFileKernel(path, "a"), OpenFileKernel(path, "a"), OpenFileKernel(path, "b")
	if _, err := a.Apply(rules.Replace(plug)); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Apply(rules.Replace(monitor)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		k    *FileKernel
		want *rules.Table
	}{{"a", a, plug}, {"a again", again, plug}, {"b", b, monitor}} {
		live, err := tc.k.Read("inet", "devfence")
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if d := cmp.Diff(tc.want.String(), live.String()); d != "" {
			t.Errorf("%s (-applied +read):\n%s", tc.name, d)
		}
		if g, _ := tc.k.Generation(); g != 1 {
			t.Errorf("%s: generation %d, want 1", tc.name, g)
		}
	}
	bad := rules.Replace(&rules.Table{Family: "inet", Name: "devfence", Chains: []*rules.Chain{{Name: "c", Rules: []*rules.Rule{
		{Stmts: []rules.Stmt{rules.AddrMatch{Family: rules.IPv4, Field: rules.Dst, Set: "missing"}}}}}}})
	var re *netlink.RefusedError
	if _, err := again.Apply(bad); !errors.As(err, &re) {
		t.Errorf("a rule naming a missing set: %v, want a *netlink.RefusedError", err)
	}
	if live, err := a.Read("inet", "devfence"); err != nil || live.String() != plug.String() {
		t.Errorf("after the refused transaction: %v, %v; want smart-plug's table", live, err)
	}
	if g, _ := a.Generation(); g != 1 {
		t.Errorf("the refused transaction moved the generation to %d", g)
	}
	if _, err := OpenFileKernel(path, "c").Read("inet", "devfence"); !errors.Is(err, netlink.ErrNoTable) {
		t.Errorf("namespace c: %v, want ErrNoTable", err)
	}
}
