package netlink

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"github.com/devfence/devfence/rules"
)

// kexpr is one expression of a rule as the kernel lists it. e is nil when
// google/nftables has no type for the expression; the name and the raw
// attribute bytes then still describe it.
type kexpr struct {
	name string
	e    expr.Any
	data []byte
}

// namer turns interface indexes back into names.
type namer interface {
	ifName(index uint32) (string, bool)
}

// decodeExprs maps a rule's expressions back to the statements the encoder
// produces for them. What matches no pattern becomes a rules.Raw that
// describes the expressions, so a rule added by hand is shown, not lost.
func decodeExprs(ks []kexpr, names namer) []rules.Stmt {
	d := &decoder{ks: ks, names: names}
	var out []rules.Stmt
	for d.i < len(ks) {
		if stmts, n := d.next(); n > 0 {
			out = append(out, stmts...)
			d.i += n
			continue
		}
		text := describe(ks[d.i])
		if n := len(out); n > 0 {
			if r, ok := out[n-1].(rules.Raw); ok {
				out[n-1] = rules.Raw{Text: r.Text + " " + text}
				d.i++
				continue
			}
		}
		out = append(out, rules.Raw{Text: text})
		d.i++
	}
	return out
}

type decoder struct {
	ks    []kexpr
	i     int
	ctx   protoCtx
	names namer
}

func (d *decoder) at(k int) expr.Any {
	if d.i+k < len(d.ks) {
		return d.ks[d.i+k].e
	}
	return nil
}

// cmpAt returns the comparison at offset k if it reads register 1.
func (d *decoder) cmpAt(k int) (*expr.Cmp, bool) {
	c, ok := d.at(k).(*expr.Cmp)
	return c, ok && c.Register == reg
}

// next recognises the statement at d.i and returns it with the number of
// expressions it spans; 0 when nothing matches. A dependency nft inserted
// implicitly spans expressions but yields no statement.
func (d *decoder) next() ([]rules.Stmt, int) {
	switch e := d.at(0).(type) {
	case *expr.Meta:
		return d.meta(e)
	case *expr.Ct:
		return d.ct(e)
	case *expr.Payload:
		if e.OperationType != expr.PayloadLoad || e.DestRegister != reg || e.CsumType != expr.CsumTypeNone {
			return nil, 0
		}
		return d.payload(e)
	case *expr.Fib:
		c, ok := d.cmpAt(1)
		if !ok || e.Register != reg || !e.FlagSADDR || e.FlagDADDR || e.FlagIIF || e.FlagOIF || e.FlagMARK || e.FlagPRESENT ||
			!e.ResultADDRTYPE || e.ResultOIF || e.ResultOIFNAME || !bytes.Equal(c.Data, binaryutil.NativeEndian.PutUint32(rtnLocal)) {
			return nil, 0
		}
		switch c.Op {
		case expr.CmpOpEq:
			return one(rules.FibSaddrLocal{}), 2
		case expr.CmpOpNeq:
			return one(rules.FibSaddrLocal{Neg: true}), 2
		}
	case *expr.Limit:
		if l, ok := limitStmt(e); ok {
			return one(l), 1
		}
	case *expr.Log:
		if e.Key == 1<<unix.NFTA_LOG_GROUP|1<<unix.NFTA_LOG_PREFIX {
			return one(rules.Log{Prefix: string(e.Data), Group: e.Group}), 1
		}
	case *expr.Counter:
		return one(rules.Counter{Packets: e.Packets, Bytes: e.Bytes}), 1
	case *expr.Verdict:
		switch {
		case e.Kind == expr.VerdictAccept && e.Chain == "":
			return one(rules.Verdict{Kind: rules.Accept}), 1
		case e.Kind == expr.VerdictDrop && e.Chain == "":
			return one(rules.Verdict{Kind: rules.Drop}), 1
		}
	}
	return nil, 0
}

func one(s rules.Stmt) []rules.Stmt { return []rules.Stmt{s} }

// limitStmt is a packet or byte limit that matches while under its rate
// (not "over"), the only kind the encoder writes.
func limitStmt(e *expr.Limit) (rules.Limit, bool) {
	if e.Type != expr.LimitTypePkts && e.Type != expr.LimitTypePktBytes || e.Over {
		return rules.Limit{}, false
	}
	for name, u := range limitUnits {
		if u == e.Unit {
			return rules.Limit{Rate: e.Rate, Unit: name, Burst: e.Burst, Bytes: e.Type == expr.LimitTypePktBytes}, true
		}
	}
	return rules.Limit{}, false
}

