package compiler

import (
	"net/netip"
	"slices"

	"github.com/devfence/devfence/rules"
)

var (
	linkLocal = netip.MustParsePrefix("fe80::/10")
	loop4     = netip.MustParsePrefix("127.0.0.0/8")
	loop6     = netip.MustParsePrefix("::1/128")
	unspec4   = netip.MustParsePrefix("0.0.0.0/32")
	unspec6   = netip.MustParsePrefix("::/128")
)

// output builds the output chain: loopback, invalid, anti-spoofing, the
// device-spoke mark of TCP services and consent handshakes, bulk to consenting peers, metered
// service replies and egress, essentials, log, drop.
func (c *compilation) output(ch *rules.Chain) {
	p := c.p
	add := func(r *rules.Rule) { ch.Rules = append(ch.Rules, r) }
	if p.Essentials.Loopback {
		add(rule(0, "essentials.loopback", rules.Meta{Key: rules.MetaOIF, Value: "lo"}, accept()))
	}
	add(rule(0, "invalid", rules.CtState{States: rules.CtInvalid}, drop()))

	// A compromised device must not forge its source: loopback sources off
	// loopback, and any source that is not one of its own addresses. The
	// unspecified address is left to DHCP and duplicate address detection.
	add(rule(rules.IPv4, "anti-spoofing", rules.AddrMatch{Family: rules.IPv4, Field: rules.Src, Prefix: loop4}, drop()))
	add(rule(rules.IPv6, "anti-spoofing", rules.AddrMatch{Family: rules.IPv6, Field: rules.Src, Prefix: loop6}, drop()))
	add(rule(rules.IPv4, "anti-spoofing", rules.AddrMatch{Family: rules.IPv4, Field: rules.Src, Prefix: unspec4, Neg: true}, rules.FibSaddrLocal{Neg: true}, drop()))
	add(rule(rules.IPv6, "anti-spoofing", rules.AddrMatch{Family: rules.IPv6, Field: rules.Src, Prefix: unspec6, Neg: true}, rules.FibSaddrLocal{Neg: true}, drop()))

	// The device's TCP spoke on a connection to an inbound TCP service: it
	// sent a segment in the reply direction that is neither a SYN(-ACK)
	// nor a RST. Only a TCP that accepted the client's handshake sends
	// one (it answers an ACK that does not acknowledge its SYN-ACK with a
	// RST), whereas conntrack calls a connection assured on any ACK in the
	// client's window, which a blind ACK sweep finds (finding B). The
	// input chain's consent grant and the reply meters below require the
	// mark this rule sets. It has no verdict and comes before every rule
	// that accepts, so each such segment passes it; the rules below still
	// decide its fate.
	_, metered := c.quotas[defaultQuota]
	for i, s := range p.Inbound.Services {
		if s.Proto != "tcp" || !s.Consent && !metered {
			continue
		}
		origin := entryOrigin("inbound.services", s.Name) + ": device spoke"
		for _, f := range sortedFamilies(c.services[i]) {
			add(rule(f, origin,
				port(s.Proto, rules.Src, s.Port),
				rules.AddrMatch{Family: f, Field: rules.Dst, Set: c.services[i][f]},
				rules.CtDirection{Reply: true},
				rules.TCPFlags{Bits: rules.TCPSyn | rules.TCPRst, Neg: true},
				rules.CtMarkOr{Bits: deviceSpoke},
			))
		}
	}

	// The same for the device's own consent handshakes, in the original
	// direction: its ACK of the peer's SYN-ACK is the first such segment.
	// A SYN-ACK the device's TCP did not accept gets a RST, never an ACK.
	for i, h := range p.Consent.Handshakes {
		origin := entryOrigin("consent.handshakes", h.Name) + ": device spoke"
		for _, f := range sortedFamilies(c.handshakes[i]) {
			add(rule(f, origin,
				port("tcp", rules.Dst, h.Port),
				rules.AddrMatch{Family: f, Field: rules.Dst, Set: c.handshakes[i][f]},
				rules.CtDirection{Reply: false},
				rules.TCPFlags{Bits: rules.TCPSyn | rules.TCPRst, Neg: true},
				rules.CtMarkOr{Bits: deviceSpoke},
			))
		}
	}

	// Bulk: consenting peers are not metered, within what consent.bulk allows.
	for _, f := range families {
		to := rules.AddrMatch{Family: f, Field: rules.Dst, Set: c.consent[f]}
		if len(p.Consent.Bulk) == 0 {
			add(rule(f, "consent.bulk", to, accept()))
		}
		for _, b := range p.Consent.Bulk {
			stmts := []rules.Stmt{to}
			if !b.Port.IsZero() {
				stmts = append(stmts, port(b.Proto, rules.Dst, b.Port))
			} else {
				stmts = append(stmts, rules.Meta{Key: rules.MetaL4Proto, Value: b.Proto})
			}
			add(rule(f, bulkOrigin(b), append(stmts, accept())...))
		}
	}

	// Replies of inbound services count against the default quota too,
	// but only once the connection is established. Before that, a reply
	// answers a packet anyone could have forged with the peer's address
	// (a SYN, a first datagram), so it must not spend the peer's budget
	// (finding C): those replies pass under a per-destination rate limit
	// instead, which a full meter or a spent rate also stops. For TCP,
	// established means the device's TCP has spoken (the mark above), not
	// conntrack's assured: after a blind ACK sweep (finding B) conntrack
	// calls the forged connection assured, and the device's RSTs to the
	// sweep, tens of thousands, would spend the peer's budget. For UDP it
	// is conntrack's assured.
	for i, s := range p.Inbound.Services {
		origin := entryOrigin("inbound.services", s.Name) + ": replies"
		established, before := rules.Stmt(rules.CtStatus{Bits: rules.CtAssured}), rules.Stmt(rules.CtStatus{Bits: rules.CtAssured, Neg: true})
		early := origin + " before assured"
		if s.Proto == "tcp" {
			established, before = rules.CtMark{Mask: deviceSpoke, Value: deviceSpoke}, rules.CtMark{Mask: deviceSpoke, Value: 0}
			early = origin + " before the device spoke"
		}
		for _, f := range sortedFamilies(c.services[i]) {
			if len(protoMatches(f, s.Proto, s.Types, rules.Dst, s.Port)) == 0 {
				continue // the service admits nothing from f, so there is nothing to answer
			}
			// Replies of an ICMP service are of other types than what it
			// admits (echo-reply to echo-request): conntrack's reply
			// direction is what ties them to the service.
			for _, m := range protoMatches(f, s.Proto, nil, rules.Src, s.Port) {
				match := slices.Concat(m, []rules.Stmt{
					rules.AddrMatch{Family: f, Field: rules.Dst, Set: c.services[i][f]},
					rules.CtDirection{Reply: true},
				})
				// Without a handshake (anything but tcp and udp) no reply is
				// ever known to answer the real peer; those are metered from
				// the first packet, so that what leaves stays bounded.
				if !metered || !hasPorts(s.Proto) {
					add(c.metered(f, origin, defaultQuota, match...))
					continue
				}
				add(c.metered(f, origin, defaultQuota, append(slices.Clip(match), established)...))
				add(rule(f, early, append(slices.Clip(match),
					before,
					rules.DynsetUpdate{Op: rules.SetAdd, Set: c.unassured[f], Key: c.peerKey(f), Limit: &unassuredLimit},
					accept())...))
			}
		}
	}
	for i, h := range p.Consent.Handshakes {
		origin := entryOrigin("consent.handshakes", h.Name)
		for _, f := range sortedFamilies(c.handshakes[i]) {
			add(c.metered(f, origin, defaultQuota,
				port("tcp", rules.Dst, h.Port),
				rules.AddrMatch{Family: f, Field: rules.Dst, Set: c.handshakes[i][f]}))
		}
	}
	for i, r := range p.Egress.Allow {
		origin := entryOrigin("egress.allow", r.Name)
		quota := defaultQuota
		if r.Quota != nil {
			quota = r.Name
		}
		fams := families
		if !r.To.Any {
			fams = sortedFamilies(c.allow[i])
		}
		// Every protocol goes through metered: the quota is per peer,
		// whatever the packets carry.
		for _, f := range fams {
			for _, m := range protoMatches(f, r.Proto, r.Types, rules.Dst, r.Port) {
				if !r.To.Any {
					m = slices.Concat(m, []rules.Stmt{rules.AddrMatch{Family: f, Field: rules.Dst, Set: c.allow[i][f]}})
				}
				add(c.metered(f, origin, quota, m...))
			}
		}
	}
	c.outputEssentials(add)
	c.logAndDrop(add, "out")
}

