package netlink

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"

	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"github.com/devfence/devfence/internal/sortby"
	"github.com/devfence/devfence/rules"
)

var bigEndian = binary.BigEndian

// Every statement loads into register 1 (NFT_REG_1 in the 16-byte register
// view), as nft does; register 0 is the verdict.
const reg = 1

// RTN_LOCAL, what `fib saddr type local` compares with.
const rtnLocal = 2

// resolver turns interface names into indexes; nft does the same when it
// loads `iif "lo"`, so the kernel holds the index, not the name.
type resolver interface {
	ifIndex(name string) (uint32, error)
}

// protoCtx is what the rule has established so far about the packet's
// protocols: nft inserts a dependency (`meta nfproto`, `meta l4proto`)
// before a header match only when the rule has not already pinned it.
type protoCtx struct {
	nfproto rules.Family
	l4proto uint8
	l4set   bool // l4proto holds a protocol; 0 is one (IPv6 hop-by-hop)
}

// item is the bytecode of one statement. A payload match of a constant is
// kept as pm so that adjacent ones can be merged the way nft merges them;
// brk marks statements nft does not merge across (anything that is not a
// match: set updates, limit, log, counter, verdict).
type item struct {
	exprs []expr.Any
	pm    *payloadMatch
	brk   bool
	drop  bool // merged into another item
}

type payloadMatch struct {
	base     expr.PayloadBase
	off, len uint32
	op       expr.CmpOp
	data     []byte
}

func (p *payloadMatch) exprs() []expr.Any {
	return []expr.Any{
		&expr.Payload{DestRegister: reg, Base: p.base, Offset: p.off, Len: p.len},
		&expr.Cmp{Op: p.op, Register: reg, Data: p.data},
	}
}

// setIDs gives the batch-local ID of a set created in the same batch, so a
// rule can name it before the kernel has committed it; 0 when unknown.
type setIDs func(name string) uint32

// encodeStmts turns a rule's statements into the expressions nft generates
// for the same text.
func encodeStmts(stmts []rules.Stmt, res resolver, ids setIDs) ([]expr.Any, error) {
	e := &encoder{res: res, ids: ids}
	for _, s := range stmts {
		if err := e.stmt(s); err != nil {
			return nil, fmt.Errorf("%s: %w", s, err)
		}
	}
	mergePayloads(e.items)
	var out []expr.Any
	for _, it := range e.items {
		switch {
		case it.drop:
		case it.pm != nil:
			out = append(out, it.pm.exprs()...)
		default:
			out = append(out, it.exprs...)
		}
	}
	return out, nil
}

type encoder struct {
	res   resolver
	ids   setIDs
	ctx   protoCtx
	items []item
}

func (e *encoder) add(brk bool, exprs ...expr.Any) {
	e.items = append(e.items, item{exprs: exprs, brk: brk})
}

func (e *encoder) addPM(pm payloadMatch) { e.items = append(e.items, item{pm: &pm}) }

func (e *encoder) setID(name string) uint32 {
	if e.ids == nil {
		return 0
	}
	return e.ids(name)
}

// needFamily inserts the `meta nfproto` guard a network header match
// needs in an inet table, unless the rule already established it.
func (e *encoder) needFamily(f rules.Family) error {
	switch e.ctx.nfproto {
	case f:
		return nil
	case 0:
		e.add(false, metaCmp(expr.MetaKeyNFPROTO, []byte{nfprotoNumber(f)})...)
		e.ctx.nfproto = f
		return nil
	}
	return fmt.Errorf("conflicting protocols: the rule matches %s and %s", e.ctx.nfproto.NFProto(), f.NFProto())
}

// needL4 inserts the `meta l4proto` dependency of a transport header match.
func (e *encoder) needL4(proto uint8) error {
	switch {
	case e.ctx.l4set && e.ctx.l4proto == proto:
		return nil
	case !e.ctx.l4set:
		e.add(false, metaCmp(expr.MetaKeyL4PROTO, []byte{proto})...)
		e.ctx.l4proto, e.ctx.l4set = proto, true
		return nil
	}
	return fmt.Errorf("conflicting protocols: the rule matches transport protocols %d and %d", e.ctx.l4proto, proto)
}

