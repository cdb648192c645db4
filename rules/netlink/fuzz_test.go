package netlink

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
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

// FuzzDecodeElements feeds the set element decoder element lists such as
// the kernel lists (NFTA_SET_ELEM_LIST_ELEMENTS), read as the elements of
// a static (interval) and of a dynamic set of each key type. Nothing may
// panic, and what decodes must be elements of the set's family whose
// ranges do not run backwards.
func FuzzDecodeElements(f *testing.F) {
	elem := func(key []byte, flags uint32, quota bool) mnl.Attribute {
		keyAttr, _ := mnl.MarshalAttributes([]mnl.Attribute{{Type: unix.NFTA_DATA_VALUE, Data: key}})
		attrs := []mnl.Attribute{{Type: unix.NLA_F_NESTED | unix.NFTA_SET_ELEM_KEY, Data: keyAttr}}
		if flags != 0 {
			attrs = append(attrs, mnl.Attribute{Type: unix.NFTA_SET_ELEM_FLAGS, Data: binaryutil.BigEndian.PutUint32(flags)})
		}
		if quota {
			q, _ := expr.Marshal(byte(nftables.TableFamilyINet), &expr.Quota{Bytes: 1 << 20, Consumed: 512})
			attrs = append(attrs, mnl.Attribute{Type: unix.NLA_F_NESTED | unix.NFTA_SET_ELEM_EXPR, Data: q})
		}
		data, _ := mnl.MarshalAttributes(attrs)
		return mnl.Attribute{Type: unix.NLA_F_NESTED | unix.NFTA_LIST_ELEM, Data: data}
	}
	list := func(elems ...mnl.Attribute) []byte {
		data, _ := mnl.MarshalAttributes(elems)
		return data
	}
	end := uint32(unix.NFT_SET_ELEM_INTERVAL_END)
	f.Add(list(elem([]byte{0, 0, 0, 0}, end, false), elem([]byte{10, 0, 0, 0}, 0, false), elem([]byte{11, 0, 0, 0}, end, false)))
	f.Add(list(elem(netip.MustParseAddr("2001:db8::").AsSlice(), 0, false), elem(netip.MustParseAddr("2001:db9::").AsSlice(), end, false)))
	f.Add(list(elem([]byte{192, 0, 2, 7}, 0, true), elem([]byte{unix.NFPROTO_IPV4}, 0, true)))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkElements(t, data)
	})
}

// checkElements is FuzzDecodeElements' property.
func checkElements(t *testing.T, data []byte) {
	t.Helper()
	ad, err := mnl.NewAttributeDecoder(data)
	if err != nil {
		return
	}
	kes := decodeElementList(byte(nftables.TableFamilyINet), ad)
	for _, key := range []rules.KeyType{rules.KeyIPv4, rules.KeyIPv6, rules.KeyNFProto} {
		for _, flags := range []rules.SetFlags{rules.FlagInterval, rules.FlagDynamic | rules.FlagTimeout} {
			if key == rules.KeyNFProto && flags == rules.FlagInterval {
				continue
			}
			s := &rules.Set{Name: "s", Key: key, Flags: flags}
			elems, err := normalise(s, slices.Clone(kes))
			if err != nil {
				continue
			}
			for _, e := range elems {
				switch {
				case key == rules.KeyNFProto:
					if e.From.IsValid() {
						t.Fatalf("%s set holds address element %s", key, e)
					}
				case e.From.Is4() != (key == rules.KeyIPv4) || e.To.IsValid() && e.To.Is4() != e.From.Is4():
					t.Fatalf("%s set holds element %s of the other family", key, e)
				case e.To.IsValid() && e.To.Less(e.From):
					t.Fatalf("%s set holds a backwards range %s", key, e)
				}
			}
			for _, e := range elems {
				_ = e.String()
			}
		}
	}
}
