package netlink

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"github.com/devfence/devfence/rules"
	"github.com/devfence/devfence/rules/netlink/nltest"
)

// loopback resolves and names only the loopback device, which is all the
// compiler uses, without a kernel.
type loopback struct{}

func (loopback) ifIndex(name string) (uint32, error) {
	if name == "lo" {
		return 1, nil
	}
	return 0, fmt.Errorf("no interface %q", name)
}

func (loopback) ifName(i uint32) (string, bool) { return "lo", i == 1 }

// wire passes expressions through their netlink encoding and back, as the
// kernel would list them.
func wire(t *testing.T, exprs []expr.Any) []kexpr {
	t.Helper()
	var out []kexpr
	for _, e := range exprs {
		data, err := expr.MarshalExprData(byte(nftables.TableFamilyINet), e)
		if err != nil {
			t.Fatalf("marshal %T: %v", e, err)
		}
		name := exprName(e)
		out = append(out, kexpr{name: name, data: data, e: parseExpr(byte(nftables.TableFamilyINet), name, data)})
	}
	return out
}

// TestCodecRoundTrip: every rule of every example, as compiled and as
// fitted to each of fittedKernels, decodes to
// the text it was encoded from, without a kernel.
func TestCodecRoundTrip(t *testing.T) {
	tables := []*rules.Table{edgeTable()}
	lowered := map[string]int{}
	for _, path := range nltest.Examples(t) {
		tbl := nltest.Compile(t, path)
		tables = append(tables, tbl)
		for _, fk := range fittedKernels {
			low, err := rules.Lower(tbl, fk.k)
			if err != nil {
				t.Fatalf("%s: lower for %s: %v", path, fk.name, err)
			}
			if low.String() != tbl.String() {
				lowered[fk.name]++
				tables = append(tables, low)
			}
		}
	}
	for _, fk := range fittedKernels {
		if lowered[fk.name] == 0 {
			t.Fatalf("no example has a rule to lower for %s, so that form is not round-tripped", fk.name)
		}
	}
	for _, tbl := range tables {
		for _, ch := range tbl.Chains {
			for _, r := range ch.Rules {
				exprs, err := encodeStmts(r.Stmts, loopback{}, nil)
				if err != nil {
					t.Fatalf("%s: encode %q: %v", tbl.Name, r, err)
				}
				got := (&rules.Rule{Stmts: decodeExprs(wire(t, exprs), loopback{}), Comment: r.Comment}).String()
				want := r.String()
				if r.Comment == "reversed ports" {
					want = `meta nfproto ipv4 udp sport 67 udp dport 68 accept comment "reversed ports"`
				}
				if got != want {
					t.Errorf("%s/%s: round trip\n got %s\nwant %s", tbl.Name, ch.Name, got, want)
				}
			}
		}
	}
}

