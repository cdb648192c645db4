package rules

import (
	"encoding/hex"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Stmt is one statement of a rule: a match, a set update, a log, a verdict.
// String is its `nft -f` text.
type Stmt interface {
	fmt.Stringer
	stmt()
}

// Family is the IP family of an address match or key.
type Family uint8

const (
	IPv4 Family = 4
	IPv6 Family = 6
)

// Proto is nft's keyword for the family's header ("ip", "ip6").
func (f Family) Proto() string {
	if f == IPv6 {
		return "ip6"
	}
	return "ip"
}

// NFProto is nft's name of the family in `meta nfproto`.
func (f Family) NFProto() string {
	if f == IPv6 {
		return "ipv6"
	}
	return "ipv4"
}

// Suffix tells a family's sets apart: "v4", "v6".
func (f Family) Suffix() string { return "v" + strconv.Itoa(int(f)) }

// MetaKey is a meta expression key.
type MetaKey string

const (
	MetaNFProto MetaKey = "nfproto"
	MetaL4Proto MetaKey = "l4proto"
	MetaIIF     MetaKey = "iif"
	MetaOIF     MetaKey = "oif"
)

// Meta matches packet metadata: `meta nfproto ipv4`, `meta l4proto tcp`,
// `iif "lo"`.
type Meta struct {
	Key   MetaKey
	Value string
}

func (m Meta) String() string {
	switch m.Key {
	case MetaIIF, MetaOIF:
		return string(m.Key) + " " + quote(m.Value)
	}
	return "meta " + string(m.Key) + " " + m.Value
}

// CtStates is a bitmask of conntrack states, in the kernel's bit order.
type CtStates uint32

const (
	CtInvalid     CtStates = 1 << 0
	CtEstablished CtStates = 1 << 1
	CtRelated     CtStates = 1 << 2
	CtNew         CtStates = 1 << 3
)

var ctStateNames = []struct {
	bit  CtStates
	name string
}{{CtInvalid, "invalid"}, {CtEstablished, "established"}, {CtRelated, "related"}, {CtNew, "new"}}

// CtState matches `ct state established,related`.
type CtState struct{ States CtStates }

func (c CtState) String() string {
	var names []string
	for _, s := range ctStateNames {
		if c.States&s.bit != 0 {
			names = append(names, s.name)
		}
	}
	return "ct state " + strings.Join(names, ",")
}

// CtStatusBits is a bitmask of conntrack status bits (the kernel's IPS_*),
// in the kernel's bit order.
type CtStatusBits uint32

const (
	CtExpected  CtStatusBits = 1 << 0
	CtSeenReply CtStatusBits = 1 << 1
	// CtAssured is set by conntrack when a TCP connection's handshake has
	// completed: a valid ACK moved it from SYN_RECV to ESTABLISHED (or a
	// picked-up connection got a valid answer). A SYN, retransmitted or
	// not, and a SYN-ACK never set it.
	CtAssured   CtStatusBits = 1 << 2
	CtConfirmed CtStatusBits = 1 << 3
	CtSNAT      CtStatusBits = 1 << 4
	CtDNAT      CtStatusBits = 1 << 5
	CtDying     CtStatusBits = 1 << 9
)

// ctStatusNames are nft's names of the status bits, in bit order as nft
// lists them.
var ctStatusNames = []struct {
	bit  CtStatusBits
	name string
}{{CtExpected, "expected"}, {CtSeenReply, "seen-reply"}, {CtAssured, "assured"}, {CtConfirmed, "confirmed"},
	{CtSNAT, "snat"}, {CtDNAT, "dnat"}, {CtDying, "dying"}}

// CtStatus matches a connection with any of the status bits set:
// `ct status assured`; with Neg, one with none of them set: `ct status !
// assured`, which is how nft lists (and reads) `ct status & assured == 0`.
type CtStatus struct {
	Bits CtStatusBits
	Neg  bool
}

func (c CtStatus) String() string {
	if c.Neg {
		return "ct status ! " + strings.Join(c.names(), ",")
	}
	return "ct status " + strings.Join(c.names(), ",")
}

// names lists the bits by nft's names; a bit without one (which only a
// rule read back from the kernel can hold) as a number, as nft lists and
// reads it.
func (c CtStatus) names() []string {
	var names []string
	rest := c.Bits
	for _, s := range ctStatusNames {
		if c.Bits&s.bit != 0 {
			names = append(names, s.name)
			rest &^= s.bit
		}
	}
	for bit := CtStatusBits(1); rest != 0; bit <<= 1 {
		if rest&bit != 0 {
			names = append(names, fmt.Sprintf("0x%x", uint32(bit)))
			rest &^= bit
		}
	}
	return names
}

// CtMark matches bits of the connection's mark: `ct mark & 0x80000000 ==
// 0x0`. Mask selects the bits, Value is what they must hold.
type CtMark struct{ Mask, Value uint32 }

func (c CtMark) String() string { return fmt.Sprintf("ct mark & 0x%x == 0x%x", c.Mask, c.Value) }

// CtMarkOr sets bits of the connection's mark and keeps the others, which
// may belong to other software: `ct mark set ct mark | 0x80000000`.
type CtMarkOr struct{ Bits uint32 }

func (c CtMarkOr) String() string { return fmt.Sprintf("ct mark set ct mark | 0x%x", c.Bits) }

// TCPFlagBits is a bitmask of TCP header flags, as in the header's
// 14th byte.
type TCPFlagBits uint8

const (
	TCPFin TCPFlagBits = 1 << iota
	TCPSyn
	TCPRst
	TCPPsh
	TCPAck
	TCPUrg
	TCPEcn
	TCPCwr
)

// tcpFlagNames are nft's names of the TCP flags, in bit order as nft lists
// them.
var tcpFlagNames = []string{"fin", "syn", "rst", "psh", "ack", "urg", "ecn", "cwr"}

// TCPFlags matches a TCP segment with any of the flags set: `tcp flags
// syn,ack`; with Neg, one with none of them set: `tcp flags ! syn,rst`,
// which is how nft 1.0.6 lists (and reads) `tcp flags & (syn | rst) == 0`.
type TCPFlags struct {
	Bits TCPFlagBits
	Neg  bool
}

func (f TCPFlags) String() string {
	if f.Neg {
		return "tcp flags ! " + strings.Join(f.names(), ",")
	}
	return "tcp flags " + strings.Join(f.names(), ",")
}

func (f TCPFlags) names() []string {
	var names []string
	for i, name := range tcpFlagNames {
		if f.Bits&(1<<i) != 0 {
			names = append(names, name)
		}
	}
	return names
}

// CtDirection matches the packet's direction in its connection.
type CtDirection struct{ Reply bool }

func (c CtDirection) String() string {
	if c.Reply {
		return "ct direction reply"
	}
	return "ct direction original"
}

// AddrField picks the source or destination address or port.
type AddrField uint8

const (
	Src AddrField = iota
	Dst
)

func (f AddrField) addr() string {
	if f == Src {
		return "saddr"
	}
	return "daddr"
}

func (f AddrField) port() string {
	if f == Src {
		return "sport"
	}
	return "dport"
}

// AddrMatch matches an address against a named set or a prefix.
type AddrMatch struct {
	Family Family
	Field  AddrField
	Set    string       // a named set, or
	Prefix netip.Prefix // a single prefix
	Neg    bool
}

func (a AddrMatch) String() string {
	op := ""
	if a.Neg {
		op = "!= "
	}
	val := "@" + a.Set
	if a.Set == "" {
		val = a.Prefix.String()
		if a.Prefix.IsSingleIP() {
			val = a.Prefix.Addr().String()
		}
	}
	return a.Family.Proto() + " " + a.Field.addr() + " " + op + val
}

// PortMatch matches a TCP or UDP port or inclusive port range.
type PortMatch struct {
	Proto  string // "tcp" or "udp"
	Field  AddrField
	Lo, Hi uint16
}

func (p PortMatch) String() string {
	s := p.Proto + " " + p.Field.port() + " " + strconv.Itoa(int(p.Lo))
	if p.Lo != p.Hi {
		s += "-" + strconv.Itoa(int(p.Hi))
	}
	return s
}

// ICMPType matches one ICMP (V6 false) or ICMPv6 type.
type ICMPType struct {
	V6   bool
	Type uint8
}

func (i ICMPType) String() string {
	proto, names := "icmp", icmpNames
	if i.V6 {
		proto, names = "icmpv6", icmpv6Names
	}
	if name, ok := names[i.Type]; ok {
		return fmt.Sprintf("%s type %s", proto, name)
	}
	return fmt.Sprintf("%s type %d", proto, i.Type)
}

// HopLimit matches the IPv6 hop limit; 255 proves a packet is on-link.
type HopLimit struct{ Value uint8 }

func (h HopLimit) String() string { return fmt.Sprintf("ip6 hoplimit %d", h.Value) }

// InnerPayload matches the first bytes of the transport payload (`@ih`),
// e.g. a clear-to-send banner. Offset is in bytes from the payload start.
type InnerPayload struct {
	Offset uint32
	Data   []byte
}

func (p InnerPayload) String() string {
	return fmt.Sprintf("@ih,%d,%d 0x%s", p.Offset*8, len(p.Data)*8, hex.EncodeToString(p.Data))
}

// PayloadPresent matches a packet that carries at least one byte of
// transport payload. It loads the first payload byte (`@ih,0,8`), which the
// kernel cannot do when there is none, and that ends the rule; the mask of
// 0 makes every byte match. nft keeps the load, mask and compare as written.
type PayloadPresent struct{}

func (PayloadPresent) String() string { return "@ih,0,8 & 0x0 == 0x0" }

// FibSaddrLocal matches whether the source address is one of this host's.
type FibSaddrLocal struct{ Neg bool }

func (f FibSaddrLocal) String() string {
	if f.Neg {
		return "fib saddr type != local"
	}
	return "fib saddr type local"
}

// SetOp is how a rule writes to a dynamic set.
type SetOp string

const (
	// SetAdd inserts the key if it is missing and leaves an existing
	// element's timeout alone: a quota window runs from the first packet.
	SetAdd SetOp = "add"
	// SetUpdate inserts or refreshes the element's timeout.
	SetUpdate SetOp = "update"
)

// Key is what a dynamic set is keyed on: a (masked) address, or the family.
type Key struct {
	NFProto bool
	Family  Family
	Field   AddrField
	Bits    int // prefix length kept of the address; 0 keeps all of it
}

func (k Key) String() string {
	if k.NFProto {
		return "meta nfproto"
	}
	s := k.Family.Proto() + " " + k.Field.addr()
	if k.Bits > 0 && k.Bits < k.bitLen() {
		s += " & " + k.Mask().String()
	}
	return s
}

func (k Key) bitLen() int {
	if k.Family == IPv6 {
		return 128
	}
	return 32
}

// Mask is the address mask of a masked key: Bits leading ones.
func (k Key) Mask() netip.Addr {
	b := make([]byte, k.bitLen()/8)
	for i := range k.Bits {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// DynsetUpdate adds or updates the packet's key in a dynamic set. With a
// Quota, the element carries a byte budget and the statement stops the rule
// once it is spent (or when the set is full), so what follows never runs.
// With a Limit instead, the element carries a packet rate (a meter): the
// statement stops the rule while the key's rate is exceeded, or when the
// set is full. A statement carries at most one of the two.
type DynsetUpdate struct {
	Op    SetOp
	Set   string
	Key   Key
	Quota uint64 // bytes; 0 means no quota
	Limit *Limit `json:",omitempty"`
}

func (d DynsetUpdate) String() string {
	q := ""
	switch {
	case d.Quota > 0:
		q = " quota until " + strconv.FormatUint(d.Quota, 10) + " bytes"
	case d.Limit != nil:
		q = " " + d.Limit.String()
	}
	return string(d.Op) + " @" + d.Set + " { " + d.Key.String() + q + " }"
}

// Limit is a rate limit in packets.
type Limit struct {
	Rate  uint64
	Unit  string // second, minute, hour, day, week
	Burst uint32 // packets; nft's default is 5
	// Bytes makes it a byte token bucket: Rate bytes per Unit, Burst
	// bytes. Lower uses one as a per-peer quota where a set element's
	// quota is unsafe (see LowerQuota).
	Bytes bool `json:",omitempty"`
}

// DefaultBurst is the burst nft gives a limit that names none.
const DefaultBurst = 5

func (l Limit) String() string {
	if l.Bytes {
		return fmt.Sprintf("limit rate %d bytes/%s burst %d bytes", l.Rate, l.Unit, l.Burst)
	}
	s := fmt.Sprintf("limit rate %d/%s", l.Rate, l.Unit)
	if l.Burst != DefaultBurst {
		s += fmt.Sprintf(" burst %d packets", l.Burst)
	}
	return s
}

// Log sends the packet to an NFLOG group with a prefix.
type Log struct {
	Prefix string
	Group  uint16
}

func (l Log) String() string { return fmt.Sprintf("log prefix %s group %d", quote(l.Prefix), l.Group) }

// Counter counts packets and bytes; the values are read back for status but
// never rendered, so that a live table and a compiled one compare equal.
type Counter struct{ Packets, Bytes uint64 }

func (Counter) String() string { return "counter" }

// VerdictKind is a terminal verdict.
type VerdictKind string

const (
	Accept VerdictKind = "accept"
	Drop   VerdictKind = "drop"
)

// Verdict ends evaluation of the rule with a verdict.
type Verdict struct{ Kind VerdictKind }

func (v Verdict) String() string { return string(v.Kind) }

// Raw is what the kernel decoder could not map to a statement; it keeps a
// readable description so that no live rule is ever hidden.
type Raw struct{ Text string }

func (r Raw) String() string { return r.Text }

func (Meta) stmt()           {}
func (CtState) stmt()        {}
func (CtStatus) stmt()       {}
func (CtMark) stmt()         {}
func (CtMarkOr) stmt()       {}
func (TCPFlags) stmt()       {}
func (PayloadPresent) stmt() {}
func (CtDirection) stmt()    {}
func (AddrMatch) stmt()      {}
func (PortMatch) stmt()      {}
func (ICMPType) stmt()       {}
func (HopLimit) stmt()       {}
func (InnerPayload) stmt()   {}
func (FibSaddrLocal) stmt()  {}
func (DynsetUpdate) stmt()   {}
func (Limit) stmt()          {}
func (Log) stmt()            {}
func (Counter) stmt()        {}
func (Verdict) stmt()        {}
func (Raw) stmt()            {}

// quote makes s an nft string literal. nft strings have no escapes, so
// characters that could end the string or the statement are replaced: a
// comment can never become syntax.
func quote(s string) string {
	clean := strings.Map(func(r rune) rune {
		if r == '"' || r == '\\' || r < 0x20 || r == 0x7f {
			return '_'
		}
		return r
	}, s)
	return `"` + clean + `"`
}