func metaCmp(key expr.MetaKey, data []byte) []expr.Any {
	return []expr.Any{&expr.Meta{Key: key, Register: reg}, &expr.Cmp{Op: expr.CmpOpEq, Register: reg, Data: data}}
}

func nfprotoNumber(f rules.Family) uint8 {
	if f == rules.IPv6 {
		return unix.NFPROTO_IPV6
	}
	return unix.NFPROTO_IPV4
}

// addrField is where an address lives in the network header.
func addrField(f rules.Family, field rules.AddrField) (off, size uint32) {
	switch {
	case f == rules.IPv6 && field == rules.Src:
		return 8, 16
	case f == rules.IPv6:
		return 24, 16
	case field == rules.Src:
		return 12, 4
	}
	return 16, 4
}

func (e *encoder) stmt(s rules.Stmt) error {
	switch s := s.(type) {
	case rules.Meta:
		return e.meta(s)
	case rules.CtState:
		e.add(false, ctFlags(expr.CtKeySTATE, uint32(s.States))...)
	case rules.CtStatus:
		// As nft encodes a flag test: load, mask, not zero. ct status is
		// a host-order u32, like ct state.
		if s.Bits == 0 {
			return fmt.Errorf("ct status match without bits")
		}
		flags := ctFlags(expr.CtKeySTATUS, uint32(s.Bits))
		if s.Neg {
			// `ct status ! assured`: the masked bits are all zero.
			flags[2].(*expr.Cmp).Op = expr.CmpOpEq
		}
		e.add(false, flags...)
	case rules.CtMark:
		if s.Mask == 0 || s.Mask == ^uint32(0) || s.Value&^s.Mask != 0 {
			// nft drops an all-ones mask and refuses a value outside the
			// mask; neither is a bit test, which is all the model needs.
			return fmt.Errorf("ct mark & 0x%x == 0x%x is not a bit test", s.Mask, s.Value)
		}
		e.add(false,
			&expr.Ct{Register: reg, Key: expr.CtKeyMARK},
			&expr.Bitwise{SourceRegister: reg, DestRegister: reg, Len: 4,
				Mask: binaryutil.NativeEndian.PutUint32(s.Mask), Xor: make([]byte, 4)},
			&expr.Cmp{Op: expr.CmpOpEq, Register: reg, Data: binaryutil.NativeEndian.PutUint32(s.Value)})
	case rules.CtMarkOr:
		if s.Bits == 0 {
			return fmt.Errorf("ct mark set without bits")
		}
		// nft writes "mark | bits" as (mark & ^bits) ^ bits, then stores
		// the register back into the connection.
		e.add(true,
			&expr.Ct{Register: reg, Key: expr.CtKeyMARK},
			&expr.Bitwise{SourceRegister: reg, DestRegister: reg, Len: 4,
				Mask: binaryutil.NativeEndian.PutUint32(^s.Bits), Xor: binaryutil.NativeEndian.PutUint32(s.Bits)},
			&expr.Ct{Register: reg, SourceRegister: true, Key: expr.CtKeyMARK})
	case rules.TCPFlags:
		// As nft encodes a flag test of the TCP header's flags byte
		// (offset 13): load, mask, compare with zero: not zero for any
		// flag set, zero for `tcp flags ! ...`.
		if s.Bits == 0 {
			return fmt.Errorf("tcp flags match without flags")
		}
		if err := e.needL4(unix.IPPROTO_TCP); err != nil {
			return err
		}
		op := expr.CmpOpNeq
		if s.Neg {
			op = expr.CmpOpEq
		}
		e.add(false,
			&expr.Payload{DestRegister: reg, Base: expr.PayloadBaseTransportHeader, Offset: tcpFlagsOffset, Len: 1},
			&expr.Bitwise{SourceRegister: reg, DestRegister: reg, Len: 1, Mask: []byte{byte(s.Bits)}, Xor: []byte{0}},
			&expr.Cmp{Op: op, Register: reg, Data: []byte{0}})
	case rules.PayloadPresent:
		// A one-byte load of the transport payload, masked to nothing:
		// it matches any byte, and the load itself ends the rule (NFT_BREAK)
		// when the packet has no payload byte to load. Not a constant, so
		// it is never merged with an adjacent @ih match.
		e.add(false,
			&expr.Payload{DestRegister: reg, Base: payloadBaseInner, Offset: 0, Len: 1},
			&expr.Bitwise{SourceRegister: reg, DestRegister: reg, Len: 1, Mask: []byte{0}, Xor: []byte{0}},
			&expr.Cmp{Op: expr.CmpOpEq, Register: reg, Data: []byte{0}})
	case rules.CtDirection:
		dir := byte(0)
		if s.Reply {
			dir = 1
		}
		e.add(false, &expr.Ct{Register: reg, Key: expr.CtKeyDIRECTION}, &expr.Cmp{Op: expr.CmpOpEq, Register: reg, Data: []byte{dir}})
	case rules.AddrMatch:
		return e.addrMatch(s)
	case rules.PortMatch:
		proto, ok := rules.L4ProtoNumber(s.Proto)
		if !ok || (proto != unix.IPPROTO_TCP && proto != unix.IPPROTO_UDP) {
			return fmt.Errorf("port match on protocol %q", s.Proto)
		}
		if err := e.needL4(proto); err != nil {
			return err
		}
		off := uint32(0)
		if s.Field == rules.Dst {
			off = 2
		}
		if s.Lo == s.Hi {
			e.addPM(payloadMatch{base: expr.PayloadBaseTransportHeader, off: off, len: 2, op: expr.CmpOpEq,
				data: binaryutil.BigEndian.PutUint16(s.Lo)})
			return nil
		}
		if s.Lo > s.Hi {
			return fmt.Errorf("port range %d-%d is empty", s.Lo, s.Hi)
		}
		// nft writes a range as two comparisons, not a range expression.
		e.add(false,
			&expr.Payload{DestRegister: reg, Base: expr.PayloadBaseTransportHeader, Offset: off, Len: 2},
			&expr.Cmp{Op: expr.CmpOpGte, Register: reg, Data: binaryutil.BigEndian.PutUint16(s.Lo)},
			&expr.Cmp{Op: expr.CmpOpLte, Register: reg, Data: binaryutil.BigEndian.PutUint16(s.Hi)})
	case rules.ICMPType:
		proto := uint8(unix.IPPROTO_ICMP)
		if s.V6 {
			proto = unix.IPPROTO_ICMPV6
		}
		if err := e.needL4(proto); err != nil {
			return err
		}
		e.addPM(payloadMatch{base: expr.PayloadBaseTransportHeader, off: 0, len: 1, op: expr.CmpOpEq, data: []byte{s.Type}})
	case rules.HopLimit:
		if err := e.needFamily(rules.IPv6); err != nil {
			return err
		}
		e.addPM(payloadMatch{base: expr.PayloadBaseNetworkHeader, off: 7, len: 1, op: expr.CmpOpEq, data: []byte{s.Value}})
	case rules.InnerPayload:
		if len(s.Data) == 0 || len(s.Data) > 16 {
			return fmt.Errorf("inner payload match of %d bytes (1-16 fit a register)", len(s.Data))
		}
		e.addPM(payloadMatch{base: payloadBaseInner, off: s.Offset, len: uint32(len(s.Data)), op: expr.CmpOpEq,
			data: slices.Clone(s.Data)})
	case rules.TCPDataOffset:
		// As nft encodes `tcp doff N`: the high nibble of header byte 12.
		if s.Words < 5 || s.Words > 15 {
			return fmt.Errorf("tcp doff %d: a TCP header is 5 to 15 words", s.Words)
		}
		if err := e.needL4(unix.IPPROTO_TCP); err != nil {
			return err
		}
		e.add(false,
			&expr.Payload{DestRegister: reg, Base: expr.PayloadBaseTransportHeader, Offset: tcpDoffOffset, Len: 1},
			&expr.Bitwise{SourceRegister: reg, DestRegister: reg, Len: 1, Mask: []byte{0xf0}, Xor: []byte{0}},
			&expr.Cmp{Op: expr.CmpOpEq, Register: reg, Data: []byte{s.Words << 4}})
	case rules.TransportPayload:
		if len(s.Data) == 0 || len(s.Data) > 16 {
			return fmt.Errorf("transport payload match of %d bytes (1-16 fit a register)", len(s.Data))
		}
		// The decoder reads @th raw matches only on TCP (they are the
		// lowered clear-to-send); the lowering always pins it first with
		// tcp doff, so this adds nothing there.
		if err := e.needL4(unix.IPPROTO_TCP); err != nil {
			return err
		}
		if s.Offset+uint32(len(s.Data)) > maxPayloadOffset {
			return fmt.Errorf("transport payload match ends at byte %d; the kernel loads up to byte %d", s.Offset+uint32(len(s.Data)), maxPayloadOffset)
		}
		e.addPM(payloadMatch{base: expr.PayloadBaseTransportHeader, off: s.Offset, len: uint32(len(s.Data)), op: expr.CmpOpEq,
			data: slices.Clone(s.Data)})
	case rules.TransportPayloadPresent:
		// PayloadPresent at a fixed offset from the transport header.
		if s.Offset >= maxPayloadOffset {
			return fmt.Errorf("transport payload byte %d: the kernel loads up to byte %d", s.Offset, maxPayloadOffset)
		}
		if err := e.needL4(unix.IPPROTO_TCP); err != nil {
			return err
		}
		e.add(false,
			&expr.Payload{DestRegister: reg, Base: expr.PayloadBaseTransportHeader, Offset: s.Offset, Len: 1},
			&expr.Bitwise{SourceRegister: reg, DestRegister: reg, Len: 1, Mask: []byte{0}, Xor: []byte{0}},
			&expr.Cmp{Op: expr.CmpOpEq, Register: reg, Data: []byte{0}})
	case rules.FibSaddrLocal:
		op := expr.CmpOpEq
		if s.Neg {
			op = expr.CmpOpNeq
		}
		e.add(false,
			&expr.Fib{Register: reg, FlagSADDR: true, ResultADDRTYPE: true},
			&expr.Cmp{Op: op, Register: reg, Data: binaryutil.NativeEndian.PutUint32(rtnLocal)})
	case rules.DynsetUpdate:
		return e.dynset(s)
	case rules.Limit:
		l, err := limitExpr(s)
		if err != nil {
			return err
		}
		e.add(true, l)
	case rules.Log:
		e.add(true, &expr.Log{Key: 1<<unix.NFTA_LOG_GROUP | 1<<unix.NFTA_LOG_PREFIX, Group: s.Group, Data: []byte(s.Prefix)})
	case rules.Counter:
		e.add(true, &expr.Counter{})
	case rules.Verdict:
		switch s.Kind {
		case rules.Accept:
			e.add(true, &expr.Verdict{Kind: expr.VerdictAccept})
		case rules.Drop:
			e.add(true, &expr.Verdict{Kind: expr.VerdictDrop})
		default:
			return fmt.Errorf("verdict %q", s.Kind)
		}
	case rules.Raw:
		return fmt.Errorf("a statement read back from the kernel cannot be encoded")
	default:
		return fmt.Errorf("statement type %T has no netlink encoding", s)
	}
	return nil
}

