package nflog

import (
	"testing"

	"github.com/devfence/devfence/rules"
)

func TestTableGroup(t *testing.T) {
	logTo := func(group uint16) *rules.Rule {
		return &rules.Rule{Stmts: []rules.Stmt{rules.Log{Prefix: "devfence drop: ", Group: group}, rules.Verdict{Kind: rules.Drop}}}
	}
	table := func(rs ...*rules.Rule) *rules.Table {
		return &rules.Table{Family: "inet", Name: "devfence", Chains: []*rules.Chain{{Name: "input", Rules: rs}}}
	}
	for _, tc := range []struct {
		name  string
		table *rules.Table
		group uint16
		ok    bool
		err   string
	}{
		{name: "one group", table: table(logTo(3), logTo(3)), group: 3, ok: true},
		{name: "group 0 is a group", table: table(logTo(0)), group: 0, ok: true},
		{name: "no log rule", table: table(&rules.Rule{Stmts: []rules.Stmt{rules.Verdict{Kind: rules.Drop}}})},
		{name: "several groups", table: table(logTo(7), logTo(2)), err: "table inet devfence logs to NFLOG groups [2 7]; choose one with --group"},
	} {
		group, ok, err := TableGroup(tc.table)
		gotErr := ""
		if err != nil {
			gotErr = err.Error()
		}
		if group != tc.group || ok != tc.ok || gotErr != tc.err {
			t.Errorf("%s: TableGroup = %d, %v, %q; want %d, %v, %q", tc.name, group, ok, gotErr, tc.group, tc.ok, tc.err)
		}
	}
}
