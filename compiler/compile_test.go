package compiler_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/devfence/devfence/compiler"
	"github.com/devfence/devfence/rules"
)

// base is a profile with one of everything; cases patch it with replace.
const base = `version: 1
device: {name: cam}
networks:
  lan: [192.168.1.0/24, 192.168.1.7, "fd00:1::/64"]
  cloud: [203.0.113.10]
inbound:
  services:
    - {name: viewer, proto: tcp, port: 8443, from: [lan], consent: true}
egress:
  quota: 1MiB/1h
  total: 64MiB/1h
  allow:
    - {name: ntp, to: any, proto: udp, port: 123, quota: 16KiB/10m}
consent:
  peers: 77
  bulk: [{proto: udp, port: 5000-5100}]
  handshakes: [{name: up, to: [cloud], port: 4433, clearToSend: "220"}]
limits: {peers: 999, ipv6Prefix: 56}
`

func compile(t *testing.T, yaml string) *rules.Table {
	t.Helper()
	p, err := compiler.Parse("p.yaml", []byte(yaml))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	tbl, err := compiler.Compile(p, compiler.Options{})
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	return tbl
}

// lines renders a chain's rules without their comments.
func lines(tbl *rules.Table, chain string) []string {
	var out []string
	for _, r := range tbl.Chain(chain).Rules {
		out = append(out, (&rules.Rule{Stmts: r.Stmts}).String())
	}
	return out
}

