package device

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/devfence/devfence/rules"
)

func TestPlanChange(t *testing.T) {
	addr := func(s string) rules.Element { return rules.Addr(netip.MustParseAddr(s)) }
	rule := func(k rules.VerdictKind, comment string) *rules.Rule {
		return &rules.Rule{Stmts: []rules.Stmt{rules.Verdict{Kind: k}}, Comment: comment}
	}
	base := func() *rules.Table {
		return &rules.Table{Family: "inet", Name: "devfence",
			Sets: []*rules.Set{
				{Name: "cloud", Key: rules.KeyIPv4, Elements: []rules.Element{addr("192.0.2.1"), addr("192.0.2.2")}},
				{Name: "consent", Key: rules.KeyIPv4, Flags: rules.FlagDynamic, Elements: []rules.Element{addr("198.51.100.7")}},
			},
			Chains: []*rules.Chain{
				{Name: "input", Hook: rules.HookInput, Policy: rules.Drop, Rules: []*rules.Rule{rule(rules.Accept, "a"), rule(rules.Drop, "end")}},
				{Name: "output", Hook: rules.HookOutput, Policy: rules.Drop, Rules: []*rules.Rule{rule(rules.Drop, "end")}},
			}}
	}
	for _, tc := range []struct {
		name   string
		live   *rules.Table
		change func(*rules.Table)
		want   Plan
		text   string
	}{
		{name: "same table", live: base(), change: func(*rules.Table) {}, text: "+0 -0 rules"},
		{name: "no live table", live: nil, change: func(*rules.Table) {},
			want: Plan{RulesAdded: 3, ChainsAdded: 2, SetsAdded: 2, ElementsAdded: 2},
			text: "+3 -0 rules, 2 chains added, 2 sets added, 2 elements added"},
		{name: "rule text changed", live: base(), change: func(t *rules.Table) { t.Chains[0].Rules[0].Comment = "b" },
			want: Plan{RulesAdded: 1, RulesRemoved: 1}, text: "+1 -1 rules"},
		{name: "rule added", live: base(), change: func(t *rules.Table) {
			t.Chains[1].Rules = append([]*rules.Rule{rule(rules.Accept, "new")}, t.Chains[1].Rules...)
		}, want: Plan{RulesAdded: 1}, text: "+1 -0 rules"},
		{name: "static element added", live: base(), change: func(t *rules.Table) {
			t.Sets[0].Elements = append(t.Sets[0].Elements, addr("192.0.2.3"))
		}, want: Plan{SetsChanged: 1, ElementsAdded: 1}, text: "+0 -0 rules, 1 set changed, 1 element added"},
		{name: "dynamic elements are state", live: base(), change: func(t *rules.Table) { t.Sets[1].Elements = nil }},
		{name: "set definition changed", live: base(), change: func(t *rules.Table) { t.Sets[1].Size = 64 },
			want: Plan{SetsChanged: 1}, text: "+0 -0 rules, 1 set changed"},
		{name: "chain removed", live: base(), change: func(t *rules.Table) { t.Chains = t.Chains[:1] },
			want: Plan{RulesRemoved: 1, ChainsRemoved: 1}, text: "+0 -1 rules, 1 chain removed"},
		{name: "policy changed", live: base(), change: func(t *rules.Table) { t.Chains[0].Policy = rules.Accept },
			want: Plan{ChainsChanged: 1}, text: "+0 -0 rules, 1 chain changed"},
		{name: "set removed", live: base(), change: func(t *rules.Table) { t.Sets = t.Sets[1:] },
			want: Plan{SetsRemoved: 1, ElementsRemoved: 2}, text: "+0 -0 rules, 1 set removed, 2 elements removed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			compiled := base()
			tc.change(compiled)
			got := PlanChange(tc.live, compiled)
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("%s: plan (-want +got):\n%s", tc.name, d)
			}
			if tc.text == "" {
				tc.text = "+0 -0 rules"
			}
			if d := cmp.Diff(tc.text, got.String()); d != "" {
				t.Errorf("%s: summary (-want +got):\n%s", tc.name, d)
			}
		})
	}
}
