package trace

import (
	"bytes"
	"fmt"
	"net/netip"
	"time"

	"github.com/devfence/devfence/rules"
)

// evaluation is one packet in one rule.
type evaluation struct {
	t       *Tracer
	p       *Packet
	ct      *ctView
	chain   string
	ruleIdx int
}

// rule runs r's statements left to right, as nf_tables does: a statement
// that does not hold ends the rule (NFT_BREAK) and the chain goes on; a
// verdict ends the chain.
func (e *evaluation) run(r *rules.Rule, rt *RuleTrace) (rules.VerdictKind, error) {
	for i, s := range r.Stmts {
		ok, why, err := e.stmt(s, i, rt)
		if err != nil {
			return "", fmt.Errorf("%s: %w", s, err)
		}
		if !ok {
			rt.Stop = s.String() + ": " + why
			switch s.(type) {
			case rules.DynsetUpdate, rules.Limit:
				rt.Metered = true
			}
			return "", nil
		}
		if v, isVerdict := s.(rules.Verdict); isVerdict {
			rt.Matched = true
			return v.Kind, nil
		}
	}
	rt.Matched = true
	return "", nil
}

// stmt reports whether s holds for the packet (or, for a statement that
// acts, whether the rule goes on), and if not, why.
func (e *evaluation) stmt(s rules.Stmt, idx int, rt *RuleTrace) (bool, string, error) {
	p, ct := e.p, e.ct
	switch s := s.(type) {
	case rules.Meta:
		return e.meta(s)
	case rules.CtState:
		return ct.state&s.States != 0, "ct state is " + stateName(ct.state), nil
	case rules.CtStatus:
		if ct.flow == nil {
			return false, "no connection", nil
		}
		has := ct.status&s.Bits != 0
		return has != s.Neg, fmt.Sprintf("ct status is %s", statusNames(ct.status)), nil
	case rules.CtDirection:
		if ct.flow == nil {
			return false, "no connection", nil
		}
		return ct.reply == s.Reply, "ct direction is " + dirName(ct.reply), nil
	case rules.CtMark:
		if ct.flow == nil {
			return false, "no connection", nil
		}
		return ct.mark&s.Mask == s.Value, fmt.Sprintf("ct mark is 0x%x", ct.mark), nil
	case rules.CtMarkOr:
		if ct.flow == nil {
			return false, "no connection", nil
		}
		ct.mark |= s.Bits
		ct.setBit |= s.Bits
		rt.Effects = append(rt.Effects, fmt.Sprintf("ct mark |= 0x%x (now 0x%x)", s.Bits, ct.mark))
		return true, "", nil
	case rules.TCPFlags:
		if p.Proto != "tcp" {
			return false, "not tcp", nil
		}
		has := p.Flags&s.Bits != 0
		return has != s.Neg, "tcp flags are " + flagNames(p.Flags), nil
	case rules.AddrMatch:
		return e.addr(s)
	case rules.PortMatch:
		if p.Proto != s.Proto {
			return false, "not " + s.Proto, nil
		}
		port := p.Dst.Port()
		if s.Field == rules.Src {
			port = p.Src.Port()
		}
		return port >= s.Lo && port <= s.Hi, fmt.Sprintf("port is %d", port), nil
	case rules.ICMPType:
		proto := "icmp"
		if s.V6 {
			proto = "icmpv6"
		}
		if p.Proto != proto {
			return false, "not " + proto, nil
		}
		return p.ICMPType == s.Type, fmt.Sprintf("type is %d", p.ICMPType), nil
	case rules.HopLimit:
		if p.Family() != rules.IPv6 {
			return false, "not ipv6", nil
		}
		return p.HopLimit == s.Value, fmt.Sprintf("hop limit is %d", p.HopLimit), nil
	case rules.InnerPayload:
		return e.payload(int(s.Offset), s.Data)
	case rules.PayloadPresent:
		return p.payloadLen() > 0, "no payload", nil
	case rules.TCPDataOffset:
		if p.Proto != "tcp" {
			return false, "not tcp", nil
		}
		return p.doff() == int(s.Words), fmt.Sprintf("tcp doff is %d", p.doff()), nil
	case rules.TransportPayload:
		return e.transport(s.Offset, s.Data)
	case rules.TransportPayloadPresent:
		return e.transport(s.Offset, nil)
	case rules.FibSaddrLocal:
		local := e.isLocal(p.Src.Addr())
		why := "source is not local"
		if local {
			why = "source is local"
		}
		return local != s.Neg, why, nil
	case rules.DynsetUpdate:
		return e.dynset(s, rt)
	case rules.Limit:
		k := limitKey{e.chain, e.ruleIdx, idx}
		b := e.t.limits[k]
		if b == nil {
			nb, err := newBucket(s, e.t.now)
			if err != nil {
				return false, "", err
			}
			b = nb
			e.t.limits[k] = b
		}
		return b.take(e.t.now), "rate exceeded", nil
	case rules.Log:
		rt.Effects = append(rt.Effects, fmt.Sprintf("logged to NFLOG group %d", s.Group))
		return true, "", nil
	case rules.Counter:
		rt.Effects = append(rt.Effects, "counted")
		return true, "", nil
	case rules.Verdict:
		if s.Kind != rules.Accept && s.Kind != rules.Drop {
			return false, "", fmt.Errorf("verdict %q is not interpreted", s.Kind)
		}
		return true, "", nil
	case rules.Raw:
		return false, "", fmt.Errorf("a raw expression is not interpreted")
	default:
		return false, "", fmt.Errorf("statement %T is not interpreted", s)
	}
}