// TestCompiledSemantics checks each semantic of DESIGN.md's ruleset section
// in the model; the traffic tests prove the same with packets.
func TestCompiledSemantics(t *testing.T) {
	for _, tc := range []struct {
		name     string
		patch    [2]string // replace patch[0] with patch[1] in base
		chain    string
		want     []string // rules that must be present, in this order
		wantNone []string // substrings no rule of the chain may hold
	}{
		{name: "established-only inbound", chain: "input",
			want: []string{`iif "lo" accept`, `ct state invalid drop`, `ct state established,related accept`, `counter drop`}},
		{name: "icmp none accepts no related packets", patch: [2]string{"limits:", "essentials: {icmp: none}\nlimits:"}, chain: "input",
			want: []string{`ct state established accept`}, wantNone: []string{"related"}},
		{name: "service from its networks, new connections only", chain: "input",
			want: []string{
				`meta nfproto ipv4 tcp dport 8443 ip saddr @svc_viewer_v4 ct state new accept`,
				`meta nfproto ipv6 tcp dport 8443 ip6 saddr @svc_viewer_v6 ct state new accept`}},
		{name: "consent on a completed inbound handshake, before the established accept", chain: "input",
			want: []string{
				`meta nfproto ipv4 tcp dport 8443 ip saddr @svc_viewer_v4 ct direction original ct state established ct mark & 0x40000000 == 0x40000000 update @consent_v4 { ip saddr }`,
				`ct state established,related accept`}},
		// Finding A: after the device's SYN-ACK a retransmitted SYN is ct
		// state established; the device answers it with another SYN-ACK,
		// which sets no spoke bit. conntrack's ASSURED is not part of the
		// grant: when a kernel sets it must not matter.
		{name: "a repeated SYN grants nothing: service consent needs the device's own segment, not assured", chain: "input",
			want: []string{
				`meta nfproto ipv4 tcp dport 8443 ip saddr @svc_viewer_v4 ct direction original ct state established ct mark & 0x40000000 == 0x40000000 update @consent_v4 { ip saddr }`,
				`meta nfproto ipv6 tcp dport 8443 ip6 saddr @svc_viewer_v6 ct direction original ct state established ct mark & 0x40000000 == 0x40000000 update @consent_v6 { ip6 saddr }`},
			wantNone: []string{"ct state established update @consent", "ct status assured ct mark & 0x40000000"}},
		// Finding B: conntrack takes any ACK in the client's window as the
		// handshake's end, so a blind ACK sweep makes a forged connection
		// assured. Only the device's TCP knows the handshake completed:
		// the output chain marks a connection once the device sends a
		// segment without SYN or RST on it (before anything that accepts,
		// without a verdict), and the grant needs that bit.
		{name: "a blind ACK grants nothing: the device's own segment marks the connection", chain: "output",
			want: []string{
				`meta nfproto ipv6 ip6 saddr != :: fib saddr type != local drop`,
				`meta nfproto ipv4 tcp sport 8443 ip daddr @svc_viewer_v4 ct direction reply tcp flags ! syn,rst ct mark set ct mark | 0x40000000`,
				`meta nfproto ipv6 tcp sport 8443 ip6 daddr @svc_viewer_v6 ct direction reply tcp flags ! syn,rst ct mark set ct mark | 0x40000000`,
				`meta nfproto ipv4 ip daddr @consent_v4 udp dport 5000-5100 accept`},
			wantNone: []string{"ct mark set 0x", "ct mark set ct mark &", "ct mark | 0x40000000 accept"}},
		{name: "no spoke bit for the service in the input chain without consent: true", patch: [2]string{"consent: true", "consent: false"}, chain: "input",
			wantNone: []string{"dport 8443 ip saddr @svc_viewer_v4 ct direction original"}},
		{name: "the spoke mark stays for consent without any quota", patch: [2]string{"  quota: 1MiB/1h\n  total: 64MiB/1h\n", ""}, chain: "output",
			want: []string{
				`meta nfproto ipv4 tcp sport 8443 ip daddr @svc_viewer_v4 ct direction reply tcp flags ! syn,rst ct mark set ct mark | 0x40000000`,
				`meta nfproto ipv4 tcp sport 8443 ip daddr @svc_viewer_v4 ct direction reply accept`}},
		{name: "no consent without consent: true", patch: [2]string{"consent: true", "consent: false"}, chain: "input",
			wantNone: []string{"dport 8443 ip saddr @svc_viewer_v4 ct direction"}},
		{name: "clear-to-send matched on the transport payload", chain: "input",
			want: []string{
				`meta nfproto ipv4 tcp sport 4433 ip saddr @hs_up_v4 ct direction reply ct state established ct mark & 0x80000000 == 0x0 ct mark & 0x40000000 == 0x40000000 @ih,0,24 0x323230 update @consent_v4 { ip saddr }`,
				`meta nfproto ipv4 tcp sport 4433 ip saddr @hs_up_v4 ct direction reply ct state established ip saddr @consent_v4 update @consent_v4 { ip saddr }`}},
		// Finding D: only the peer's first data segment may grant. The
		// grant needs the first-data bit clear, the next rule sets it on
		// every segment with payload, in this order (so the first data
		// segment itself still grants), and it only ever ORs in its bit.
		{name: "clear-to-send only on the first data: grant, then mark first data, per family", patch: [2]string{"cloud: [203.0.113.10]", `cloud: [203.0.113.10, "2001:db8::10"]`}, chain: "input",
			want: []string{
				`meta nfproto ipv4 tcp sport 4433 ip saddr @hs_up_v4 ct direction reply ct state established ct mark & 0x80000000 == 0x0 ct mark & 0x40000000 == 0x40000000 @ih,0,24 0x323230 update @consent_v4 { ip saddr }`,
				`meta nfproto ipv4 tcp sport 4433 ip saddr @hs_up_v4 ct direction reply ct state established ct mark & 0x80000000 == 0x0 @ih,0,8 & 0x0 == 0x0 ct mark set ct mark | 0x80000000`,
				`meta nfproto ipv4 tcp sport 4433 ip saddr @hs_up_v4 ct direction reply ct state established ip saddr @consent_v4 update @consent_v4 { ip saddr }`,
				`meta nfproto ipv6 tcp sport 4433 ip6 saddr @hs_up_v6 ct direction reply ct state established ct mark & 0x80000000 == 0x0 ct mark & 0x40000000 == 0x40000000 @ih,0,24 0x323230 update @consent_v6 { ip6 saddr }`,
				`meta nfproto ipv6 tcp sport 4433 ip6 saddr @hs_up_v6 ct direction reply ct state established ct mark & 0x80000000 == 0x0 @ih,0,8 & 0x0 == 0x0 ct mark set ct mark | 0x80000000`,
				`meta nfproto ipv6 tcp sport 4433 ip6 saddr @hs_up_v6 ct direction reply ct state established ip6 saddr @consent_v6 update @consent_v6 { ip6 saddr }`,
				`ct state established,related accept`},
			wantNone: []string{"ct state established @ih", "ct mark set 0x", "ct mark set ct mark &"}},
		{name: "no first-data mark without clear-to-send", patch: [2]string{`, clearToSend: "220"`, ""}, chain: "input",
			wantNone: []string{"0x80000000", "ct mark set"}},
		{name: "handshake without clear-to-send grants on the peer's replies after the handshake", patch: [2]string{`, clearToSend: "220"`, ""}, chain: "input",
			want:     []string{`meta nfproto ipv4 tcp sport 4433 ip saddr @hs_up_v4 ct direction reply ct state established ct mark & 0x40000000 == 0x40000000 update @consent_v4 { ip saddr }`},
			wantNone: []string{"@ih", "ct status assured"}},
		// The device's ACK of the peer's SYN-ACK marks a handshake
		// connection: the grant waits for the device's TCP, not for
		// conntrack's ASSURED, so a banner sent right after accept grants.
		{name: "a consent handshake is marked by the device's own segment", chain: "output",
			want: []string{
				`meta nfproto ipv4 tcp dport 4433 ip daddr @hs_up_v4 ct direction original tcp flags ! syn,rst ct mark set ct mark | 0x40000000`,
				`meta nfproto ipv4 ip daddr @consent_v4 udp dport 5000-5100 accept`,
				`meta nfproto ipv4 tcp dport 4433 ip daddr @hs_up_v4 add @quota_default_v4 { ip daddr quota until 1048576 bytes } add @total { meta nfproto quota until 67108864 bytes } accept`}},
		{name: "a long clear-to-send is compared 16 bytes at a time", patch: [2]string{`clearToSend: "220"`, `clearToSend: "220 ready for upload, v2"`}, chain: "input",
			want: []string{`meta nfproto ipv4 tcp sport 4433 ip saddr @hs_up_v4 ct direction reply ct state established ct mark & 0x80000000 == 0x0 ct mark & 0x40000000 == 0x40000000 @ih,0,128 0x32323020726561647920666f72207570 @ih,128,64 0x6c6f61642c207632 update @consent_v4 { ip saddr }`}},
		{name: "bulk to consenting peers within consent.bulk", chain: "output",
			want: []string{`meta nfproto ipv4 ip daddr @consent_v4 udp dport 5000-5100 accept`}},
		{name: "bulk of anything when consent.bulk is omitted", patch: [2]string{"  bulk: [{proto: udp, port: 5000-5100}]\n", ""}, chain: "output",
			want: []string{`meta nfproto ipv4 ip daddr @consent_v4 accept`, `meta nfproto ipv6 ip6 daddr @consent_v6 accept`}},
		{name: "per-destination quota, add not update, fail closed", chain: "output",
			want: []string{
				`meta nfproto ipv4 udp dport 123 add @quota_allow_ntp_v4 { ip daddr quota until 16384 bytes } add @total { meta nfproto quota until 67108864 bytes } accept`,
				`meta nfproto ipv6 udp dport 123 add @quota_allow_ntp_v6 { ip6 daddr & ffff:ffff:ffff:ff00:: quota until 16384 bytes } add @total { meta nfproto quota until 67108864 bytes } accept`,
				`limit rate 10/minute log prefix "devfence cam out drop: " group 0`,
				`counter drop`},
			wantNone: []string{"quota over", "update @quota"}},
		// Finding C: replies of established connections spend the peer's
		// budget; replies before that (a SYN-ACK, anyone could have
		// provoked it with a forged SYN) only pass a per-destination rate
		// meter, which fails closed like the quotas, and touch no budget.
		// For TCP, established is the device-spoke mark, not conntrack's
		// assured, which a blind ACK sweep forges (finding B): the
		// device's RSTs to the sweep must not spend the budget either.
		{name: "service replies are metered once the device spoke, rate-limited before", chain: "output",
			want: []string{
				`meta nfproto ipv4 tcp sport 8443 ip daddr @svc_viewer_v4 ct direction reply ct mark & 0x40000000 == 0x40000000 add @quota_default_v4 { ip daddr quota until 1048576 bytes } add @total { meta nfproto quota until 67108864 bytes } accept`,
				`meta nfproto ipv4 tcp sport 8443 ip daddr @svc_viewer_v4 ct direction reply ct mark & 0x40000000 == 0x0 add @unassured_replies_v4 { ip daddr limit rate 10/second burst 20 packets } accept`,
				`meta nfproto ipv6 tcp sport 8443 ip6 daddr @svc_viewer_v6 ct direction reply ct mark & 0x40000000 == 0x40000000 add @quota_default_v6 { ip6 daddr & ffff:ffff:ffff:ff00:: quota until 1048576 bytes } add @total { meta nfproto quota until 67108864 bytes } accept`,
				`meta nfproto ipv6 tcp sport 8443 ip6 daddr @svc_viewer_v6 ct direction reply ct mark & 0x40000000 == 0x0 add @unassured_replies_v6 { ip6 daddr & ffff:ffff:ffff:ff00:: limit rate 10/second burst 20 packets } accept`,
				`counter drop`},
			wantNone: []string{
				`ct direction reply add @quota`, `ct direction reply accept`, "ct status assured add @quota",
				`== 0x0 add @quota`, `== 0x0 add @total`, `@unassured_replies_v4 { ip daddr quota`, "limit rate 10/second burst 20 packets } add @total"}},
		{name: "UDP service replies are metered once assured", patch: [2]string{"proto: tcp, port: 8443", "proto: udp, port: 8443"}, chain: "output",
			want: []string{
				`meta nfproto ipv4 udp sport 8443 ip daddr @svc_viewer_v4 ct direction reply ct status assured add @quota_default_v4 { ip daddr quota until 1048576 bytes } add @total { meta nfproto quota until 67108864 bytes } accept`,
				`meta nfproto ipv4 udp sport 8443 ip daddr @svc_viewer_v4 ct direction reply ct status ! assured add @unassured_replies_v4 { ip daddr limit rate 10/second burst 20 packets } accept`},
			wantNone: []string{"sport 8443 ip daddr @svc_viewer_v4 ct direction reply tcp flags", "sport 8443 ip daddr @svc_viewer_v4 ct direction reply ct mark"}},
		{name: "no rate meter without services", patch: [2]string{"  services:\n    - {name: viewer, proto: tcp, port: 8443, from: [lan], consent: true}\n", "  services: []\n"}, chain: "output",
			wantNone: []string{"unassured", "ct status"}},
		{name: "unmetered without any quota", patch: [2]string{"  quota: 1MiB/1h\n  total: 64MiB/1h\n", ""}, chain: "output",
			want: []string{`meta nfproto ipv4 tcp sport 8443 ip daddr @svc_viewer_v4 ct direction reply accept`}},
		// Protocols: every egress rule is metered per peer whatever it
		// carries; icmp is ICMPv4 to IPv4 peers and ICMPv6 to IPv6 ones,
		// and a type name of one family only narrows that family.
		{name: "icmp to each family's own ICMP, metered", patch: [2]string{"consent:\n", "    - {name: ping, to: [lan], proto: icmp}\nconsent:\n"}, chain: "output",
			want: []string{
				`meta nfproto ipv4 meta l4proto icmp ip daddr @allow_ping_v4 add @quota_default_v4 { ip daddr quota until 1048576 bytes } add @total { meta nfproto quota until 67108864 bytes } accept`,
				`meta nfproto ipv6 meta l4proto ipv6-icmp ip6 daddr @allow_ping_v6 add @quota_default_v6 { ip6 daddr & ffff:ffff:ffff:ff00:: quota until 1048576 bytes } add @total { meta nfproto quota until 67108864 bytes } accept`},
			wantNone: []string{"meta nfproto ipv4 meta l4proto ipv6-icmp", "meta nfproto ipv6 meta l4proto icmp "}},
		{name: "icmp types narrow each family by its own names", patch: [2]string{"consent:\n", "    - {name: ping, to: [lan], proto: icmp, types: [echo-request, timestamp-request, packet-too-big]}\nconsent:\n"}, chain: "output",
			want: []string{
				`meta nfproto ipv4 icmp type echo-request ip daddr @allow_ping_v4 add @quota_default_v4 { ip daddr quota until 1048576 bytes } add @total { meta nfproto quota until 67108864 bytes } accept`,
				`meta nfproto ipv4 icmp type timestamp-request ip daddr @allow_ping_v4 add @quota_default_v4 { ip daddr quota until 1048576 bytes } add @total { meta nfproto quota until 67108864 bytes } accept`,
				`meta nfproto ipv6 icmpv6 type echo-request ip6 daddr @allow_ping_v6 add @quota_default_v6 { ip6 daddr & ffff:ffff:ffff:ff00:: quota until 1048576 bytes } add @total { meta nfproto quota until 67108864 bytes } accept`,
				`meta nfproto ipv6 icmpv6 type packet-too-big ip6 daddr @allow_ping_v6 add @quota_default_v6 { ip6 daddr & ffff:ffff:ffff:ff00:: quota until 1048576 bytes } add @total { meta nfproto quota until 67108864 bytes } accept`},
			wantNone: []string{"l4proto icmp ip daddr @allow_ping", "l4proto ipv6-icmp ip6 daddr @allow_ping", "icmpv6 type timestamp", "icmp type packet-too-big"}},
		{name: "icmp types of one family only allow nothing in the other", patch: [2]string{"consent:\n", "    - {name: ping, to: [lan], proto: icmp, types: [router-solicitation]}\nconsent:\n"}, chain: "output",
			want:     []string{`meta nfproto ipv4 icmp type router-solicitation ip daddr @allow_ping_v4 add @quota_default_v4 { ip daddr quota until 1048576 bytes } add @total { meta nfproto quota until 67108864 bytes } accept`},
			wantNone: []string{"@allow_ping_v6"}},
		{name: "igmp, a protocol number and any, metered by their quota", patch: [2]string{"consent:\n", "    - {name: mcast, to: any, proto: igmp, quota: 4KiB/1h}\n    - {name: raw, to: [cloud], proto: 253}\n    - {name: all, to: [lan], proto: any}\nconsent:\n"}, chain: "output",
			want: []string{
				`meta nfproto ipv4 meta l4proto igmp add @quota_allow_mcast_v4 { ip daddr quota until 4096 bytes } add @total { meta nfproto quota until 67108864 bytes } accept`,
				`meta nfproto ipv4 meta l4proto 253 ip daddr @allow_raw_v4 add @quota_default_v4 { ip daddr quota until 1048576 bytes } add @total { meta nfproto quota until 67108864 bytes } accept`,
				`meta nfproto ipv4 ip daddr @allow_all_v4 add @quota_default_v4 { ip daddr quota until 1048576 bytes } add @total { meta nfproto quota until 67108864 bytes } accept`,
				`meta nfproto ipv6 ip6 daddr @allow_all_v6 add @quota_default_v6 { ip6 daddr & ffff:ffff:ffff:ff00:: quota until 1048576 bytes } add @total { meta nfproto quota until 67108864 bytes } accept`},
			wantNone: []string{"meta nfproto ipv6 meta l4proto igmp", "l4proto 253 accept", "l4proto 253 ip daddr @allow_raw_v4 accept"}},
		{name: "an icmp service admits its types; its replies are metered from the first", patch: [2]string{"    - {name: viewer, proto: tcp, port: 8443, from: [lan], consent: true}\n", "    - {name: viewer, proto: tcp, port: 8443, from: [lan], consent: true}\n    - {name: pong, proto: icmp, types: [echo-request], from: [lan]}\n"}, chain: "input",
			want: []string{
				`meta nfproto ipv4 icmp type echo-request ip saddr @svc_pong_v4 ct state new accept`,
				`meta nfproto ipv6 icmpv6 type echo-request ip6 saddr @svc_pong_v6 ct state new accept`}},
		{name: "icmp service replies metered by the default quota", patch: [2]string{"    - {name: viewer, proto: tcp, port: 8443, from: [lan], consent: true}\n", "    - {name: viewer, proto: tcp, port: 8443, from: [lan], consent: true}\n    - {name: pong, proto: icmp, types: [echo-request], from: [lan]}\n"}, chain: "output",
			want: []string{
				`meta nfproto ipv4 meta l4proto icmp ip daddr @svc_pong_v4 ct direction reply add @quota_default_v4 { ip daddr quota until 1048576 bytes } add @total { meta nfproto quota until 67108864 bytes } accept`,
				`meta nfproto ipv6 meta l4proto ipv6-icmp ip6 daddr @svc_pong_v6 ct direction reply add @quota_default_v6 { ip6 daddr & ffff:ffff:ffff:ff00:: quota until 1048576 bytes } add @total { meta nfproto quota until 67108864 bytes } accept`},
			wantNone: []string{"@svc_pong_v4 ct direction reply accept", "@svc_pong_v4 ct direction reply ct status", "@svc_pong_v4 ct direction reply add @unassured"}},
		{name: "anti-spoofing", chain: "output",
			want: []string{`meta nfproto ipv4 ip saddr 127.0.0.0/8 drop`, `meta nfproto ipv4 ip saddr != 0.0.0.0 fib saddr type != local drop`, `meta nfproto ipv6 ip6 saddr != :: fib saddr type != local drop`}},
		{name: "essentials: DHCP and neighbour discovery on-link only", chain: "input",
			want: []string{`meta nfproto ipv4 udp sport 67 udp dport 68 accept`, `meta nfproto ipv6 ip6 saddr fe80::/10 udp sport 547 udp dport 546 accept`,
				`meta nfproto ipv6 icmpv6 type nd-neighbor-solicit ip6 hoplimit 255 accept`, `meta nfproto ipv6 icmpv6 type nd-router-advert ip6 hoplimit 255 accept`},
			wantNone: []string{"echo-request"}},
		{name: "echo answered, rate-limited", patch: [2]string{"limits:", "essentials: {icmp: echo}\nlimits:"}, chain: "input",
			want: []string{`meta nfproto ipv4 icmp type echo-request limit rate 5/second accept`, `meta nfproto ipv6 icmpv6 type echo-request limit rate 5/second accept`}},
		{name: "essentials off", patch: [2]string{"limits:", "essentials: {dhcp: false, ipv6-nd: false, loopback: false}\nlimits:"}, chain: "input",
			wantNone: []string{"sport 67", "icmpv6", `iif "lo"`}},
		{name: "no log when drops is 0", patch: [2]string{"limits:", "log: {drops: 0}\nlimits:"}, chain: "input",
			wantNone: []string{"log"}},
		{name: "log group", patch: [2]string{"limits:", "log: {drops: 3/second, group: 7}\nlimits:"}, chain: "input",
			want: []string{`limit rate 3/second log prefix "devfence cam in drop: " group 7`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			yaml := base
			if tc.patch[0] != "" {
				if !strings.Contains(yaml, tc.patch[0]) {
					t.Fatalf("patch %q does not apply", tc.patch[0])
				}
				yaml = strings.Replace(yaml, tc.patch[0], tc.patch[1], 1)
			}
			got := lines(compile(t, yaml), tc.chain)
			at := -1
			for _, w := range tc.want {
				i := slices.Index(got, w)
				if i < 0 {
					t.Errorf("%s: chain %s lacks rule\n\t%s\nhas:\n\t%s", tc.name, tc.chain, w, strings.Join(got, "\n\t"))
					continue
				}
				if i < at {
					t.Errorf("%s: rule %q comes before the rule listed ahead of it", tc.name, w)
				}
				at = i
			}
			for _, bad := range tc.wantNone {
				for _, l := range got {
					if strings.Contains(l, bad) {
						t.Errorf("%s: rule %q holds %q", tc.name, l, bad)
					}
				}
			}
		})
	}
}