// TestMergeLikeNft: the bytecode of statements nft merges or leaves apart.
func TestMergeLikeNft(t *testing.T) {
	v4 := rules.Meta{Key: rules.MetaNFProto, Value: "ipv4"}
	for _, tc := range []struct {
		name  string
		stmts []rules.Stmt
		loads []string // the payload loads, "base:offset:len"
	}{
		{"dhcp ports merge", []rules.Stmt{v4, rules.PortMatch{Proto: "udp", Field: rules.Src, Lo: 67, Hi: 67}, rules.PortMatch{Proto: "udp", Field: rules.Dst, Lo: 68, Hi: 68}},
			[]string{"2:0:4"}},
		{"addresses stay apart (8 bytes leave the fast path)", []rules.Stmt{v4,
			rules.AddrMatch{Family: rules.IPv4, Field: rules.Src, Prefix: netip.MustParsePrefix("192.0.2.1/32")},
			rules.AddrMatch{Family: rules.IPv4, Field: rules.Dst, Prefix: netip.MustParsePrefix("192.0.2.2/32")}},
			[]string{"1:12:4", "1:16:4"}},
		{"a statement in between ends the run", []rules.Stmt{v4, rules.PortMatch{Proto: "udp", Field: rules.Src, Lo: 67, Hi: 67}, rules.Counter{},
			rules.PortMatch{Proto: "udp", Field: rules.Dst, Lo: 68, Hi: 68}},
			[]string{"2:0:2", "2:2:2"}},
		{"a range is not a constant", []rules.Stmt{v4, rules.PortMatch{Proto: "udp", Field: rules.Src, Lo: 67, Hi: 69}, rules.PortMatch{Proto: "udp", Field: rules.Dst, Lo: 68, Hi: 68}},
			[]string{"2:0:2", "2:2:2"}},
	} {
		exprs, err := encodeStmts(tc.stmts, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		var loads []string
		for _, e := range exprs {
			if p, ok := e.(*expr.Payload); ok {
				loads = append(loads, fmt.Sprintf("%d:%d:%d", p.Base, p.Offset, p.Len))
			}
		}
		if d := cmp.Diff(tc.loads, loads); d != "" {
			t.Errorf("%s: payload loads (-want +got):\n%s", tc.name, d)
		}
	}
}

// TestIntervalElements: nft's interval encoding and its normalisation on
// read-back are inverse, at both ends of the address space.
func TestIntervalElements(t *testing.T) {
	for _, tc := range []struct {
		key   rules.KeyType
		elems []string
		wire  []string // key, "end" or "open"
	}{
		{rules.KeyIPv4, []string{"192.168.1.0/24"}, []string{"0.0.0.0 end", "192.168.1.0", "192.168.2.0 end"}},
		{rules.KeyIPv4, []string{"0.0.0.0/8", "10.0.0.5/32", "255.255.255.0/24"},
			[]string{"0.0.0.0", "1.0.0.0 end", "10.0.0.5", "10.0.0.6 end", "255.255.255.0 open"}},
		{rules.KeyIPv6, []string{"::/0"}, []string{":: open"}},
		{rules.KeyIPv6, []string{"2001:db8::10/128"}, []string{":: end", "2001:db8::10", "2001:db8::11 end"}},
	} {
		var elems []rules.Element
		for _, s := range tc.elems {
			elems = append(elems, rules.Range(netip.MustParsePrefix(s)))
		}
		ns := &nftables.Set{Name: "s", KeyType: keyTypes[tc.key], Interval: true}
		kes, err := setElements(ns, elems)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		var back []kelem
		for i := len(kes) - 1; i >= 0; i-- { // the kernel lists them backwards
			k := kes[i]
			back = append(back, kelem{key: k.Key, end: k.IntervalEnd, open: k.IntervalOpen})
		}
		for _, k := range kes {
			a, _ := netip.AddrFromSlice(k.Key)
			s := a.String()
			if k.IntervalEnd {
				s += " end"
			}
			if k.IntervalOpen {
				s += " open"
			}
			got = append(got, s)
		}
		if d := cmp.Diff(tc.wire, got); d != "" {
			t.Errorf("%v: elements sent (-want +got):\n%s", tc.elems, d)
		}
		norm, err := normalise(&rules.Set{Key: tc.key, Flags: rules.FlagInterval}, back)
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(fmt.Sprint(elems), fmt.Sprint(norm)); d != "" {
			t.Errorf("%v: read back (-want +got):\n%s", tc.elems, d)
		}
	}
}

// TestDecodeNearMisses: expressions that look like a ct bit test, a ct
// mark bit set or the payload-present test but mean something else must
// not decode as those statements (a misread would hide a live rule's
// meaning); the encoder refuses the forms nft would not generate.
func TestDecodeNearMisses(t *testing.T) {
	ne := binaryutil.NativeEndian.PutUint32
	ct := func(k expr.CtKey) *expr.Ct { return &expr.Ct{Register: 1, Key: k} }
	bw := func(mask, xor []byte) *expr.Bitwise {
		return &expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: uint32(len(mask)), Mask: mask, Xor: xor}
	}
	cmpOp := func(op expr.CmpOp, d []byte) *expr.Cmp { return &expr.Cmp{Op: op, Register: 1, Data: d} }
	for _, tc := range []struct {
		name  string
		exprs []expr.Any
	}{
		{"mark test with an xor", []expr.Any{ct(expr.CtKeyMARK), bw(ne(1<<31), ne(1)), cmpOp(expr.CmpOpEq, ne(0))}},
		{"mark test with neq", []expr.Any{ct(expr.CtKeyMARK), bw(ne(1<<31), ne(0)), cmpOp(expr.CmpOpNeq, ne(0))}},
		{"mark write that clears other bits", []expr.Any{ct(expr.CtKeyMARK), bw(ne(0xffff0000), ne(1)), &expr.Ct{Register: 1, SourceRegister: true, Key: expr.CtKeyMARK}}},
		{"state bits clear (only ct status has a negated test)", []expr.Any{ct(expr.CtKeySTATE), bw(ne(2), ne(0)), cmpOp(expr.CmpOpEq, ne(0))}},
		{"status bits equal to a value", []expr.Any{ct(expr.CtKeySTATUS), bw(ne(4), ne(0)), cmpOp(expr.CmpOpEq, ne(4))}},
		{"tcp flags equal to a value", []expr.Any{&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1}, cmpOp(expr.CmpOpEq, []byte{unix.IPPROTO_TCP}),
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 13, Len: 1}, bw([]byte{0x12}, []byte{0}), cmpOp(expr.CmpOpEq, []byte{0x02})}},
		{"tcp flags with an xor", []expr.Any{&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1}, cmpOp(expr.CmpOpEq, []byte{unix.IPPROTO_TCP}),
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 13, Len: 1}, bw([]byte{0x06}, []byte{1}), cmpOp(expr.CmpOpEq, []byte{0})}},
		{"byte 13 of a udp header", []expr.Any{&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1}, cmpOp(expr.CmpOpEq, []byte{unix.IPPROTO_UDP}),
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 13, Len: 1}, bw([]byte{0x06}, []byte{0}), cmpOp(expr.CmpOpEq, []byte{0})}},
		{"tcp byte 12 masked", []expr.Any{&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1}, cmpOp(expr.CmpOpEq, []byte{unix.IPPROTO_TCP}),
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 12, Len: 1}, bw([]byte{0x06}, []byte{0}), cmpOp(expr.CmpOpEq, []byte{0})}},
		{"tcp doff with a low nibble", []expr.Any{&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1}, cmpOp(expr.CmpOpEq, []byte{unix.IPPROTO_TCP}),
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 12, Len: 1}, bw([]byte{0xf0}, []byte{0}), cmpOp(expr.CmpOpEq, []byte{0x51})}},
		{"tcp doff below 5", []expr.Any{&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1}, cmpOp(expr.CmpOpEq, []byte{unix.IPPROTO_TCP}),
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 12, Len: 1}, bw([]byte{0xf0}, []byte{0}), cmpOp(expr.CmpOpEq, []byte{0x40})}},
		{"udp byte 12 masked like tcp doff", []expr.Any{&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1}, cmpOp(expr.CmpOpEq, []byte{unix.IPPROTO_UDP}),
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 12, Len: 1}, bw([]byte{0xf0}, []byte{0}), cmpOp(expr.CmpOpEq, []byte{0x50})}},
		{"tcp byte past the header, bit test", []expr.Any{&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1}, cmpOp(expr.CmpOpEq, []byte{unix.IPPROTO_TCP}),
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 24, Len: 1}, bw([]byte{1}, []byte{0}), cmpOp(expr.CmpOpEq, []byte{0})}},
		{"tcp bytes past the header, not equal", []expr.Any{&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1}, cmpOp(expr.CmpOpEq, []byte{unix.IPPROTO_TCP}),
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 20, Len: 3}, cmpOp(expr.CmpOpNeq, []byte("220"))}},
		{"payload byte at offset 1", []expr.Any{&expr.Payload{DestRegister: 1, Base: payloadBaseInner, Offset: 1, Len: 1}, bw([]byte{0}, []byte{0}), cmpOp(expr.CmpOpEq, []byte{0})}},
		{"payload byte bit test", []expr.Any{&expr.Payload{DestRegister: 1, Base: payloadBaseInner, Offset: 0, Len: 1}, bw([]byte{1}, []byte{0}), cmpOp(expr.CmpOpEq, []byte{0})}},
	} {
		stmts := decodeExprs(wire(t, tc.exprs), loopback{})
		// A transport header test keeps its protocol dependency in front.
		if m, ok := stmts[0].(rules.Meta); ok && m.Key == rules.MetaL4Proto {
			stmts = stmts[1:]
		}
		if len(stmts) != 1 {
			t.Errorf("%s: decoded as %d statements %v, want one raw", tc.name, len(stmts), stmts)
			continue
		}
		if _, ok := stmts[0].(rules.Raw); !ok {
			t.Errorf("%s: decoded as %T %q, want raw", tc.name, stmts[0], stmts[0])
		}
	}
	for _, s := range []rules.Stmt{
		rules.CtStatus{}, rules.CtMark{Mask: ^uint32(0), Value: 1}, rules.CtMark{Mask: 0}, rules.CtMark{Mask: 1, Value: 2}, rules.CtMarkOr{}, rules.TCPFlags{Neg: true},
		rules.TCPDataOffset{Words: 4}, rules.TCPDataOffset{Words: 16}, rules.TransportPayload{Offset: 20},
		rules.TransportPayload{Offset: 250, Data: []byte("220 ready")}, rules.TransportPayloadPresent{Offset: 255},
	} {
		if _, err := encodeStmts([]rules.Stmt{s}, nil, nil); err == nil {
			t.Errorf("%#v encoded without error", s)
		}
	}
}
