package compiler

import (
	"fmt"
	"slices"

	"github.com/devfence/devfence/rules"
)

// input builds the input chain: loopback, invalid, consent grants (before
// the established accept, so they see every packet of a consent session),
// established, essentials, services, log, drop.
func (c *compilation) input(ch *rules.Chain) {
	p := c.p
	add := func(r *rules.Rule) { ch.Rules = append(ch.Rules, r) }
	if p.Essentials.Loopback {
		add(rule(0, "essentials.loopback", rules.Meta{Key: rules.MetaIIF, Value: "lo"}, accept()))
	}
	add(rule(0, "invalid", rules.CtState{States: rules.CtInvalid}, drop()))

	consent, services := c.consent, c.services
	// Consent from an inbound service: only a packet from the client of a
	// connection on which the device's own TCP has already sent a segment
	// that is neither a SYN nor a RST (spoke, bit 30 of the connection
	// mark, set in the output chain). Only a TCP that accepted the
	// client's handshake sends one: it answers a repeated (or forged) SYN
	// with its SYN-ACK again (finding A) and an ACK that does not
	// acknowledge its SYN-ACK, such as one of a blind sweep, with a RST
	// (finding B). Consent therefore starts with the client's first packet
	// after the device's first normal segment (its ACK of the client's
	// data, say, or its answer), a pure ACK included.
	//
	// conntrack's ASSURED is deliberately not required: it adds nothing
	// the mark does not prove (a sweep makes a forged connection assured),
	// and a grant that also waits for it depends on when each kernel sets
	// it (see docs/THREAT.md, "Consent on every kernel").
	spoke := rules.CtMark{Mask: deviceSpoke, Value: deviceSpoke}
	for i, s := range p.Inbound.Services {
		if !s.Consent {
			continue
		}
		origin := entryOrigin("inbound.services", s.Name) + ": consent"
		for _, f := range sortedFamilies(services[i]) {
			add(rule(f, origin,
				port(s.Proto, rules.Dst, s.Port),
				rules.AddrMatch{Family: f, Field: rules.Src, Set: services[i][f]},
				rules.CtDirection{Reply: false},
				rules.CtState{States: rules.CtEstablished},
				spoke,
				rules.DynsetUpdate{Op: rules.SetUpdate, Set: consent[f], Key: rules.Key{Family: f, Field: rules.Src}},
			))
		}
	}
	// Consent from a handshake the device made: the peer's replies on the
	// reserved port, once the device's own TCP has acknowledged the peer's
	// SYN-ACK (the output chain sets spoke on the device's first segment
	// without SYN or RST). A SYN-ACK alone, which conntrack accepts from
	// anyone who guesses the device's port and lands in its window, grants
	// nothing, and neither does data on a SYN-ACK; the device's TCP
	// answers a SYN-ACK that does not acknowledge its SYN with a RST.
	// Consent starts with the peer's first packet after the handshake,
	// which may be its banner sent right after accept.
	for i, h := range p.Consent.Handshakes {
		hs := c.handshakes[i]
		origin := entryOrigin("consent.handshakes", h.Name)
		for _, f := range sortedFamilies(hs) {
			session := []rules.Stmt{
				port("tcp", rules.Src, h.Port),
				rules.AddrMatch{Family: f, Field: rules.Src, Set: hs[f]},
				rules.CtDirection{Reply: true},
				rules.CtState{States: rules.CtEstablished},
			}
			grant := rules.DynsetUpdate{Op: rules.SetUpdate, Set: consent[f], Key: rules.Key{Family: f, Field: rules.Src}}
			if h.ClearToSend == "" {
				add(rule(f, origin+": consent", slices.Concat(session, []rules.Stmt{spoke, grant})...))
				continue
			}
			// Clear-to-send must be the peer's first data bytes, not any
			// later segment that happens to start with them (an echo of
			// what the device wrote, say). The first reply segment that
			// carries payload sets firstData on the connection (rule 2),
			// and only a segment that finds the bit still clear may grant
			// (rule 1, evaluated first, so the first data segment itself
			// does). Setting a mark cannot fail, so no state can leave a
			// later segment looking like the first one.
			first := rules.CtMark{Mask: firstData, Value: 0}
			add(rule(f, origin+": clear-to-send",
				slices.Concat(session, []rules.Stmt{first, spoke}, clearToSend(h.ClearToSend), []rules.Stmt{grant})...))
			add(rule(f, origin+": first data",
				slices.Concat(session, []rules.Stmt{first, rules.PayloadPresent{}, rules.CtMarkOr{Bits: firstData}})...))
			// Later packets of the session keep a granted consent alive, but
			// only for a peer that already said clear-to-send.
			add(rule(f, origin+": refresh",
				slices.Concat(session, []rules.Stmt{rules.AddrMatch{Family: f, Field: rules.Src, Set: consent[f]}, grant})...))
		}
	}

	est := rules.CtEstablished
	if p.Essentials.ICMP != "none" {
		// Related packets are ICMP errors about the device's connections.
		est |= rules.CtRelated
	}
	add(rule(0, "established", rules.CtState{States: est}, accept()))
	c.inputEssentials(add)

	for i, s := range p.Inbound.Services {
		origin := entryOrigin("inbound.services", s.Name)
		for _, f := range sortedFamilies(services[i]) {
			for _, m := range protoMatches(f, s.Proto, s.Types, rules.Dst, s.Port) {
				add(rule(f, origin, slices.Concat(m, []rules.Stmt{
					rules.AddrMatch{Family: f, Field: rules.Src, Set: services[i][f]},
					rules.CtState{States: rules.CtNew},
					accept(),
				})...))
			}
		}
	}
	c.logAndDrop(add, "in")
}

