package trace

import (
	"net/netip"
	"time"

	"github.com/devfence/devfence/rules"
)

// The conntrack model is the least of nf_conntrack that devfence's rules
// can tell apart: per 5-tuple flow, whether a reply was seen, TCP's
// handshake (SYN_SENT, SYN_RECV, ESTABLISHED), the assured bit, the mark,
// and the timeouts that end a flow. Sequence numbers, windows, FIN states
// and the table's size are not modelled (docs/EXPLAIN.md, "Model").

// ctUntracked is nft's `ct state untracked` bit: conntrack leaves ICMPv6
// neighbour discovery and MLD alone.
const ctUntracked rules.CtStates = 1 << 6

type tcpState uint8

const (
	tcpNone tcpState = iota
	tcpSynSent
	tcpSynRecv
	tcpEstablished
)

// Timeouts of the kernel's defaults (nf_conntrack_*_timeout*).
const (
	tcpSynSentTimeout     = 120 * time.Second
	tcpSynRecvTimeout     = 60 * time.Second
	tcpEstablishedTimeout = 5 * 24 * time.Hour
	udpTimeout            = 30 * time.Second
	udpStreamTimeout      = 120 * time.Second
	icmpTimeout           = 30 * time.Second
	// udpStreamAfter: a UDP flow that has seen a reply becomes assured
	// (a stream) only on a packet more than 2 s after its first one
	// (nf_conntrack_udp_packet, Linux 5.16 and later).
	udpStreamAfter = 2 * time.Second
)

type tuple struct {
	proto    string
	src, dst netip.AddrPort
}

func (t tuple) reverse() tuple { return tuple{t.proto, t.dst, t.src} }

type flow struct {
	orig      tuple
	tcp       tcpState
	seenReply bool
	assured   bool
	mark      uint32
	first     time.Duration
	expires   time.Duration
}

// ctView is one packet's conntrack view at the filter hook.
type ctView struct {
	flow   *flow // nil: invalid or untracked, no connection to read
	reply  bool
	state  rules.CtStates
	status rules.CtStatusBits
	mark   uint32
	// insert: the flow is new and enters the table only if the packet is
	// accepted (conntrack confirms after the filter hooks).
	insert bool
	kill   bool // a RST ends the flow after this packet
	setBit uint32
}

type conntrack struct {
	flows map[tuple]*flow
}

func newConntrack() *conntrack { return &conntrack{flows: map[tuple]*flow{}} }

func (c *conntrack) expire(now time.Duration) {
	for k, f := range c.flows {
		if f.expires <= now {
			delete(c.flows, k)
		}
	}
}

func (p *Packet) tuple() tuple {
	t := tuple{proto: p.Proto, src: p.Src, dst: p.Dst}
	if p.Proto == "icmp" || p.Proto == "icmpv6" {
		t.src = netip.AddrPortFrom(p.Src.Addr(), 0)
		t.dst = netip.AddrPortFrom(p.Dst.Addr(), 0)
	}
	return t
}

// Flow reports whether a flow holds the packet's 5-tuple in either
// direction, and which.
func (c *conntrack) find(p *Packet) (*flow, bool) {
	t := p.tuple()
	if f, ok := c.flows[t]; ok {
		return f, false
	}
	if f, ok := c.flows[t.reverse()]; ok {
		return f, true
	}
	return nil, false
}

// ICMP types that open a flow, and ICMPv6 types conntrack leaves
// untracked (icmp_new, icmpv6_new, noct_valid_new).
var (
	icmpOpens       = map[uint8]bool{8: true, 13: true, 15: true, 17: true}
	icmpv6Opens     = map[uint8]bool{128: true, 139: true}
	icmpv6Untracked = map[uint8]bool{130: true, 131: true, 132: true, 133: true, 134: true, 135: true, 136: true, 137: true, 143: true}
)

