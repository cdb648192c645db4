package netlink

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	mnl "github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/devfence/devfence/rules"
)

// TestDecodeFuzzFindings holds what FuzzDecodeRule found, as regular cases:
// bytecode the decoder used to turn into statements the encoder refuses.
func TestDecodeFuzzFindings(t *testing.T) {
	l4 := func(p byte) []expr.Any {
		return []expr.Any{
			&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg},
			&expr.Cmp{Op: expr.CmpOpEq, Register: reg, Data: []byte{p}},
		}
	}
	mark := func(mask, value uint32) []expr.Any {
		return []expr.Any{
			&expr.Ct{Key: expr.CtKeyMARK, Register: reg},
			&expr.Bitwise{SourceRegister: reg, DestRegister: reg, Len: 4,
				Mask: binaryutil.NativeEndian.PutUint32(mask), Xor: binaryutil.NativeEndian.PutUint32(0)},
			&expr.Cmp{Op: expr.CmpOpEq, Register: reg, Data: binaryutil.NativeEndian.PutUint32(value)},
		}
	}
	ports := func(lo, hi uint16) []expr.Any {
		return append(l4(unix.IPPROTO_TCP),
			&expr.Payload{DestRegister: reg, Base: expr.PayloadBaseTransportHeader, Offset: 0, Len: 2},
			&expr.Cmp{Op: expr.CmpOpGte, Register: reg, Data: binary.BigEndian.AppendUint16(nil, lo)},
			&expr.Cmp{Op: expr.CmpOpLte, Register: reg, Data: binary.BigEndian.AppendUint16(nil, hi)})
	}
	lookup := func(set string) []expr.Any {
		return []expr.Any{
			&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: reg},
			&expr.Cmp{Op: expr.CmpOpEq, Register: reg, Data: []byte{unix.NFPROTO_IPV4}},
			&expr.Payload{DestRegister: reg, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
			&expr.Lookup{SourceRegister: reg, SetName: set},
		}
	}
	inner := func(data []byte) []expr.Any {
		return []expr.Any{
			&expr.Payload{DestRegister: reg, Base: payloadBaseInner, Offset: 0, Len: uint32(len(data))},
			&expr.Cmp{Op: expr.CmpOpEq, Register: reg, Data: data},
		}
	}
	th := func(off uint32, data []byte) []expr.Any {
		return append(l4(unix.IPPROTO_TCP),
			&expr.Payload{DestRegister: reg, Base: expr.PayloadBaseTransportHeader, Offset: off, Len: uint32(len(data))},
			&expr.Cmp{Op: expr.CmpOpEq, Register: reg, Data: data})
	}
	for _, tc := range []struct {
		name  string
		exprs []expr.Any
		want  string
	}{
		// Was `meta l4proto 48` when encodeStmts refused it: apply of a
		// merged table would fail on a rule that only reads back. Every
		// number encodes now; the ones without a name stay numbers.
		{"unnamed l4proto decodes as its number", l4(48), "meta l4proto 48"},
		{"igmp decodes by name", l4(2), "meta l4proto igmp"},
		{"known l4proto decodes", l4(17), "meta l4proto udp"},
		// Was `ct mark & 0x30303030 == 0x31303030`, a test that never
		// matches and that encodeStmts refuses as not a bit test (here
		// byte-symmetric values, so the text is the same on any endianness).
		{"ct mark value outside its mask stays raw", mark(0x30303030, 0x31313131),
			"[ct load mark => reg 1] [bitwise reg 1 = (reg 1 & 0x30303030) ^ 0x00000000] [cmp eq reg 1 0x31313131]"},
		{"ct mark bit test decodes", mark(1<<30, 1<<30), "ct mark & 0x40000000 == 0x40000000"},
		// Was `tcp sport 12336-12320`, an empty range the encoder refuses.
		{"reversed port range stays raw", ports(12336, 12320),
			"meta l4proto tcp [payload load 2b @ transport header + 0 => reg 1] [cmp gte reg 1 0x3030] [cmp lte reg 1 0x3020]"},
		{"port range decodes", ports(5000, 5100), "tcp sport 5000-5100"},
		// Was `ip daddr invalid Prefix`: a lookup naming no set became a
		// prefix match with no prefix.
		{"lookup without a set name stays raw", lookup(""),
			"meta nfproto ipv4 [payload load 4b @ network header + 16 => reg 1] [lookup reg 1 set ]"},
		{"lookup decodes", lookup("allow_dns_v4"), "meta nfproto ipv4 ip daddr @allow_dns_v4"},
		// Was `@ih,0,0 0x`, a match of no bytes.
		{"empty inner payload stays raw", inner(nil), "[payload load 0b @ inner header + 0 => reg 1] [cmp eq reg 1 0x]"},
		{"inner payload decodes", inner([]byte("220")), "@ih,0,24 0x323230"},
		// Was `@th,2172748160,0 0x`: a raw transport match of no bytes,
		// far past what the kernel loads. And a load of no bytes at a
		// TCP header offset decoded to nothing at all, the rule losing
		// its expressions.
		{"empty transport payload stays raw", th(20, nil), "meta l4proto tcp [payload load 0b @ transport header + 20 => reg 1] [cmp eq reg 1 0x]"},
		{"empty tcp header load stays raw", th(2, nil), "meta l4proto tcp [payload load 0b @ transport header + 2 => reg 1] [cmp eq reg 1 0x]"},
		{"transport payload past byte 255 stays raw", th(254, []byte("22")),
			"meta l4proto tcp [payload load 2b @ transport header + 254 => reg 1] [cmp eq reg 1 0x3232]"},
		{"transport payload decodes", th(20, []byte("220")), "@th,160,24 0x323230"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := (&rules.Rule{Stmts: decodeExprs(wire(t, tc.exprs), loopback{})}).String()
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("decoded (-want +got):\n%s", d)
			}
			checkDecode(t, exprList(t, tc.exprs))
		})
	}
}