func (d *decoder) meta(m *expr.Meta) ([]rules.Stmt, int) {
	if m.SourceRegister || m.Register != reg {
		return nil, 0
	}
	if ds, ok := d.at(1).(*expr.Dynset); ok && m.Key == expr.MetaKeyNFPROTO {
		if s, ok := dynsetStmt(ds, rules.Key{NFProto: true}); ok {
			return one(s), 2
		}
		return nil, 0
	}
	c, ok := d.cmpAt(1)
	if !ok || c.Op != expr.CmpOpEq {
		return nil, 0
	}
	switch {
	case m.Key == expr.MetaKeyNFPROTO && len(c.Data) == 1:
		switch c.Data[0] {
		case unix.NFPROTO_IPV4:
			d.ctx.nfproto = rules.IPv4
			return one(rules.Meta{Key: rules.MetaNFProto, Value: "ipv4"}), 2
		case unix.NFPROTO_IPV6:
			d.ctx.nfproto = rules.IPv6
			return one(rules.Meta{Key: rules.MetaNFProto, Value: "ipv6"}), 2
		}
	case m.Key == expr.MetaKeyL4PROTO && len(c.Data) == 1:
		// Every protocol number encodes again: a name for those that have
		// one, the number for the rest.
		name := rules.L4ProtoName(c.Data[0])
		if d.ctx.l4set && d.ctx.l4proto != c.Data[0] {
			// A second, different protocol: the model (and its encoder)
			// holds one per rule, so this stays raw text.
			return nil, 0
		}
		d.ctx.l4proto, d.ctx.l4set = c.Data[0], true
		// Directly before a transport header match it is the dependency
		// nft inserts for that match, which the match's text implies; not
		// before one the decoder cannot read, whose raw text would not
		// say which protocol it is about.
		if p, ok := d.at(2).(*expr.Payload); ok && p.Base == expr.PayloadBaseTransportHeader {
			d.i += 2
			_, n := d.next()
			d.i -= 2
			if n > 0 {
				return nil, 2
			}
		}
		return one(rules.Meta{Key: rules.MetaL4Proto, Value: name}), 2
	case (m.Key == expr.MetaKeyIIF || m.Key == expr.MetaKeyOIF) && len(c.Data) == 4:
		if d.names == nil {
			return nil, 0
		}
		name, ok := d.names.ifName(binaryutil.NativeEndian.Uint32(c.Data))
		if !ok {
			return nil, 0
		}
		key := rules.MetaIIF
		if m.Key == expr.MetaKeyOIF {
			key = rules.MetaOIF
		}
		return one(rules.Meta{Key: key, Value: name}), 2
	}
	return nil, 0
}

func (d *decoder) ct(c *expr.Ct) ([]rules.Stmt, int) {
	if c.SourceRegister || c.Register != reg {
		return nil, 0
	}
	switch c.Key {
	case expr.CtKeySTATE, expr.CtKeySTATUS:
		// A flag test: (x & bits) != 0, or for ct status also the
		// negated one, (x & bits) == 0.
		mask, ok := d.mask32(1)
		cm, ok2 := d.cmpAt(2)
		if !ok || !ok2 || len(cm.Data) != 4 || !isZero(cm.Data) || mask == 0 {
			return nil, 0
		}
		switch {
		case c.Key == expr.CtKeySTATUS && (cm.Op == expr.CmpOpNeq || cm.Op == expr.CmpOpEq):
			return one(rules.CtStatus{Bits: rules.CtStatusBits(mask), Neg: cm.Op == expr.CmpOpEq}), 3
		case cm.Op != expr.CmpOpNeq:
			return nil, 0
		}
		return one(rules.CtState{States: rules.CtStates(mask)}), 3
	case expr.CtKeyMARK:
		// A bit test, (mark & mask) == value, or a bit set,
		// mark = (mark & ^bits) ^ bits stored back.
		if set, ok := d.at(2).(*expr.Ct); ok {
			b, ok := d.at(1).(*expr.Bitwise)
			if !ok || !isBitwise32(b) || !set.SourceRegister || set.Register != reg || set.Key != expr.CtKeyMARK {
				return nil, 0
			}
			bits := binaryutil.NativeEndian.Uint32(b.Xor)
			if bits == 0 || binaryutil.NativeEndian.Uint32(b.Mask) != ^bits {
				return nil, 0
			}
			return one(rules.CtMarkOr{Bits: bits}), 3
		}
		mask, ok := d.mask32(1)
		cm, ok2 := d.cmpAt(2)
		if !ok || !ok2 || cm.Op != expr.CmpOpEq || len(cm.Data) != 4 {
			return nil, 0
		}
		// Only what the encoder writes: a value within a partial mask.
		// Anything else (a value outside the mask can never match) stays
		// raw rather than becoming a statement that cannot be applied.
		value := binaryutil.NativeEndian.Uint32(cm.Data)
		if mask == ^uint32(0) || value&^mask != 0 {
			return nil, 0
		}
		return one(rules.CtMark{Mask: mask, Value: value}), 3
	case expr.CtKeyDIRECTION:
		cm, ok := d.cmpAt(1)
		if !ok || cm.Op != expr.CmpOpEq || len(cm.Data) != 1 || cm.Data[0] > 1 {
			return nil, 0
		}
		return one(rules.CtDirection{Reply: cm.Data[0] == 1}), 2
	}
	return nil, 0
}