// ctFlags is nft's implicit flag test of a ct bitmask (`ct state
// established`, `ct status assured`): the bits are in host byte order, the
// match holds when any of them is set.
func ctFlags(key expr.CtKey, bits uint32) []expr.Any {
	return []expr.Any{
		&expr.Ct{Register: reg, Key: key},
		&expr.Bitwise{SourceRegister: reg, DestRegister: reg, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(bits), Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: reg, Data: make([]byte, 4)},
	}
}

// tcpFlagsOffset is where the flags byte sits in the TCP header; the data
// offset is the high nibble of the byte before it.
const (
	tcpFlagsOffset = 13
	tcpDoffOffset  = 12
)

// maxPayloadOffset bounds a payload load: the kernel keeps its offset and
// length in a byte each (NFTA_PAYLOAD_OFFSET is at most 255 since 6.x, a u8
// field before).
const maxPayloadOffset = 255

// payloadBaseInner is nft's `@ih`: the transport payload.
const payloadBaseInner expr.PayloadBase = 3

// limitExpr is the kernel's form of l: never "over", so it matches while
// the rate holds.
func limitExpr(l rules.Limit) (*expr.Limit, error) {
	unit, ok := limitUnits[l.Unit]
	if !ok {
		return nil, fmt.Errorf("limit unit %q", l.Unit)
	}
	typ := expr.LimitTypePkts
	if l.Bytes {
		typ = expr.LimitTypePktBytes
	}
	return &expr.Limit{Type: typ, Rate: l.Rate, Unit: unit, Burst: l.Burst}, nil
}

