package device

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/devfence/devfence/rules"
	"github.com/devfence/devfence/rules/netlink/nltest"
)

// TestStateRoundTrip: a saved table comes back rendering the same, for
// every example and for statements and elements the examples lack.
func TestStateRoundTrip(t *testing.T) {
	var tables []*rules.Table
	for _, p := range nltest.Examples(t) {
		tables = append(tables, nltest.Compile(t, p))
	}
	tables = append(tables, &rules.Table{Family: "inet", Name: "odd",
		Sets: []*rules.Set{{Name: "r", Key: rules.KeyIPv6, Flags: rules.FlagInterval, Elements: []rules.Element{
			{From: netip.MustParseAddr("2001:db8::1"), To: netip.MustParseAddr("2001:db8::5")},
			rules.Range(netip.MustParsePrefix("2001:db8:1::/48")), rules.Addr(netip.MustParseAddr("2001:db8::9"))}}},
		Chains: []*rules.Chain{{Name: "c", Hook: rules.HookOutput, Priority: -5, Policy: rules.Accept, Rules: []*rules.Rule{
			{Stmts: []rules.Stmt{rules.InnerPayload{Offset: 2, Data: []byte{0, 0xff, 'x'}}, rules.Raw{Text: "[meta load mark => reg 1]"}}, Comment: "odd"},
			{Stmts: []rules.Stmt{rules.Counter{Packets: 3, Bytes: 4}, rules.Verdict{Kind: rules.Drop}}},
		}}},
	})
	dir := t.TempDir()
	for _, tbl := range tables {
		s, err := save(tbl.Family, tbl.Name, tbl)
		if err != nil {
			t.Fatal(err)
		}
		st, err := newStore(dir, Target{NetNS: "default", Family: tbl.Family, Name: tbl.Name})
		if err != nil {
			t.Fatal(err)
		}
		if err := st.create(); err != nil {
			t.Fatal(err)
		}
		if err := st.write(&state{Version: stateVersion, NetNS: "default", Family: tbl.Family, Name: tbl.Name, Previous: s}); err != nil {
			t.Fatal(err)
		}
		back, err := st.load()
		if err != nil {
			t.Fatal(err)
		}
		got, err := back.Previous.table()
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(tbl.String(), got.String()); d != "" {
			t.Errorf("%s: (-saved +restored):\n%s", tbl.Name, d)
		}
	}
}