// TestDecodeMalformedExpression: an expression whose attributes do not
// parse is described raw. A log expression with an empty group attribute
// panicked inside google/nftables (found by FuzzDecodeRule).
func TestDecodeMalformedExpression(t *testing.T) {
	data, err := mnl.MarshalAttributes([]mnl.Attribute{{Type: unix.NFTA_LOG_GROUP, Data: nil}})
	if err != nil {
		t.Fatal(err)
	}
	elem, err := mnl.MarshalAttributes([]mnl.Attribute{
		{Type: unix.NFTA_EXPR_NAME, Data: []byte("log\x00")},
		{Type: unix.NLA_F_NESTED | unix.NFTA_EXPR_DATA, Data: data},
	})
	if err != nil {
		t.Fatal(err)
	}
	list, err := mnl.MarshalAttributes([]mnl.Attribute{{Type: unix.NLA_F_NESTED | unix.NFTA_LIST_ELEM, Data: elem}})
	if err != nil {
		t.Fatal(err)
	}
	ad, err := mnl.NewAttributeDecoder(list)
	if err != nil {
		t.Fatal(err)
	}
	got := (&rules.Rule{Stmts: decodeExprs(decodeExprList(ad, byte(nftables.TableFamilyINet)), loopback{})}).String()
	if want := "[log (4 bytes not decoded)]"; got != want {
		t.Errorf("decoded %q, want %q", got, want)
	}
	checkDecode(t, list)
}

// TestNormaliseKeyOfAnotherType: an element whose key does not have the
// length of the set's key type is refused; an nf_proto set once showed a
// 4-byte key as the address element 192.0.2.7 (found with
// FuzzDecodeElements' seeds).
func TestNormaliseKeyOfAnotherType(t *testing.T) {
	v4, v6 := []byte{192, 0, 2, 7}, netip.MustParseAddr("2001:db8::7").AsSlice()
	for _, tc := range []struct {
		name string
		set  rules.Set
		key  []byte
		want string // the element, or the error
	}{
		{"address in nf_proto set", rules.Set{Key: rules.KeyNFProto, Flags: rules.FlagDynamic}, v4, "key c0000207 is not of type nf_proto"},
		{"IPv6 key in IPv4 set", rules.Set{Key: rules.KeyIPv4, Flags: rules.FlagDynamic}, v6, "key 20010db8000000000000000000000007 is not of type ipv4_addr"},
		{"IPv6 key in IPv4 interval set", rules.Set{Key: rules.KeyIPv4, Flags: rules.FlagInterval}, v6, "key 20010db8000000000000000000000007 is not of type ipv4_addr"},
		{"IPv4 key in IPv4 set", rules.Set{Key: rules.KeyIPv4, Flags: rules.FlagDynamic}, v4, "192.0.2.7"},
		{"nf_proto key", rules.Set{Key: rules.KeyNFProto, Flags: rules.FlagDynamic}, []byte{unix.NFPROTO_IPV6}, "10"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			elems, err := normalise(&tc.set, []kelem{{key: tc.key}})
			got := ""
			if err != nil {
				got = err.Error()
			}
			for _, e := range elems {
				got += e.String()
			}
			if got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}