var limitUnits = map[string]expr.LimitTime{
	"second": expr.LimitTimeSecond, "minute": expr.LimitTimeMinute, "hour": expr.LimitTimeHour,
	"day": expr.LimitTimeDay, "week": expr.LimitTimeWeek,
}

func (e *encoder) meta(s rules.Meta) error {
	switch s.Key {
	case rules.MetaNFProto:
		var f rules.Family
		switch s.Value {
		case "ipv4":
			f = rules.IPv4
		case "ipv6":
			f = rules.IPv6
		default:
			return fmt.Errorf("meta nfproto %q", s.Value)
		}
		if e.ctx.nfproto != 0 && e.ctx.nfproto != f {
			return fmt.Errorf("conflicting protocols: the rule matches %s and %s", e.ctx.nfproto.NFProto(), s.Value)
		}
		e.ctx.nfproto = f
		e.add(false, metaCmp(expr.MetaKeyNFPROTO, []byte{nfprotoNumber(f)})...)
	case rules.MetaL4Proto:
		p, ok := rules.L4ProtoNumber(s.Value)
		if !ok {
			return fmt.Errorf("meta l4proto %q", s.Value)
		}
		if e.ctx.l4set && e.ctx.l4proto != p {
			return fmt.Errorf("conflicting protocols: meta l4proto %s after another transport match", s.Value)
		}
		e.ctx.l4proto, e.ctx.l4set = p, true
		e.add(false, metaCmp(expr.MetaKeyL4PROTO, []byte{p})...)
	case rules.MetaIIF, rules.MetaOIF:
		if e.res == nil {
			return fmt.Errorf("no interface resolver for %s", s.Key)
		}
		idx, err := e.res.ifIndex(s.Value)
		if err != nil {
			return err
		}
		key := expr.MetaKeyIIF
		if s.Key == rules.MetaOIF {
			key = expr.MetaKeyOIF
		}
		e.add(false, metaCmp(key, binaryutil.NativeEndian.PutUint32(idx))...)
	default:
		return fmt.Errorf("meta key %q", s.Key)
	}
	return nil
}

