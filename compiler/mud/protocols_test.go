package mud_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/devfence/devfence/compiler/mud"
)

// twoPolicies is a MUD file whose from-device policy uses ACL f with the
// from ACEs and whose to-device policy uses ACL t with the to ACEs.
func twoPolicies(from, to []string) string {
	return `{"ietf-mud:mud":{"mud-url":"https://d.example.com/d","from-device-policy":{"access-lists":{"access-list":[{"name":"f"}]}},` +
		`"to-device-policy":{"access-lists":{"access-list":[{"name":"t"}]}}},` +
		`"ietf-access-control-list:acls":{"acl":[{"name":"f","aces":{"ace":[` + strings.Join(from, ",") + `]}},` +
		`{"name":"t","aces":{"ace":[` + strings.Join(to, ",") + `]}}]}}`
}

// named is an accepting ACE called name with the given matches.
func named(name, matches string) string {
	return `{"name":"` + name + `","matches":` + matches + `,"actions":{"forwarding":"accept"}}`
}

func TestProtocols(t *testing.T) {
	const local = `"ietf-mud:mud":{"local-networks":[null]}`
	tests := []struct {
		name       string
		from, to   []string
		rules      []string       // as loadProfile summarises them, networks bound
		notes      []string       // Result.Notes
		warnings   []string       // Result.Warnings
		reasons    map[string]int // Report.NotImported, counted by reason
		replies    int            // Report.Replies
		essentials int            // Report.Essentials
	}{
		{name: "ICMPv4 echo request to a DNS name",
			from:  []string{named("ping", `{"ipv4":{"protocol":1,"ietf-acldns:dst-dnsname":"cloud.example.com"},"icmp":{"type":8,"code":0}}`)},
			rules: []string{"out ping icmp [echo-request] to dns-cloud-example-com"}},
		{name: "ICMPv6 in an IPv6 match",
			from:  []string{named("ping6", `{"ipv6":{"protocol":58,"destination-ipv6-network":"2001:db8::/32"},"icmp":{"type":128}}`)},
			rules: []string{"out ping6 icmp [echo-request] to 2001:db8::/32"}},
		{name: "protocol 1 alone: every ICMPv4 type, IPv4 peers only",
			from:  []string{named("icmp4", `{"ipv4":{"protocol":1}}`)},
			rules: []string{"out icmp4 icmp to 0.0.0.0/0"}},
		{name: "an icmp match of no IP family: ICMPv4 and ICMPv6",
			from:  []string{named("icmp", `{"icmp":{}}`)},
			rules: []string{"out icmp icmp to any"}},
		{name: "an ICMP type of no IP family is read as ICMPv4's",
			from:  []string{named("echo", `{"icmp":{"type":8}}`)},
			rules: []string{"out echo icmp [echo-request] to 0.0.0.0/0"}},
		{name: "an ICMP code other than a type's only one is not imported",
			from:    []string{named("unreach", `{"ipv4":{"protocol":1},"icmp":{"type":3,"code":3}}`)},
			reasons: map[string]int{mud.ReasonUnsupported: 1}},
		{name: "ICMPv6 in an IPv4 match stays a number",
			from:  []string{named("odd", `{"ipv4":{"protocol":58}}`)},
			rules: []string{"out odd 58 to 0.0.0.0/0"}},
		{name: "IGMP to the IGMPv3 routers group",
			from:  []string{named("igmp", `{"ipv4":{"protocol":2,"destination-ipv4-network":"224.0.0.22/32"}}`)},
			rules: []string{"out igmp igmp to 224.0.0.22"}},
		{name: "no protocol match: any",
			from:  []string{named("all", `{`+local+`}`)},
			rules: []string{"out all any to local-networks"}},
		{name: "another IP protocol: its number",
			from:  []string{named("gre", `{"ipv4":{"protocol":47,"destination-ipv4-network":"198.51.100.0/24"}}`)},
			rules: []string{"out gre 47 to 198.51.100.0/24"}},
		{name: "SSDP: a multicast group within local-networks is the group",
			from:  []string{named("ssdp", `{"ipv4":{"protocol":17,"destination-ipv4-network":"239.255.255.250/32"},"udp":{"destination-port":{"operator":"eq","port":1900}},`+local+`}`)},
			rules: []string{"out ssdp udp 1900 to 239.255.255.250"},
			notes: []string{"acls.acl[0].aces.ace[0] (f/ssdp): multicast group 239.255.255.250 within local-networks: imported as that address itself, which is reached on the local network only"}},
		{name: "the limited broadcast address within local-networks is that address",
			from:  []string{named("bacnet", `{"ipv4":{"protocol":17,"destination-ipv4-network":"255.255.255.255/32"},"udp":{"destination-port":{"port":47808}},`+local+`}`)},
			rules: []string{"out bacnet udp 47808 to 255.255.255.255"},
			notes: []string{"acls.acl[0].aces.ace[0] (f/bacnet): broadcast address 255.255.255.255 within local-networks: imported as that address itself, which is reached on the local network only"}},
		{name: "DHCP client ACEs: essentials.dhcp allows them",
			from:       []string{named("dhcp", `{"ipv4":{"protocol":17,"destination-ipv4-network":"255.255.255.255/32"},"udp":{"source-port":{"port":68},"destination-port":{"port":67}}}`)},
			to:         []string{named("dhcp6", `{"ipv6":{"protocol":17},"udp":{"source-port":{"port":547},"destination-port":{"port":546}}}`)},
			essentials: 2},
		{name: "a unicast network within local-networks is still an intersection",
			from:    []string{named("lan", `{"ipv4":{"destination-ipv4-network":"192.168.1.0/24"},`+local+`}`)},
			reasons: map[string]int{mud.ReasonIntersection: 1}},
		{name: "an IPv6 group without a prefix length is one address",
			from:     []string{named("ssdp6", `{"ipv6":{"protocol":17,"destination-ipv6-network":"ff05::c"},"udp":{"destination-port":{"operator":"eq","port":1900}},`+local+`}`)},
			rules:    []string{"out ssdp6 udp 1900 to ff05::c"},
			notes:    []string{"acls.acl[0].aces.ace[0] (f/ssdp6): multicast group ff05::c within local-networks: imported as that address itself, which is reached on the local network only"},
			warnings: []string{`t.json:1:334: acls.acl[0].aces.ace[0].matches.ipv6.destination-ipv6-network: "ff05::c" has no prefix length; read as ff05::c/128`}},
		{name: "a port in the IP match under its draft name (osMUD's lightbulb2000)",
			from:    []string{named("cl0-frdev", `{"ipv6-acl":{"ietf-acldns:dst-dnsname":"service.example.com","protocol":6,"destination-port-range-or-operator":{"operator":"eq","port":443}},"tcp":{"ietf-mud:direction-initiated":"from-device"}}`)},
			to:      []string{named("cl0-todev", `{"ipv6-acl":{"ietf-acldns:src-dnsname":"service.example.com","protocol":6,"source-port-range-or-operator":{"operator":"eq","port":443}},"tcp":{"ietf-mud:direction-initiated":"from-device"}}`)},
			rules:   []string{"out cl0-frdev tcp 443 to dns-service-example-com"},
			replies: 1,
			warnings: []string{
				"t.json:1:399: acls.acl[0].aces.ace[0].matches.ipv6-acl.destination-port-range-or-operator: destination-port-range-or-operator is a name from drafts before RFC 8519, which writes destination-port in the tcp or udp match; read as that",
				"t.json:1:684: acls.acl[1].aces.ace[0].matches.ipv6-acl.source-port-range-or-operator: source-port-range-or-operator is a name from drafts before RFC 8519, which writes source-port in the tcp or udp match; read as that",
			}},
		{name: "an ethernet match the IPv4 limited broadcast implies (MUDgee)",
			from:  []string{named("bcast", `{"ietf-mud:mud":{"local-networks":[null]},"ipv4":{"protocol":17,"destination-ipv4-network":"255.255.255.255/32"},"udp":{"destination-port":{"operator":"eq","port":6667}},"eth":{"destination-mac-address":"ff:ff:ff:ff:ff:ff","ethertype":"0x0800"}}`)},
			rules: []string{"out bcast udp 6667 to 255.255.255.255"},
			notes: []string{
				`acls.acl[0].aces.ace[0] (f/bcast): matches.eth {"destination-mac-address":"ff:ff:ff:ff:ff:ff","ethertype":"0x0800"} is implied by the IP match: a packet to 255.255.255.255 goes to the broadcast MAC and every IPv4 packet has ethertype 0x0800; imported without it`,
				"acls.acl[0].aces.ace[0] (f/bcast): broadcast address 255.255.255.255 within local-networks: imported as that address itself, which is reached on the local network only",
			}},
		{name: "an ethertype as a number (RFC 8519's type) that the IPv6 match implies",
			from:  []string{named("v6", `{"ipv6":{"protocol":17,"destination-ipv6-network":"2001:db8::1/128"},"udp":{"destination-port":{"port":5683}},"eth":{"ethertype":34525}}`)},
			rules: []string{"out v6 udp 5683 to 2001:db8::1"},
			notes: []string{"acls.acl[0].aces.ace[0] (f/v6): matches.eth {\"ethertype\":34525} is implied by the IP match: every IPv6 packet has ethertype 0x86dd; imported without it"}},
		{name: "the broadcast MAC without the limited broadcast address stays out",
			from:    []string{named("lifx", `{"ietf-mud:mud":{"local-networks":[null]},"ipv4":{"protocol":17},"udp":{"destination-port":{"port":56700}},"eth":{"destination-mac-address":"ff:ff:ff:ff:ff:ff","ethertype":"0x0800"}}`)},
			reasons: map[string]int{mud.ReasonEthernet: 1}},
		{name: "an ethertype of the other IP family stays out",
			from:    []string{named("odd", `{"ipv4":{"protocol":17,"destination-ipv4-network":"255.255.255.255/32"},"udp":{"destination-port":{"port":9}},"eth":{"ethertype":"0x86dd"}}`)},
			reasons: map[string]int{mud.ReasonEthernet: 1}},
		{name: "draft names for the MUD classes (osMUD's MUDFILE.NEST)",
			from:  []string{named("myctl", `{"ietf-mud:mud-acl":{"my-controller":[null]}}`), named("myman", `{"ietf-mud:same-manufacturer":[null]}`)},
			rules: []string{"out myctl any to my-controller", "out myman any to same-manufacturer"},
			warnings: []string{
				"t.json:1:304: acls.acl[0].aces.ace[0].matches.mud-acl: mud-acl is the name drafts before RFC 8520 gave the ietf-mud:mud match; read as that",
				"t.json:1:421: acls.acl[0].aces.ace[1].matches.same-manufacturer: same-manufacturer directly in matches is a form from drafts before RFC 8520, which puts it in the ietf-mud:mud match; read as that",
			}},
		{name: "[] for an empty leaf",
			from:     []string{named("lan", `{"ipv4":{"protocol":6},"tcp":{"destination-port":{"port":80}},"ietf-mud:mud":{"local-networks":[]}}`)},
			rules:    []string{"out lan tcp 80 to local-networks"},
			warnings: []string{"t.json:1:377: acls.acl[0].aces.ace[0].matches.mud.local-networks: [] for a YANG empty leaf, which RFC 7951 writes [null]; read as set"}},
		{name: "a peer pinging the device: an inbound service",
			to:    []string{named("pinged", `{"ipv4":{"protocol":1},"icmp":{"type":8},`+local+`}`)},
			rules: []string{"in pinged icmp [echo-request] from local-networks"}},
		{name: "echo replies to the device are replies",
			from:    []string{named("ping", `{"ipv4":{"protocol":1},"icmp":{"type":8},`+local+`}`)},
			to:      []string{named("pong", `{"ipv4":{"protocol":1},"icmp":{"type":0},`+local+`}`)},
			rules:   []string{"out ping icmp [echo-request] to local-networks"},
			replies: 1},
		{name: "an any-protocol pair (MUD Maker): the to-device half is the replies",
			from:    []string{named("all-fr", `{"ipv4":{"ietf-acldns:dst-dnsname":"hub.example.com"}}`)},
			to:      []string{named("all-to", `{"ipv4":{"ietf-acldns:src-dnsname":"hub.example.com"}}`)},
			rules:   []string{"out all-fr any to dns-hub-example-com"},
			replies: 1},
		{name: "echo replies from the device are replies",
			from:    []string{named("pong", `{"ipv4":{"protocol":1},"icmp":{"type":0},`+local+`}`)},
			to:      []string{named("pinged", `{"ipv4":{"protocol":1},"icmp":{"type":8},`+local+`}`)},
			rules:   []string{"in pinged icmp [echo-request] from local-networks"},
			replies: 1},
		{name: "any protocol from a peer the device does not send to: an inbound service",
			to:    []string{named("ctl", `{"ipv4":{"ietf-acldns:src-dnsname":"hub.example.com"}}`)},
			rules: []string{"in ctl any from dns-hub-example-com"}},
		{name: "IGMP queries to the device",
			to:    []string{named("query", `{"ipv4":{"protocol":2},`+local+`}`)},
			rules: []string{"in query igmp from local-networks"}},
		{name: "ethernet matches stay out",
			from:    []string{named("eapol", `{"eth":{"ethertype":"0x888e"}}`), named("bcast", `{"eth":{"destination-mac-address":"ff:ff:ff:ff:ff:ff"}}`)},
			reasons: map[string]int{mud.ReasonEthernet: 2}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			data := []byte(twoPolicies(tc.from, tc.to))
			res, _, got := loadBound(t, "t.json", data)
			if diff := cmp.Diff(tc.rules, got); diff != "" {
				t.Errorf("rules (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.notes, res.Notes); diff != "" {
				t.Errorf("Notes (-want +got):\n%s", diff)
			}
			var warnings []string
			for _, w := range res.Warnings {
				warnings = append(warnings, w.Error())
			}
			if diff := cmp.Diff(tc.warnings, warnings); diff != "" {
				t.Errorf("Warnings (-want +got):\n%s", diff)
			}
			var reasons map[string]int
			for _, o := range res.Report.NotImported {
				if reasons == nil {
					reasons = map[string]int{}
				}
				reasons[o.Reason]++
			}
			if diff := cmp.Diff(tc.reasons, reasons); diff != "" {
				t.Errorf("Report.NotImported by reason (-want +got):\n%s", diff)
			}
			if res.Report.Essentials != tc.essentials {
				t.Errorf("Report.Essentials = %d, want %d", res.Report.Essentials, tc.essentials)
			}
			if res.Report.Replies != tc.replies {
				t.Errorf("Report.Replies = %d, want %d", res.Report.Replies, tc.replies)
			}
			if n := len(tc.from) + len(tc.to); res.Report.ACEs != n {
				t.Errorf("Report.ACEs = %d, want %d", res.Report.ACEs, n)
			}
			if res.Report.Rules != len(tc.rules) {
				t.Errorf("Report.Rules = %d, want %d", res.Report.Rules, len(tc.rules))
			}
			if len(res.Skipped) != 0 {
				t.Errorf("Skipped: %v", res.Skipped)
			}
		})
	}
}