// isBitwise32 reports whether b is a 4-byte mask-and-xor of register 1
// onto itself, the only bitwise form nft generates for ct keys.
func isBitwise32(b *expr.Bitwise) bool {
	return b.SourceRegister == reg && b.DestRegister == reg && b.Len == 4 && len(b.Mask) == 4 && len(b.Xor) == 4
}

// mask32 returns the mask of a plain mask (x & mask ^ 0) at offset k.
func (d *decoder) mask32(k int) (uint32, bool) {
	b, ok := d.at(k).(*expr.Bitwise)
	if !ok || !isBitwise32(b) || !isZero(b.Xor) {
		return 0, false
	}
	return binaryutil.NativeEndian.Uint32(b.Mask), true
}

func isZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// field is a header field the model matches on.
type field struct {
	off, len uint32
	stmt     func(data []byte, neg bool) (rules.Stmt, bool)
	addr     *addrFieldInfo
}

type addrFieldInfo struct {
	family rules.Family
	field  rules.AddrField
}

func addrFieldDef(f rules.Family, af rules.AddrField) field {
	off, size := addrField(f, af)
	return field{off: off, len: size, addr: &addrFieldInfo{f, af}, stmt: func(data []byte, neg bool) (rules.Stmt, bool) {
		a, ok := netip.AddrFromSlice(data)
		if !ok {
			return nil, false
		}
		return rules.AddrMatch{Family: f, Field: af, Prefix: netip.PrefixFrom(a, a.BitLen()), Neg: neg}, true
	}}
}

// networkFields lists the network header fields of the rule's family.
func networkFields(f rules.Family) []field {
	switch f {
	case rules.IPv4:
		return []field{addrFieldDef(f, rules.Src), addrFieldDef(f, rules.Dst)}
	case rules.IPv6:
		return []field{
			{off: 7, len: 1, stmt: func(data []byte, neg bool) (rules.Stmt, bool) {
				return rules.HopLimit{Value: data[0]}, !neg
			}},
			addrFieldDef(f, rules.Src), addrFieldDef(f, rules.Dst),
		}
	}
	return nil
}

func transportFields(l4 uint8) []field {
	switch l4 {
	case unix.IPPROTO_TCP, unix.IPPROTO_UDP:
		name := rules.L4ProtoName(l4)
		port := func(af rules.AddrField) func([]byte, bool) (rules.Stmt, bool) {
			return func(data []byte, neg bool) (rules.Stmt, bool) {
				p := bigEndian.Uint16(data)
				return rules.PortMatch{Proto: name, Field: af, Lo: p, Hi: p}, !neg
			}
		}
		return []field{{off: 0, len: 2, stmt: port(rules.Src)}, {off: 2, len: 2, stmt: port(rules.Dst)}}
	case unix.IPPROTO_ICMP, unix.IPPROTO_ICMPV6:
		v6 := l4 == unix.IPPROTO_ICMPV6
		return []field{{off: 0, len: 1, stmt: func(data []byte, neg bool) (rules.Stmt, bool) {
			return rules.ICMPType{V6: v6, Type: data[0]}, !neg
		}}}
	}
	return nil
}

func fieldAt(fields []field, off uint32) (field, bool) {
	for _, f := range fields {
		if f.off == off {
			return f, true
		}
	}
	return field{}, false
}

