package trace

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/devfence/devfence/rules"
)

// Hook is the base chain a packet goes through: input (to the device) or
// output (from it).
type Hook = rules.Hook

// Packet is one packet as the rules see it at the input or output hook.
type Packet struct {
	Hook     Hook   // rules.HookInput or rules.HookOutput
	Iface    string // iif (input) or oif (output); "lo" for loopback
	Proto    string // "tcp", "udp", "icmp" or "icmpv6"
	Src, Dst netip.AddrPort
	Flags    rules.TCPFlagBits // TCP only
	DataOff  uint8             // TCP header length in 32-bit words; 0 is 5
	ICMPType uint8             // ICMP and ICMPv6 only
	HopLimit uint8             // IPv6 hop limit (IPv4 TTL, which no rule reads)
	Payload  []byte            // the transport payload's leading bytes, when they matter
	Size     int               // transport payload length; at least len(Payload)

	// Ct overrides what the conntrack model would say about the packet:
	// `devfence explain` describes a packet out of any sequence, and the
	// user may say "established" without the packets that made it so.
	Ct CtOverride
}

// CtOverride fixes parts of the packet's conntrack view. Zero fields are
// left to the model.
type CtOverride struct {
	State  rules.CtStates     // one state bit, or 0
	Reply  *bool              // direction
	Status rules.CtStatusBits // bits forced on
	Mark   uint32             // bits forced on
}

// Family is the packet's IP family.
func (p *Packet) Family() rules.Family {
	if p.Src.Addr().Is4() || p.Dst.Addr().Is4() {
		return rules.IPv4
	}
	return rules.IPv6
}

// L4Proto is nft's name of the transport protocol in `meta l4proto`.
func (p *Packet) L4Proto() string {
	if p.Proto == "icmpv6" {
		return "ipv6-icmp"
	}
	return p.Proto
}

// doff is the TCP data offset in words.
func (p *Packet) doff() int {
	if p.DataOff == 0 {
		return 5
	}
	return int(p.DataOff)
}

// Len is the packet's length from the network header on: what nftables
// quotas count (skb->len at the input and output hooks).
func (p *Packet) Len() int {
	n := 20
	if p.Family() == rules.IPv6 {
		n = 40
	}
	switch p.Proto {
	case "tcp":
		n += p.doff() * 4
	default: // udp, icmp, icmpv6: 8-byte headers
		n += 8
	}
	return n + p.payloadLen()
}

func (p *Packet) payloadLen() int { return max(p.Size, len(p.Payload)) }

// String writes the packet in the explain grammar (docs/EXPLAIN.md), with
// every field the model filled in.
func (p *Packet) String() string {
	var b strings.Builder
	dir := "in"
	if p.Hook == rules.HookOutput {
		dir = "out"
	}
	fmt.Fprintf(&b, "%s %s %s > %s", dir, p.Proto, endpoint(p, p.Src), endpoint(p, p.Dst))
	switch p.Proto {
	case "tcp":
		fmt.Fprintf(&b, " %s", flagNames(p.Flags))
	case "icmp", "icmpv6":
		fmt.Fprintf(&b, " type %d", p.ICMPType)
	}
	if n := p.payloadLen(); n > 0 {
		fmt.Fprintf(&b, " size %d", n)
	}
	if p.Iface == "lo" {
		b.WriteString(" dev lo")
	}
	return b.String()
}

func endpoint(p *Packet, ap netip.AddrPort) string {
	if p.Proto == "icmp" || p.Proto == "icmpv6" {
		return ap.Addr().String()
	}
	return ap.String()
}

var flagNames8 = []string{"fin", "syn", "rst", "psh", "ack", "urg", "ecn", "cwr"}

func flagNames(f rules.TCPFlagBits) string {
	var names []string
	for i, n := range flagNames8 {
		if f&(1<<i) != 0 {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		return "flags none"
	}
	return strings.Join(names, ",")
}
