package compiler_test

import (
	"path/filepath"
	"testing"

	"github.com/devfence/devfence/compiler"
	"github.com/devfence/devfence/internal/device"
	"github.com/devfence/devfence/rules/netlink"
	"github.com/devfence/devfence/rules/netlink/nltest"
)

// TestKernelReservedWordsDiffClean applies a profile whose rules are named
// after every word devfence uses in generated names (an allow rule called
// default once produced a second quota_default_v4) and reads it back: the
// live table renders as compiled, so `devfence diff` is clean and a second
// apply sends nothing, keeping consent and quota state.
func TestKernelReservedWordsDiffClean(t *testing.T) {
	ns := nltest.NS(t)
	conn, err := netlink.Open(ns)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	p, err := compiler.Parse("reserved.yaml", []byte(compiler.ReservedWordsProfile()))
	if err != nil {
		t.Fatal(err)
	}
	tbl, err := compiler.Compile(p, compiler.Options{})
	if err != nil {
		t.Fatal(err)
	}
	opt := device.Options{StateDir: filepath.Join(t.TempDir(), "state")}
	if _, err := device.Apply(conn, tbl, opt); err != nil {
		t.Fatalf("apply: %v", err)
	}
	live, err := conn.Read(tbl.Family, tbl.Name)
	if err != nil {
		t.Fatal(err)
	}
	if d := device.Diff(live, tbl, "live", "compiled"); d != "" {
		t.Errorf("diff after apply is not clean:\n%s", d)
	}
	res, err := device.Apply(conn, tbl, opt)
	if err != nil {
		t.Fatalf("second apply: %v", err)
	}
	if res.Changed {
		t.Errorf("second apply of the same profile sent a transaction")
	}
}