func (c *compilation) inputEssentials(add func(*rules.Rule)) {
	e := c.p.Essentials
	if e.DHCP {
		add(rule(rules.IPv4, "essentials.dhcp",
			port("udp", rules.Src, PortRange{67, 67}), port("udp", rules.Dst, PortRange{68, 68}), accept()))
		add(rule(rules.IPv6, "essentials.dhcp",
			rules.AddrMatch{Family: rules.IPv6, Field: rules.Src, Prefix: linkLocal},
			port("udp", rules.Src, PortRange{547, 547}), port("udp", rules.Dst, PortRange{546, 546}), accept()))
	}
	if e.IPv6ND {
		// Hop limit 255 proves the sender is on-link: routers decrement it.
		for _, t := range []uint8{rules.ICMPv6NeighborSolicit, rules.ICMPv6NeighborAdvert, rules.ICMPv6RouterAdvert} {
			add(rule(rules.IPv6, "essentials.ipv6-nd",
				rules.ICMPType{V6: true, Type: t}, rules.HopLimit{Value: 255}, accept()))
		}
	}
	if e.ICMP == "echo" {
		add(rule(rules.IPv4, "essentials.icmp echo",
			rules.ICMPType{Type: rules.ICMPEchoRequest}, echoLimit, accept()))
		add(rule(rules.IPv6, "essentials.icmp echo",
			rules.ICMPType{V6: true, Type: rules.ICMPv6EchoRequest}, echoLimit, accept()))
	}
}

// echoLimit bounds answered pings, so the device cannot be used to amplify.
var echoLimit = rules.Limit{Rate: 5, Unit: "second", Burst: rules.DefaultBurst}

// logAndDrop ends a chain: a rate-limited NFLOG of what is dropped, then a
// counted drop (the counter feeds `devfence status`).
func (c *compilation) logAndDrop(add func(*rules.Rule), dir string) {
	if d := c.p.Log.Drops; d.N > 0 {
		add(rule(0, "log.drops",
			rules.Limit{Rate: uint64(d.N), Unit: d.Unit, Burst: rules.DefaultBurst},
			rules.Log{Prefix: fmt.Sprintf("devfence %s %s drop: ", c.p.Device.Name, dir), Group: uint16(c.p.Log.Group)},
		))
	}
	add(rule(0, "drop", rules.Counter{}, drop()))
}

// firstData is the conntrack mark bit that records that the peer of a
// consent handshake has sent its first data. It is one bit, the highest,
// set with `ct mark set ct mark | bit` so that the other 31 bits stay with
// whatever other software (routers, VPNs) keeps in the connection mark; a
// set keyed by `ct id` would share nothing, but nft 1.0.6 can declare such
// a set only with `typeof ct id`, which its JSON parser cannot read and
// google/nftables cannot write. If other software sets this bit on a
// handshake connection, the device gets no clear-to-send consent from it
// (fail closed); if it clears it, a later segment could grant.
const firstData uint32 = 1 << 31

// deviceSpoke is the conntrack mark bit that records that the device's own
// TCP has sent a segment without SYN or RST on a connection to an inbound
// TCP service or of a consent handshake, i.e. that the device's TCP, not
// only conntrack, took the handshake as complete. The next bit down from firstData, set the
// same way (`ct mark set ct mark | bit`), with the same caveats: software
// that clears it delays consent until the device's next segment, software
// that sets it takes back the protection against blind ACKs.
const deviceSpoke uint32 = 1 << 30

// payloadChunk is the most bytes the kernel compares in one payload match.
const payloadChunk = 16

// clearToSend matches a banner at the start of the transport payload, in
// comparisons of at most payloadChunk bytes each.
func clearToSend(banner string) []rules.Stmt {
	var out []rules.Stmt
	for off := 0; off < len(banner); off += payloadChunk {
		end := min(off+payloadChunk, len(banner))
		out = append(out, rules.InnerPayload{Offset: uint32(off), Data: []byte(banner[off:end])})
	}
	return out
}