func (d *decoder) payload(p *expr.Payload) ([]rules.Stmt, int) {
	switch p.Base {
	case expr.PayloadBaseNetworkHeader:
		return d.network(p)
	case expr.PayloadBaseTransportHeader:
		if st, n := d.transportRaw(p); n > 0 {
			return st, n
		}
		if b, ok := d.at(1).(*expr.Bitwise); ok {
			// A TCP flag test: the flags byte, masked, compared with zero.
			c, ok := d.cmpAt(2)
			if !ok || d.ctx.l4proto != unix.IPPROTO_TCP || p.Offset != tcpFlagsOffset || p.Len != 1 ||
				b.SourceRegister != reg || b.DestRegister != reg || b.Len != 1 || len(b.Mask) != 1 || b.Mask[0] == 0 ||
				!bytes.Equal(b.Xor, []byte{0}) || !bytes.Equal(c.Data, []byte{0}) ||
				(c.Op != expr.CmpOpEq && c.Op != expr.CmpOpNeq) {
				return nil, 0
			}
			return one(rules.TCPFlags{Bits: rules.TCPFlagBits(b.Mask[0]), Neg: c.Op == expr.CmpOpEq}), 3
		}
		fields := transportFields(d.ctx.l4proto)
		if lo, ok := d.cmpAt(1); ok && lo.Op == expr.CmpOpGte {
			hi, ok := d.cmpAt(2)
			f, ok2 := fieldAt(fields, p.Offset)
			if !ok || !ok2 || hi.Op != expr.CmpOpLte || p.Len != 2 || f.len != 2 || len(lo.Data) != 2 || len(hi.Data) != 2 {
				return nil, 0
			}
			s, _ := f.stmt(lo.Data, false)
			pm, ok := s.(rules.PortMatch)
			if !ok {
				return nil, 0
			}
			pm.Hi = bigEndian.Uint16(hi.Data)
			if pm.Hi < pm.Lo {
				// An empty range, which the encoder refuses: keep it raw.
				return nil, 0
			}
			return one(pm), 3
		}
		return d.constant(p, fields)
	case payloadBaseInner:
		if b, ok := d.at(1).(*expr.Bitwise); ok {
			// The payload-present test: one byte, masked to nothing.
			c, ok := d.cmpAt(2)
			if !ok || p.Offset != 0 || p.Len != 1 || b.SourceRegister != reg || b.DestRegister != reg || b.Len != 1 ||
				!bytes.Equal(b.Mask, []byte{0}) || !bytes.Equal(b.Xor, []byte{0}) ||
				c.Op != expr.CmpOpEq || !bytes.Equal(c.Data, []byte{0}) {
				return nil, 0
			}
			return one(rules.PayloadPresent{}), 3
		}
		// One register holds 1-16 bytes; the encoder writes no other.
		c, ok := d.cmpAt(1)
		if !ok || c.Op != expr.CmpOpEq || uint32(len(c.Data)) != p.Len || p.Len == 0 || p.Len > 16 {
			return nil, 0
		}
		return one(rules.InnerPayload{Offset: p.Offset, Data: bytes.Clone(c.Data)}), 2
	}
	return nil, 0
}

// transportRaw reads the lowered form of the @ih statements (see
// rules.Lower): `tcp doff N` (header byte 12, masked to its high nibble),
// and loads past the fixed TCP header (20 bytes), where no header field
// is: a constant compared, or one byte masked to nothing.
func (d *decoder) transportRaw(p *expr.Payload) ([]rules.Stmt, int) {
	if d.ctx.l4proto != unix.IPPROTO_TCP {
		return nil, 0
	}
	b, masked := d.at(1).(*expr.Bitwise)
	switch {
	case p.Offset == tcpDoffOffset && p.Len == 1 && masked:
		c, ok := d.cmpAt(2)
		if !ok || b.SourceRegister != reg || b.DestRegister != reg || b.Len != 1 ||
			!bytes.Equal(b.Mask, []byte{0xf0}) || !bytes.Equal(b.Xor, []byte{0}) ||
			c.Op != expr.CmpOpEq || len(c.Data) != 1 || c.Data[0]&0x0f != 0 || c.Data[0]>>4 < 5 {
			return nil, 0
		}
		return one(rules.TCPDataOffset{Words: c.Data[0] >> 4}), 3
	case p.Offset < tcpHeaderLen:
		return nil, 0
	case masked:
		c, ok := d.cmpAt(2)
		if !ok || p.Len != 1 || p.Offset >= maxPayloadOffset || b.SourceRegister != reg || b.DestRegister != reg || b.Len != 1 ||
			!bytes.Equal(b.Mask, []byte{0}) || !bytes.Equal(b.Xor, []byte{0}) ||
			c.Op != expr.CmpOpEq || !bytes.Equal(c.Data, []byte{0}) {
			return nil, 0
		}
		return one(rules.TransportPayloadPresent{Offset: p.Offset}), 3
	}
	// What the encoder writes: 1-16 bytes (one register), ending where
	// the kernel still loads. Anything else is shown raw (FuzzDecodeRule).
	c, ok := d.cmpAt(1)
	if !ok || c.Op != expr.CmpOpEq || uint32(len(c.Data)) != p.Len || p.Len == 0 || p.Len > 16 ||
		uint64(p.Offset)+uint64(p.Len) > maxPayloadOffset {
		return nil, 0
	}
	return one(rules.TransportPayload{Offset: p.Offset, Data: bytes.Clone(c.Data)}), 2
}