func TestCompiledSets(t *testing.T) {
	tbl := compile(t, base)
	for _, tc := range []struct {
		set, want string
	}{
		// Overlapping entries merge: the kernel refuses overlapping intervals.
		{"svc_viewer_v4", "type ipv4_addr flags=1 size=0 elements=[192.168.1.0/24]"},
		{"svc_viewer_v6", "type ipv6_addr flags=1 size=0 elements=[fd00:1::/64]"},
		{"consent_v4", "type ipv4_addr flags=6 size=77 elements=[]"},
		{"quota_default_v6", "type ipv6_addr flags=6 size=999 elements=[]"},
		{"quota_allow_ntp_v4", "type ipv4_addr flags=6 size=999 elements=[]"},
		{"total", "type nf_proto flags=6 size=4 elements=[]"},
		{"unassured_replies_v4", "type ipv4_addr flags=6 size=999 elements=[]"},
		{"unassured_replies_v6", "type ipv6_addr flags=6 size=999 elements=[]"},
	} {
		s := tbl.Set(tc.set)
		if s == nil {
			t.Errorf("no set %s", tc.set)
			continue
		}
		var elems []string
		for _, e := range s.Elements {
			elems = append(elems, e.String())
		}
		got := fmt.Sprintf("type %s flags=%d size=%d elements=[%s]", s.Key, s.Flags, s.Size, strings.Join(elems, " "))
		if got != tc.want {
			t.Errorf("set %s:\n got %s\nwant %s", tc.set, got, tc.want)
		}
	}
	if s := tbl.Set("quota_allow_ntp_v4"); s.Timeout.String() != "10m0s" {
		t.Errorf("a rule's quota window is its set's element timeout; got %v", s.Timeout)
	}
	if s := tbl.Set("unassured_replies_v6"); s.Timeout.String() != "1m0s" {
		t.Errorf("the rate meter of unassured replies keeps a destination 1m; got %v", s.Timeout)
	}
	if c := tbl.Chain("forward"); c.Policy != rules.Drop || len(c.Rules) != 0 {
		t.Errorf("forward must drop everything: %+v", c)
	}
}