func (e *evaluation) meta(m rules.Meta) (bool, string, error) {
	p := e.p
	switch m.Key {
	case rules.MetaNFProto:
		have := p.Family().NFProto()
		return have == m.Value, "nfproto is " + have, nil
	case rules.MetaL4Proto:
		return p.L4Proto() == m.Value, "l4proto is " + p.L4Proto(), nil
	case rules.MetaIIF:
		if p.Hook != rules.HookInput {
			return false, "no input interface at " + string(p.Hook), nil
		}
		return p.Iface == m.Value, "iif is " + p.Iface, nil
	case rules.MetaOIF:
		if p.Hook != rules.HookOutput {
			return false, "no output interface at " + string(p.Hook), nil
		}
		return p.Iface == m.Value, "oif is " + p.Iface, nil
	}
	return false, "", fmt.Errorf("meta key %q is not interpreted", m.Key)
}

func (e *evaluation) addr(a rules.AddrMatch) (bool, string, error) {
	p := e.p
	if p.Family() != a.Family {
		return false, "not " + a.Family.NFProto(), nil
	}
	addr := p.Dst.Addr()
	if a.Field == rules.Src {
		addr = p.Src.Addr()
	}
	var in bool
	if a.Set == "" {
		in = a.Prefix.Contains(addr)
	} else {
		s := e.t.table.Set(a.Set)
		if s == nil {
			return false, "", fmt.Errorf("no set %q in the table", a.Set)
		}
		if s.Dynamic() {
			d := e.t.sets[s.Name]
			d.prune(e.t.now)
			_, in = d.elems[elemKey{addr: addr}]
		} else {
			in = staticMember(s, addr)
		}
	}
	why := addr.String() + " is not in it"
	if in {
		why = addr.String() + " is in it"
	}
	return in != a.Neg, why, nil
}

// staticMember is a lookup in a set of the profile: intervals by range,
// other sets by key.
func staticMember(s *rules.Set, a netip.Addr) bool {
	for _, el := range s.Elements {
		if s.Flags&rules.FlagInterval != 0 {
			if el.From.Compare(a) <= 0 && a.Compare(el.To) <= 0 {
				return true
			}
		} else if el.From == a {
			return true
		}
	}
	return false
}

func (e *evaluation) isLocal(a netip.Addr) bool {
	if a.IsLoopback() {
		return true
	}
	for _, l := range e.t.local {
		if l == a {
			return true
		}
	}
	return false
}

// payload compares the transport payload at off with want. A packet
// without those bytes ends the rule, as the kernel's failed load does.
func (e *evaluation) payload(off int, want []byte) (bool, string, error) {
	p := e.p
	if p.payloadLen() < off+len(want) {
		return false, fmt.Sprintf("payload has %d bytes", p.payloadLen()), nil
	}
	if len(p.Payload) < off+len(want) {
		return false, "", fmt.Errorf("the rule reads payload bytes %d-%d; give them with `data`", off, off+len(want)-1)
	}
	got := p.Payload[off : off+len(want)]
	return bytes.Equal(got, want), fmt.Sprintf("payload is %q", got), nil
}

