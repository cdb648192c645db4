package mud

import "strconv"

// IP protocol numbers the importer gives names (PROFILE.md's proto values).
const (
	protoAny    = -1 // no protocol match: every IP protocol
	protoICMP   = 1
	protoIGMP   = 2
	protoTCP    = 6
	protoUDP    = 17
	protoICMPv6 = 58
)

// icmpTypes name ICMP types as nftables does (icmp type / icmpv6 type), the
// names a profile's types list takes.
var icmpTypes = map[int]map[int]string{
	4: {
		0: "echo-reply", 3: "destination-unreachable", 4: "source-quench", 5: "redirect",
		8: "echo-request", 9: "router-advertisement", 10: "router-solicitation",
		11: "time-exceeded", 12: "parameter-problem", 13: "timestamp-request",
		14: "timestamp-reply", 15: "info-request", 16: "info-reply",
		17: "address-mask-request", 18: "address-mask-reply",
	},
	6: {
		1: "destination-unreachable", 2: "packet-too-big", 3: "time-exceeded",
		4: "parameter-problem", 128: "echo-request", 129: "echo-reply",
		130: "mld-listener-query", 131: "mld-listener-report", 132: "mld-listener-done",
		133: "nd-router-solicit", 134: "nd-router-advert", 135: "nd-neighbor-solicit",
		136: "nd-neighbor-advert", 137: "nd-redirect", 138: "router-renumbering",
		141: "ind-neighbor-solicit", 142: "ind-neighbor-advert", 143: "mld2-listener-report",
	},
}

// icmpOneCode are the types whose only code is 0: an ACE that matches code 0
// of one of them matches the whole type, which a types entry can say.
var icmpOneCode = map[int]map[int]bool{
	4: {0: true, 4: true, 8: true, 10: true, 13: true, 14: true, 15: true, 16: true, 17: true, 18: true},
	6: {2: true, 128: true, 129: true, 130: true, 131: true, 132: true, 133: true, 134: true,
		135: true, 136: true, 141: true, 142: true, 143: true},
}

// icmpReplies are the types a device receives only in answer to its own
// request, which conntrack lets through as part of that exchange.
var icmpReplies = map[string]bool{
	"echo-reply": true, "timestamp-reply": true, "info-reply": true, "address-mask-reply": true,
}

// profileProto turns an ACE's IP protocol into a profile's proto and the IP
// family the rule must keep to (0: either). ICMP in an IPv4 match and ICMPv6
// in an IPv6 match are the profile's icmp, which means ICMPv4 for IPv4 peers
// and ICMPv6 for IPv6 peers; the other pairing (ICMPv6 in an IPv4 match)
// matches a protocol number that means nothing there, so it stays a number.
func profileProto(proto, family int, icmpEither bool) (string, int) {
	switch {
	case proto == protoAny:
		return "any", family
	case proto == protoTCP:
		return "tcp", family
	case proto == protoUDP:
		return "udp", family
	case icmpEither:
		return "icmp", family
	case proto == protoICMP && family != 6:
		return "icmp", 4
	case proto == protoICMPv6 && family == 6:
		return "icmp", 6
	case proto == protoIGMP && family != 6:
		return "igmp", 4
	}
	return strconv.Itoa(proto), family
}

func hasPorts(proto string) bool { return proto == "tcp" || proto == "udp" }