// TestConsentGrantsNeedTheDeviceToSpeak: every input rule that grants
// consent either needs the mark of the device's own TCP having sent a
// segment without SYN or RST on the connection (the handshake completed
// for the device, not only for conntrack) or refreshes a peer that
// already consents; the output chain never grants (traffic to a peer must
// not extend consent). Guards findings A and B against a new grant rule.
// No grant needs conntrack's ASSURED: when a kernel sets it must not
// decide consent.
func TestConsentGrantsNeedTheDeviceToSpeak(t *testing.T) {
	for _, patch := range [][2]string{{}, {`, clearToSend: "220"`, ""}} {
		yaml := strings.Replace(base, patch[0], patch[1], 1)
		tbl := compile(t, yaml)
		grants := 0
		for _, r := range tbl.Chain("input").Rules {
			var updates, assured, refresh, spoke bool
			for _, s := range r.Stmts {
				switch s := s.(type) {
				case rules.DynsetUpdate:
					updates = updates || strings.HasPrefix(s.Set, "consent_")
				case rules.CtStatus:
					assured = assured || s.Bits&rules.CtAssured != 0
				case rules.AddrMatch:
					refresh = refresh || strings.HasPrefix(s.Set, "consent_")
				case rules.CtMark:
					spoke = spoke || s.Mask&(1<<30) != 0 && s.Value&(1<<30) != 0
				}
			}
			if !updates {
				continue
			}
			grants++
			if !spoke && !refresh {
				t.Errorf("rule %q grants consent without the device-spoke mark", r)
			}
			if assured {
				t.Errorf("rule %q makes consent wait for conntrack's ASSURED", r)
			}
		}
		if grants == 0 {
			t.Error("no consent rule found")
		}
		for _, r := range tbl.Chain("output").Rules {
			if strings.Contains(r.String(), "@consent_v4 {") || strings.Contains(r.String(), "@consent_v6 {") {
				t.Errorf("output rule %q writes a consent set", r)
			}
		}
	}
}