func (e *encoder) addrMatch(s rules.AddrMatch) error {
	if s.Family != rules.IPv4 && s.Family != rules.IPv6 {
		return fmt.Errorf("address family %d", s.Family)
	}
	if err := e.needFamily(s.Family); err != nil {
		return err
	}
	off, size := addrField(s.Family, s.Field)
	load := &expr.Payload{DestRegister: reg, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: size}
	if s.Set != "" {
		e.add(false, load, &expr.Lookup{SourceRegister: reg, SetName: s.Set, SetID: e.setID(s.Set), Invert: s.Neg})
		return nil
	}
	p := s.Prefix
	if !p.IsValid() || p.Addr().BitLen() != int(size)*8 {
		return fmt.Errorf("prefix %s does not match family %s", p, s.Family.Proto())
	}
	p = p.Masked()
	op := expr.CmpOpEq
	if s.Neg {
		op = expr.CmpOpNeq
	}
	addr := p.Addr().AsSlice()
	bits := p.Bits()
	switch {
	case p.IsSingleIP():
		// nft reads a single address as a constant, which it may merge
		// with an adjacent constant match.
		e.addPM(payloadMatch{base: expr.PayloadBaseNetworkHeader, off: off, len: size, op: op, data: addr})
	case bits%8 == 0 && bits > 0:
		// A byte-aligned prefix loads only its bytes, no mask.
		n := uint32(bits / 8)
		load.Len = n
		e.add(false, load, &expr.Cmp{Op: op, Register: reg, Data: addr[:n]})
	default:
		mask := netip.PrefixFrom(netip.IPv6Unspecified(), bits)
		if s.Family == rules.IPv4 {
			mask = netip.PrefixFrom(netip.IPv4Unspecified(), bits)
		}
		e.add(false, load,
			&expr.Bitwise{SourceRegister: reg, DestRegister: reg, Len: size, Mask: prefixMask(mask), Xor: make([]byte, size)},
			&expr.Cmp{Op: op, Register: reg, Data: addr})
	}
	return nil
}

