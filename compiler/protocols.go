package compiler

import (
	"fmt"
	"slices"
	"strconv"

	"github.com/devfence/devfence/rules"
)

// Protocols a rule's proto may name besides an IP protocol number.
const (
	protoTCP  = "tcp"
	protoUDP  = "udp"
	protoICMP = "icmp"
	protoIGMP = "igmp"
	protoAny  = "any"
)

// namedNumbers are the protocol numbers that have a word in the profile:
// each protocol has one spelling, so a policy or a reader never has to
// know that 6 is tcp.
var namedNumbers = map[string]string{"1": protoICMP, "2": protoIGMP, "6": protoTCP, "17": protoUDP, "58": protoICMP}

// hasPorts reports whether proto has ports, i.e. needs a port and may
// have one.
func hasPorts(proto string) bool { return proto == protoTCP || proto == protoUDP }

// ruleProto checks the proto, port, types and consent of an inbound
// service or an egress rule (path is the rule's path).
func (c *checker) ruleProto(path, proto string, port PortRange, types []string, consent bool) {
	switch {
	case proto == "":
		c.errorf(path+".proto", "is required: tcp, udp, icmp, igmp, any or an IP protocol number 0-255")
		return
	case hasPorts(proto), proto == protoICMP, proto == protoIGMP, proto == protoAny:
	case namedNumbers[proto] != "":
		c.errorf(path+".proto", "protocol %s is %s; write `proto: %s`", proto, namedNumbers[proto], namedNumbers[proto])
		return
	default:
		if n, err := strconv.ParseUint(proto, 10, 8); err != nil || strconv.FormatUint(n, 10) != proto {
			c.errorf(path+".proto", "must be tcp, udp, icmp, igmp, any or an IP protocol number 0-255, not %q", proto)
			return
		}
	}
	switch {
	case hasPorts(proto) && port.IsZero():
		c.port(path+".port", port)
	case !hasPorts(proto) && !port.IsZero():
		c.errorf(path+".port", "is for tcp and udp only; proto %s has no ports", proto)
	}
	switch {
	case types != nil && proto != protoICMP:
		c.errorf(path+".types", "is for icmp only; proto %s has no ICMP types", proto)
	case types != nil && len(types) == 0:
		c.errorf(path+".types", "lists no type; leave types out to allow every ICMP type")
	}
	if proto == protoICMP {
		for i, name := range types {
			if _, ok := icmpTypes(rules.IPv4, []string{name}); ok {
				continue
			}
			if _, ok := icmpTypes(rules.IPv6, []string{name}); ok {
				continue
			}
			c.errorf(fmt.Sprintf("%s.types[%d]", path, i), "%q is neither an ICMP nor an ICMPv6 type name (such as echo-request)", name)
		}
	}
	// Consent on udp is left to the unwaivable consent-needs-tcp policy,
	// which explains it; it compiles to a grant that never fires (the mark
	// it waits for is set on TCP segments only). On any other protocol it
	// could not compile at all.
	if consent && !hasPorts(proto) {
		c.errorf(path+".consent", "needs proto: tcp; consent is granted on a completed TCP handshake")
	}
}

// icmpTypes lists the types of names that family f's ICMP has, in the
// order given, without repeats; a name of the other family's ICMP only is
// left out. ok is false when none of the names is one of f's.
func icmpTypes(f rules.Family, names []string) ([]uint8, bool) {
	var out []uint8
	for _, name := range names {
		if t, ok := rules.ICMPTypeByName(name, f == rules.IPv6); ok && !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out, len(out) > 0
}

// protoMatches lists what a rule's proto matches in family f, as
// alternatives: each is the statements of one rule. For tcp and udp that is
// the port (field says which); for icmp ICMPv4 or ICMPv6 by the family,
// one alternative per type when types narrows it; igmp only in IPv4, where
// it exists; for any nothing, so the rule matches every protocol. No
// alternative means the rule allows nothing in f.
func protoMatches(f rules.Family, proto string, types []string, field rules.AddrField, p PortRange) [][]rules.Stmt {
	switch proto {
	case protoTCP, protoUDP:
		return [][]rules.Stmt{{port(proto, field, p)}}
	case protoAny:
		return [][]rules.Stmt{nil}
	case protoIGMP:
		if f != rules.IPv4 {
			return nil
		}
		return [][]rules.Stmt{{rules.Meta{Key: rules.MetaL4Proto, Value: protoIGMP}}}
	case protoICMP:
		if types == nil {
			l4 := rules.L4ProtoName(rules.ProtoICMP)
			if f == rules.IPv6 {
				l4 = rules.L4ProtoName(rules.ProtoICMPv6)
			}
			return [][]rules.Stmt{{rules.Meta{Key: rules.MetaL4Proto, Value: l4}}}
		}
		ts, _ := icmpTypes(f, types)
		var out [][]rules.Stmt
		for _, t := range ts {
			// The type match implies its l4proto; nft inserts it.
			out = append(out, []rules.Stmt{rules.ICMPType{V6: f == rules.IPv6, Type: t}})
		}
		return out
	}
	return [][]rules.Stmt{{rules.Meta{Key: rules.MetaL4Proto, Value: proto}}}
}