// tcpHeaderLen is the length of a TCP header without options.
const tcpHeaderLen = 20

func (d *decoder) network(p *expr.Payload) ([]rules.Stmt, int) {
	fields := networkFields(d.ctx.nfproto)
	f, ok := fieldAt(fields, p.Offset)
	if ok && f.addr != nil && p.Len == f.len {
		af := f.addr
		switch e := d.at(1).(type) {
		case *expr.Lookup:
			// Without a set name the statement would be a prefix match
			// against no prefix.
			if e.SourceRegister != reg || e.IsDestRegSet || e.SetName == "" {
				return nil, 0
			}
			return one(rules.AddrMatch{Family: af.family, Field: af.field, Set: e.SetName, Neg: e.Invert}), 2
		case *expr.Dynset:
			if s, ok := dynsetStmt(e, rules.Key{Family: af.family, Field: af.field}); ok {
				return one(s), 2
			}
			return nil, 0
		case *expr.Bitwise:
			bits, ok := maskBits(e, f.len)
			if !ok {
				return nil, 0
			}
			if ds, ok := d.at(2).(*expr.Dynset); ok {
				if s, ok := dynsetStmt(ds, rules.Key{Family: af.family, Field: af.field, Bits: bits}); ok {
					return one(s), 3
				}
				return nil, 0
			}
			c, ok := d.cmpAt(2)
			if !ok || (c.Op != expr.CmpOpEq && c.Op != expr.CmpOpNeq) {
				return nil, 0
			}
			a, ok := netip.AddrFromSlice(c.Data)
			if !ok {
				return nil, 0
			}
			pfx := netip.PrefixFrom(a, bits)
			if pfx.Masked() != pfx {
				return nil, 0
			}
			return one(rules.AddrMatch{Family: af.family, Field: af.field, Prefix: pfx, Neg: c.Op == expr.CmpOpNeq}), 3
		}
	}
	// A byte-aligned prefix loads only its leading bytes.
	if ok && f.addr != nil && p.Len < f.len {
		c, ok := d.cmpAt(1)
		if !ok || (c.Op != expr.CmpOpEq && c.Op != expr.CmpOpNeq) || uint32(len(c.Data)) != p.Len {
			return nil, 0
		}
		full := make([]byte, f.len)
		copy(full, c.Data)
		a, _ := netip.AddrFromSlice(full)
		return one(rules.AddrMatch{Family: f.addr.family, Field: f.addr.field,
			Prefix: netip.PrefixFrom(a, int(p.Len)*8), Neg: c.Op == expr.CmpOpNeq}), 2
	}
	return d.constant(p, fields)
}

// constant decodes a payload compared with a constant, which nft may have
// merged from several adjacent matches: it splits it back along fields.
func (d *decoder) constant(p *expr.Payload, fields []field) ([]rules.Stmt, int) {
	c, ok := d.cmpAt(1)
	if !ok || (c.Op != expr.CmpOpEq && c.Op != expr.CmpOpNeq) || uint32(len(c.Data)) != p.Len {
		return nil, 0
	}
	var out []rules.Stmt
	for pos := p.Offset; pos < p.Offset+p.Len; {
		f, ok := fieldAt(fields, pos)
		if !ok || pos+f.len > p.Offset+p.Len {
			return nil, 0
		}
		s, ok := f.stmt(c.Data[pos-p.Offset:pos-p.Offset+f.len], c.Op == expr.CmpOpNeq)
		if !ok {
			return nil, 0
		}
		out = append(out, s)
		pos += f.len
	}
	if len(out) == 0 {
		// A load of no bytes: consuming it would drop the expressions
		// from the rule without a trace.
		return nil, 0
	}
	return out, 2
}