// track runs the packet through conntrack as the hook before the filter
// does: find or start its flow and move the flow's state.
func (c *conntrack) track(p *Packet, now time.Duration) ctView {
	c.expire(now)
	f, reply := c.find(p)
	if f == nil {
		return c.start(p, now)
	}
	v := ctView{flow: f, reply: reply}
	seenBefore := f.seenReply
	switch p.Proto {
	case "tcp":
		syn, ack, rst := p.Flags&rules.TCPSyn != 0, p.Flags&rules.TCPAck != 0, p.Flags&rules.TCPRst != 0
		switch {
		case rst:
			v.kill = true
		case f.tcp == tcpSynSent && reply && syn && ack:
			f.tcp = tcpSynRecv
			f.expires = now + tcpSynRecvTimeout
		case f.tcp == tcpSynSent && !reply && syn && !ack:
			f.expires = now + tcpSynSentTimeout // retransmitted SYN
		case f.tcp == tcpSynSent:
			return ctView{state: rules.CtInvalid}
		case f.tcp == tcpSynRecv && !reply && ack && !syn:
			f.tcp = tcpEstablished
			f.assured = true
			f.expires = now + tcpEstablishedTimeout
		case f.tcp == tcpSynRecv:
			f.expires = now + tcpSynRecvTimeout
		case f.tcp == tcpEstablished:
			if seenBefore {
				// A valid answer on a picked-up connection.
				f.assured = true
			}
			f.expires = now + tcpEstablishedTimeout
		}
	case "udp":
		f.expires = now + udpTimeout
		if seenBefore && now > f.first+udpStreamAfter {
			f.assured = true
			f.expires = now + udpStreamTimeout
		}
	default:
		f.expires = now + icmpTimeout
	}
	if reply {
		f.seenReply = true
	}
	v.mark = f.mark
	v.status = f.status()
	v.state = rules.CtNew
	if reply || f.seenReply {
		v.state = rules.CtEstablished
	}
	return v
}

// start is conntrack's view of a packet that no flow holds.
func (c *conntrack) start(p *Packet, now time.Duration) ctView {
	f := &flow{orig: p.tuple(), first: now}
	switch p.Proto {
	case "tcp":
		syn, ack, rst, fin := p.Flags&rules.TCPSyn != 0, p.Flags&rules.TCPAck != 0, p.Flags&rules.TCPRst != 0, p.Flags&rules.TCPFin != 0
		switch {
		case syn && !ack && !rst && !fin:
			f.tcp = tcpSynSent
			f.expires = now + tcpSynSentTimeout
		case ack && !syn && !rst && !fin:
			// nf_conntrack_tcp_loose: a mid-stream ACK picks the
			// connection up.
			f.tcp = tcpEstablished
			f.expires = now + tcpEstablishedTimeout
		default:
			return ctView{state: rules.CtInvalid}
		}
	case "udp":
		f.expires = now + udpTimeout
	case "icmp":
		if !icmpOpens[p.ICMPType] {
			return ctView{state: rules.CtInvalid}
		}
		f.expires = now + icmpTimeout
	case "icmpv6":
		if icmpv6Untracked[p.ICMPType] {
			return ctView{state: ctUntracked}
		}
		if !icmpv6Opens[p.ICMPType] {
			return ctView{state: rules.CtInvalid}
		}
		f.expires = now + icmpTimeout
	}
	return ctView{flow: f, state: rules.CtNew, status: f.status(), insert: true}
}

func (f *flow) status() rules.CtStatusBits {
	var s rules.CtStatusBits
	if f.seenReply {
		s |= rules.CtSeenReply
	}
	if f.assured {
		s |= rules.CtAssured
	}
	return s
}

// override applies what the packet says about its conntrack view over
// what the model found. A forced state on a packet without a flow gives
// it one for this packet only.
func (v *ctView) override(p *Packet) {
	o := p.Ct
	if o.State != 0 {
		switch {
		case o.State == rules.CtInvalid:
			*v = ctView{state: rules.CtInvalid}
			return
		case v.flow == nil:
			*v = ctView{flow: &flow{orig: p.tuple()}}
		}
		v.state = o.State
	}
	if o.Reply != nil && v.flow != nil {
		v.reply = *o.Reply
	}
	v.status |= o.Status
	v.mark |= o.Mark
}

// commit records, after the verdict, what the packet left in the table.
func (c *conntrack) commit(v ctView, accepted bool) {
	f := v.flow
	if f == nil {
		return
	}
	f.mark |= v.setBit
	switch {
	case v.kill:
		delete(c.flows, f.orig)
	case v.insert && accepted:
		c.flows[f.orig] = f
	}
}