// prefixMask is the netmask of p: Bits leading ones over p's address length.
func prefixMask(p netip.Prefix) []byte {
	b := make([]byte, p.Addr().BitLen()/8)
	for i := range p.Bits() {
		b[i/8] |= 0x80 >> (i % 8)
	}
	return b
}

func (e *encoder) dynset(s rules.DynsetUpdate) error {
	var op uint32
	switch s.Op {
	case rules.SetAdd:
		op = unix.NFT_DYNSET_OP_ADD
	case rules.SetUpdate:
		op = unix.NFT_DYNSET_OP_UPDATE
	default:
		return fmt.Errorf("set operation %q", s.Op)
	}
	var key []expr.Any
	if s.Key.NFProto {
		key = []expr.Any{&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: reg}}
	} else {
		if err := e.needFamily(s.Key.Family); err != nil {
			return err
		}
		off, size := addrField(s.Key.Family, s.Key.Field)
		key = []expr.Any{&expr.Payload{DestRegister: reg, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: size}}
		if s.Key.Bits > 0 && s.Key.Bits < int(size)*8 {
			key = append(key, &expr.Bitwise{SourceRegister: reg, DestRegister: reg, Len: size,
				Mask: s.Key.Mask().AsSlice(), Xor: make([]byte, size)})
		}
	}
	d := &expr.Dynset{SrcRegKey: reg, SetName: s.Set, SetID: e.setID(s.Set), Operation: op}
	switch {
	case s.Quota > 0 && s.Limit != nil:
		return fmt.Errorf("set statement with both a quota and a limit")
	case s.Quota > 0:
		d.Exprs = []expr.Any{&expr.Quota{Bytes: s.Quota}}
	case s.Limit != nil:
		l, err := limitExpr(*s.Limit)
		if err != nil {
			return err
		}
		d.Exprs = []expr.Any{l}
	}
	e.add(true, append(key, d)...)
	return nil
}

// mergePayloads does what nft does before it generates bytecode: within a
// run of match statements (a non-match statement ends the run), constant
// payload matches with the same operator on adjacent bytes of the same
// header become one load and one comparison, as long as the result still
// fits the kernel's fast path (at most 4 bytes, or a merge of something
// already longer), e.g. `udp sport 67 udp dport 68` loads 4 bytes.
func mergePayloads(items []item) {
	var run []int
	flush := func() {
		if len(run) > 1 {
			mergeRun(items, run)
		}
		run = run[:0]
	}
	for i, it := range items {
		switch {
		case it.brk:
			flush()
		case it.pm != nil:
			run = append(run, i)
		}
	}
	flush()
}

func mergeRun(items []item, run []int) {
	sortby.StableFunc(run, func(a, b int) int {
		pa, pb := items[a].pm, items[b].pm
		return cmp.Or(cmp.Compare(pa.base, pb.base), cmp.Compare(pa.off, pb.off))
	})
	last := items[run[0]].pm
	for _, i := range run[1:] {
		this := items[i].pm
		if !canMerge(last, this) {
			last = this
			continue
		}
		last.len += this.len
		last.data = append(slices.Clip(last.data), this.data...)
		items[i].drop = true
	}
}

func canMerge(a, b *payloadMatch) bool {
	if a.base != b.base || a.off+a.len != b.off || a.op != b.op {
		return false
	}
	total := a.len + b.len
	if total > 16 {
		return false
	}
	return total <= 4 || a.base == expr.PayloadBaseLLHeader || a.len > 4 || b.len > 4
}