// maskBits returns the prefix length of a netmask bitwise (x & mask ^ 0).
func maskBits(b *expr.Bitwise, size uint32) (int, bool) {
	if b.SourceRegister != reg || b.DestRegister != reg || b.Len != size || uint32(len(b.Mask)) != size || !isZero(b.Xor) {
		return 0, false
	}
	bits := 0
	for bits < int(size)*8 && b.Mask[bits/8]&(0x80>>(bits%8)) != 0 {
		bits++
	}
	if !bytes.Equal(b.Mask, prefixMask(netip.PrefixFrom(zeroAddr(size), bits))) {
		return 0, false
	}
	return bits, true
}

func zeroAddr(size uint32) netip.Addr {
	if size == 16 {
		return netip.IPv6Unspecified()
	}
	return netip.IPv4Unspecified()
}

func dynsetStmt(d *expr.Dynset, key rules.Key) (rules.Stmt, bool) {
	if d.SrcRegKey != reg || d.SrcRegData != 0 || d.Timeout != 0 || d.Invert || d.SetName == "" {
		return nil, false
	}
	s := rules.DynsetUpdate{Set: d.SetName, Key: key}
	switch d.Operation {
	case unix.NFT_DYNSET_OP_ADD:
		s.Op = rules.SetAdd
	case unix.NFT_DYNSET_OP_UPDATE:
		s.Op = rules.SetUpdate
	default:
		return nil, false
	}
	switch len(d.Exprs) {
	case 0:
	case 1:
		switch x := d.Exprs[0].(type) {
		case *expr.Quota:
			if x.Over || x.Bytes == 0 {
				return nil, false
			}
			s.Quota = x.Bytes
		case *expr.Limit:
			l, ok := limitStmt(x)
			if !ok {
				return nil, false
			}
			s.Limit = &l
		default:
			return nil, false
		}
	default:
		return nil, false
	}
	return s, true
}

// describe writes an expression the way `nft --debug=netlink` lists it, for
// the text of a statement the decoder does not recognise.
func describe(k kexpr) string {
	var s string
	switch e := k.e.(type) {
	case nil:
		s = fmt.Sprintf("%s (%d bytes not decoded)", k.name, len(k.data))
	case *expr.Meta:
		if e.SourceRegister {
			s = fmt.Sprintf("meta set %s with reg %d", metaKeyName(e.Key), e.Register)
		} else {
			s = fmt.Sprintf("meta load %s => reg %d", metaKeyName(e.Key), e.Register)
		}
	case *expr.Cmp:
		s = fmt.Sprintf("cmp %s reg %d 0x%s", cmpOpName(e.Op), e.Register, hex.EncodeToString(e.Data))
	case *expr.Payload:
		if e.OperationType == expr.PayloadWrite {
			s = fmt.Sprintf("payload write reg %d => %db @ %s header + %d", e.SourceRegister, e.Len, baseName(e.Base), e.Offset)
		} else {
			s = fmt.Sprintf("payload load %db @ %s header + %d => reg %d", e.Len, baseName(e.Base), e.Offset, e.DestRegister)
		}
	case *expr.Bitwise:
		s = fmt.Sprintf("bitwise reg %d = (reg %d & 0x%s) ^ 0x%s", e.DestRegister, e.SourceRegister, hex.EncodeToString(e.Mask), hex.EncodeToString(e.Xor))
	case *expr.Lookup:
		s = fmt.Sprintf("lookup reg %d set %s", e.SourceRegister, e.SetName)
		if e.Invert {
			s += " inverted"
		}
		if e.IsDestRegSet {
			s += fmt.Sprintf(" dreg %d", e.DestRegister)
		}
	case *expr.Ct:
		s = fmt.Sprintf("ct load %s => reg %d", ctKeyName(e.Key), e.Register)
		if e.SourceRegister {
			s = fmt.Sprintf("ct set %s with reg %d", ctKeyName(e.Key), e.Register)
		}
	case *expr.Verdict:
		s = "verdict " + verdictName(e.Kind)
		if e.Chain != "" {
			s += " " + e.Chain
		}
	case *expr.Immediate:
		s = fmt.Sprintf("immediate reg %d 0x%s", e.Register, hex.EncodeToString(e.Data))
	case *expr.Counter:
		s = fmt.Sprintf("counter packets %d bytes %d", e.Packets, e.Bytes)
	case *expr.Dynset:
		op := map[uint32]string{unix.NFT_DYNSET_OP_ADD: "add", unix.NFT_DYNSET_OP_UPDATE: "update", 2: "delete"}[e.Operation]
		s = fmt.Sprintf("dynset %s reg_key %d set %s", op, e.SrcRegKey, e.SetName)
		for _, x := range e.Exprs {
			s += " expr " + describe(kexpr{name: "expr", e: x})
		}
	case *expr.Quota:
		s = fmt.Sprintf("quota bytes %d consumed %d", e.Bytes, e.Consumed)
		if e.Over {
			s += " over"
		}
	case *expr.Limit:
		s = fmt.Sprintf("limit rate %d/%ds burst %d type %d", e.Rate, e.Unit, e.Burst, e.Type)
		if e.Over {
			s += " over"
		}
	case *expr.Log:
		s = fmt.Sprintf("log prefix %q group %d", string(e.Data), e.Group)
	case *expr.Fib:
		s = fmt.Sprintf("fib %+v", *e)
	default:
		s = strings.TrimPrefix(fmt.Sprintf("%s %+v", k.name, e), "&")
	}
	return "[" + s + "]"
}