// transport reads at an offset from the start of the TCP header: the
// header itself is not modelled, the payload after it is.
func (e *evaluation) transport(off uint32, want []byte) (bool, string, error) {
	if e.p.Proto != "tcp" {
		return false, "", fmt.Errorf("@th is interpreted on tcp only")
	}
	hdr := uint32(e.p.doff() * 4)
	if off < hdr {
		return false, "", fmt.Errorf("@th reads the TCP header at byte %d, which is not modelled", off)
	}
	if want == nil {
		return e.p.payloadLen() > int(off-hdr), "no payload there", nil
	}
	return e.payload(int(off-hdr), want)
}

// dynset adds or updates the packet's key and runs the element's quota
// or limit: nft_dynset, then the element's expressions.
func (e *evaluation) dynset(d rules.DynsetUpdate, rt *RuleTrace) (bool, string, error) {
	ds := e.t.sets[d.Set]
	if ds == nil {
		return false, "", fmt.Errorf("no dynamic set %q in the table", d.Set)
	}
	key, err := e.key(d.Key)
	if err != nil {
		return false, "", err
	}
	if !key.valid {
		return false, "not " + d.Key.Family.NFProto(), nil
	}
	now := e.t.now
	ds.prune(now)
	el := ds.elems[key.k]
	if el == nil {
		if ds.set.Size > 0 && len(ds.elems) >= int(ds.set.Size) {
			return false, fmt.Sprintf("@%s is full (%d elements)", d.Set, ds.set.Size), nil
		}
		el = &element{}
		if ds.set.Timeout > 0 {
			el.expires = now + ds.set.Timeout
		}
		if d.Limit != nil {
			b, err := newBucket(*d.Limit, now)
			if err != nil {
				return false, "", err
			}
			el.bucket = b
		}
		ds.elems[key.k] = el
		rt.Effects = append(rt.Effects, fmt.Sprintf("%s %s to @%s%s", "added", key.k, d.Set, expiry(ds.set.Timeout)))
	} else if d.Op == rules.SetUpdate && ds.set.Timeout > 0 {
		el.expires = now + ds.set.Timeout
		rt.Effects = append(rt.Effects, fmt.Sprintf("refreshed %s in @%s%s", key.k, d.Set, expiry(ds.set.Timeout)))
	} else if d.Op != rules.SetAdd && d.Op != rules.SetUpdate {
		return false, "", fmt.Errorf("set operation %q is not interpreted", d.Op)
	}
	switch {
	case d.Quota > 0:
		el.used += uint64(e.p.Len())
		if el.used >= d.Quota {
			return false, fmt.Sprintf("quota of %s in @%s spent (%d of %d bytes)", key.k, d.Set, el.used, d.Quota), nil
		}
		rt.Effects = append(rt.Effects, fmt.Sprintf("%s in @%s has used %d of %d bytes", key.k, d.Set, el.used, d.Quota))
	case d.Limit != nil:
		if el.bucket == nil {
			return false, "", fmt.Errorf("element %s of @%s has no limit", key.k, d.Set)
		}
		if !el.bucket.take(now) {
			return false, fmt.Sprintf("rate of %s in @%s exceeded", key.k, d.Set), nil
		}
	}
	return true, "", nil
}

func expiry(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return ", expires in " + d.String()
}

type resolvedKey struct {
	k     elemKey
	valid bool // the packet has the key's family
}

func (e *evaluation) key(k rules.Key) (resolvedKey, error) {
	p := e.p
	if k.NFProto {
		proto := byte(nfprotoIPv4)
		if p.Family() == rules.IPv6 {
			proto = nfprotoIPv6
		}
		return resolvedKey{k: elemKey{proto: proto}, valid: true}, nil
	}
	if p.Family() != k.Family {
		return resolvedKey{}, nil
	}
	a := p.Dst.Addr()
	if k.Field == rules.Src {
		a = p.Src.Addr()
	}
	if k.Bits > 0 && k.Bits < a.BitLen() {
		pre, err := a.Prefix(k.Bits)
		if err != nil {
			return resolvedKey{}, err
		}
		a = pre.Addr()
	}
	return resolvedKey{k: elemKey{addr: a}, valid: true}, nil
}

func stateName(s rules.CtStates) string {
	return (&ctView{state: s}).info().State
}

func dirName(reply bool) string {
	if reply {
		return "reply"
	}
	return "original"
}

func statusNames(s rules.CtStatusBits) string {
	n := (&ctView{status: s}).info().Status
	if len(n) == 0 {
		return "none"
	}
	out := n[0]
	for _, x := range n[1:] {
		out += "," + x
	}
	return out
}