// metered ends a rule with its meters and accept. The per-destination
// budget is an `add` to a timeout set, so the window runs from the peer's
// first packet and is not extended by traffic; the total budget, keyed per
// family, sits in the same rule so a packet passes only while both hold.
// A spent budget or a full set stops the rule, and the chain's drop follows:
// fail closed. Without a quota the rule simply accepts.
func (c *compilation) metered(f rules.Family, origin, quota string, stmts ...rules.Stmt) *rules.Rule {
	if sets, ok := c.quotas[quota]; ok {
		q := c.p.Egress.Quota
		for _, r := range c.p.Egress.Allow {
			if r.Name == quota && r.Quota != nil {
				q = r.Quota
			}
		}
		stmts = append(stmts, rules.DynsetUpdate{Op: rules.SetAdd, Set: sets[f], Key: c.peerKey(f), Quota: q.Bytes})
		if t := c.p.Egress.Total; t != nil {
			stmts = append(stmts, rules.DynsetUpdate{Op: rules.SetAdd, Set: totalSet,
				Key: rules.Key{NFProto: true}, Quota: t.Bytes})
		}
	}
	return rule(f, origin, append(stmts, accept())...)
}

// peerKey is what per-destination meters are keyed on: the destination
// address, IPv6 masked to limits.ipv6Prefix.
func (c *compilation) peerKey(f rules.Family) rules.Key {
	bits := 0
	if f == rules.IPv6 {
		bits = c.p.Limits.IPv6Prefix
	}
	return rules.Key{Family: f, Field: rules.Dst, Bits: bits}
}