func baseName(b expr.PayloadBase) string {
	switch b {
	case expr.PayloadBaseLLHeader:
		return "link"
	case expr.PayloadBaseNetworkHeader:
		return "network"
	case expr.PayloadBaseTransportHeader:
		return "transport"
	case payloadBaseInner:
		return "inner"
	}
	return fmt.Sprintf("base %d", b)
}

func cmpOpName(op expr.CmpOp) string {
	return map[expr.CmpOp]string{expr.CmpOpEq: "eq", expr.CmpOpNeq: "neq", expr.CmpOpLt: "lt",
		expr.CmpOpLte: "lte", expr.CmpOpGt: "gt", expr.CmpOpGte: "gte"}[op]
}

func metaKeyName(k expr.MetaKey) string {
	names := map[expr.MetaKey]string{expr.MetaKeyLEN: "len", expr.MetaKeyPROTOCOL: "protocol", expr.MetaKeyMARK: "mark",
		expr.MetaKeyIIF: "iif", expr.MetaKeyOIF: "oif", expr.MetaKeyIIFNAME: "iifname", expr.MetaKeyOIFNAME: "oifname",
		expr.MetaKeySKUID: "skuid", expr.MetaKeySKGID: "skgid", expr.MetaKeyNFPROTO: "nfproto", expr.MetaKeyL4PROTO: "l4proto",
		expr.MetaKeyPKTTYPE: "pkttype", expr.MetaKeyIIFTYPE: "iiftype", expr.MetaKeyOIFTYPE: "oiftype"}
	if n, ok := names[k]; ok {
		return n
	}
	return fmt.Sprintf("key %d", k)
}

func ctKeyName(k expr.CtKey) string {
	names := map[expr.CtKey]string{expr.CtKeySTATE: "state", expr.CtKeyDIRECTION: "direction", expr.CtKeySTATUS: "status",
		expr.CtKeyMARK: "mark", expr.CtKeyEXPIRATION: "expiration", expr.CtKeyHELPER: "helper", expr.CtKeyPROTOCOL: "protocol",
		expr.CtKeyZONE: "zone"}
	if n, ok := names[k]; ok {
		return n
	}
	return fmt.Sprintf("key %d", k)
}

func verdictName(k expr.VerdictKind) string {
	switch k {
	case expr.VerdictAccept:
		return "accept"
	case expr.VerdictDrop:
		return "drop"
	case expr.VerdictContinue:
		return "continue"
	case expr.VerdictReturn:
		return "return"
	case expr.VerdictJump:
		return "jump"
	case expr.VerdictGoto:
		return "goto"
	case expr.VerdictBreak:
		return "break"
	case expr.VerdictQueue:
		return "queue"
	case expr.VerdictStolen:
		return "stolen"
	}
	return strconv.Itoa(int(k))
}
