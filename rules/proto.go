package rules

import "strconv"

// IP protocol numbers that have a name in nft's `meta l4proto` and in the
// profile.
const (
	ProtoICMP   = 1
	ProtoIGMP   = 2
	ProtoTCP    = 6
	ProtoUDP    = 17
	ProtoICMPv6 = 58
)

var l4protoNames = map[uint8]string{ProtoICMP: "icmp", ProtoIGMP: "igmp", ProtoTCP: "tcp", ProtoUDP: "udp", ProtoICMPv6: "ipv6-icmp"}

// L4ProtoName is the value of `meta l4proto` for an IP protocol number:
// the name for the protocols above, the decimal number for any other.
// Numbers keep the text independent of the host's /etc/protocols, which
// nft consults for names; nft reads either form.
func L4ProtoName(p uint8) string {
	if name, ok := l4protoNames[p]; ok {
		return name
	}
	return strconv.Itoa(int(p))
}

// L4ProtoNumber reads what L4ProtoName writes. A number that has a name is
// refused in its numeric form, so that every protocol has one spelling.
func L4ProtoNumber(s string) (uint8, bool) {
	for n, name := range l4protoNames {
		if name == s {
			return n, true
		}
	}
	n, err := strconv.ParseUint(s, 10, 8)
	if err != nil || strconv.FormatUint(n, 10) != s {
		return 0, false
	}
	if _, named := l4protoNames[uint8(n)]; named {
		return 0, false
	}
	return uint8(n), true
}

// ICMP and ICMPv6 types that devfence's own rules use.
const (
	ICMPEchoReply   = 0
	ICMPEchoRequest = 8

	ICMPv6EchoRequest     = 128
	ICMPv6EchoReply       = 129
	ICMPv6MLD2Report      = 143
	ICMPv6RouterSolicit   = 133
	ICMPv6RouterAdvert    = 134
	ICMPv6NeighborSolicit = 135
	ICMPv6NeighborAdvert  = 136
)

// icmpNames and icmpv6Names are nft's names of the ICMP and ICMPv6 types
// (its icmp_type and icmpv6_type symbol tables), which are also the names
// a profile's `types` takes. nft lists a type by name when it has one, so
// the text form must use the same names to read back as it was written.
var icmpNames = map[uint8]string{
	0: "echo-reply", 3: "destination-unreachable", 4: "source-quench", 5: "redirect",
	8: "echo-request", 9: "router-advertisement", 10: "router-solicitation", 11: "time-exceeded",
	12: "parameter-problem", 13: "timestamp-request", 14: "timestamp-reply", 15: "info-request",
	16: "info-reply", 17: "address-mask-request", 18: "address-mask-reply",
}

var icmpv6Names = map[uint8]string{
	1: "destination-unreachable", 2: "packet-too-big", 3: "time-exceeded", 4: "parameter-problem",
	128: "echo-request", 129: "echo-reply", 130: "mld-listener-query", 131: "mld-listener-report",
	132: "mld-listener-done", 133: "nd-router-solicit", 134: "nd-router-advert",
	135: "nd-neighbor-solicit", 136: "nd-neighbor-advert", 137: "nd-redirect",
	138: "router-renumbering", 141: "ind-neighbor-solicit", 142: "ind-neighbor-advert",
	143: "mld2-listener-report",
}

// ICMPTypeByName returns the ICMP (v6 false) or ICMPv6 type nft calls name.
func ICMPTypeByName(name string, v6 bool) (uint8, bool) {
	names := icmpNames
	if v6 {
		names = icmpv6Names
	}
	for t, n := range names {
		if n == name {
			return t, true
		}
	}
	return 0, false
}

// ICMPTypeName is nft's name of an ICMP (v6 false) or ICMPv6 type.
func ICMPTypeName(t uint8, v6 bool) (string, bool) {
	names := icmpNames
	if v6 {
		names = icmpv6Names
	}
	name, ok := names[t]
	return name, ok
}