func (c *compilation) outputEssentials(add func(*rules.Rule)) {
	e := c.p.Essentials
	if e.DHCP {
		add(rule(rules.IPv4, "essentials.dhcp",
			port("udp", rules.Src, PortRange{68, 68}), port("udp", rules.Dst, PortRange{67, 67}), accept()))
		add(rule(rules.IPv6, "essentials.dhcp",
			port("udp", rules.Src, PortRange{546, 546}), port("udp", rules.Dst, PortRange{547, 547}), accept()))
	}
	if e.IPv6ND {
		for _, t := range []uint8{rules.ICMPv6NeighborSolicit, rules.ICMPv6NeighborAdvert, rules.ICMPv6RouterSolicit} {
			add(rule(rules.IPv6, "essentials.ipv6-nd",
				rules.ICMPType{V6: true, Type: t}, rules.HopLimit{Value: 255}, accept()))
		}
		// Multicast listener reports let a snooping switch deliver the
		// neighbour solicitations sent to the device's solicited-node group.
		add(rule(rules.IPv6, "essentials.ipv6-nd",
			rules.ICMPType{V6: true, Type: rules.ICMPv6MLD2Report}, rules.HopLimit{Value: 1}, accept()))
	}
	if e.ICMP != "none" {
		// ICMP errors the device sends about its own connections.
		add(rule(rules.IPv4, "essentials.icmp",
			rules.Meta{Key: rules.MetaL4Proto, Value: "icmp"}, rules.CtState{States: rules.CtRelated}, accept()))
		add(rule(rules.IPv6, "essentials.icmp",
			rules.Meta{Key: rules.MetaL4Proto, Value: "ipv6-icmp"}, rules.CtState{States: rules.CtRelated}, accept()))
	}
	if e.ICMP == "echo" {
		add(rule(rules.IPv4, "essentials.icmp echo",
			rules.ICMPType{Type: rules.ICMPEchoReply}, rules.CtState{States: rules.CtEstablished}, accept()))
		add(rule(rules.IPv6, "essentials.icmp echo",
			rules.ICMPType{V6: true, Type: rules.ICMPv6EchoReply}, rules.CtState{States: rules.CtEstablished}, accept()))
	}
}
