package netlink

import (
	"testing"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	mnl "github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/devfence/devfence/rules"
	"github.com/devfence/devfence/rules/netlink/nltest"
)

// exprList is a rule's NFTA_RULE_EXPRESSIONS payload as the kernel lists
// it: one nested NFTA_LIST_ELEM per expression.
func exprList(t testing.TB, exprs []expr.Any) []byte {
	t.Helper()
	var attrs []mnl.Attribute
	for _, e := range exprs {
		b, err := expr.Marshal(byte(nftables.TableFamilyINet), e)
		if err != nil {
			t.Fatalf("marshal %T: %v", e, err)
		}
		attrs = append(attrs, mnl.Attribute{Type: unix.NLA_F_NESTED | unix.NFTA_LIST_ELEM, Data: b})
	}
	data, err := mnl.MarshalAttributes(attrs)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// FuzzDecodeRule feeds the rule decoder expression lists such as a kernel
// (or another program writing to the table) could list. Nothing may
// panic, and what decodes to statements without Raw parts must encode
// again to bytecode that decodes to the same text: otherwise `diff` and
// `status` would show a rule that is not the one in the kernel. The seeds
// are every rule of every example and of the codec's edge table; found
// crashers stay in testdata/fuzz/FuzzDecodeRule.
func FuzzDecodeRule(f *testing.F) {
	tables := []*rules.Table{edgeTable()}
	for _, path := range nltest.Examples(f) {
		tables = append(tables, nltest.Compile(f, path))
	}
	for _, tbl := range tables {
		for _, ch := range tbl.Chains {
			for _, r := range ch.Rules {
				exprs, err := encodeStmts(r.Stmts, loopback{}, nil)
				if err != nil {
					f.Fatalf("encode %q: %v", r, err)
				}
				f.Add(exprList(f, exprs))
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkDecode(t, data)
	})
}

// checkDecode is FuzzDecodeRule's property, also run on the crashers that
// became regular tests.
func checkDecode(t *testing.T, data []byte) {
	t.Helper()
	list, err := mnl.NewAttributeDecoder(data)
	if err != nil {
		return
	}
	stmts := decodeExprs(decodeExprList(list, byte(nftables.TableFamilyINet)), loopback{})
	text := (&rules.Rule{Stmts: stmts}).String()
	for _, s := range stmts {
		if _, raw := s.(rules.Raw); raw {
			return
		}
	}
	exprs, err := encodeStmts(stmts, loopback{}, nil)
	if err != nil {
		t.Fatalf("decoded %q, which does not encode: %v", text, err)
	}
	if again := (&rules.Rule{Stmts: decodeExprs(wire(t, exprs), loopback{})}).String(); again != text {
		t.Fatalf("decoded %q, which encodes to bytecode that decodes to %q", text, again)
	}
}
