package traffic

import (
	"net/netip"
	"testing"
	"time"

	"github.com/devfence/devfence/internal/netlab"
)

// icmpKind is the family's ICMP: its protocol number and the types the
// tests send. other is a request type conntrack tracks as new, like an
// echo request, so a drop of it is the rule's doing, not conntrack's:
// timestamp-request (ICMPv4) and node information query (ICMPv6, which
// has no timestamp).
type icmpKind struct {
	proto, echo, echoReply, other uint8
	foreign                       uint8 // the other family's ICMP protocol
}

func icmpOf(fam netlab.Family) icmpKind {
	if fam == netlab.IPv6 {
		return icmpKind{proto: netlab.ProtoICMPv6, echo: 128, echoReply: 129, other: 139, foreign: netlab.ProtoICMP}
	}
	return icmpKind{proto: netlab.ProtoICMP, echo: 8, echoReply: 0, other: 13, foreign: netlab.ProtoICMPv6}
}

func icmpMsg(fam netlab.Family, typ uint8, data int) []byte {
	return netlab.ICMPMessage(fam, typ, 0, [4]byte{0x0d, 0xf0, 0, 1}, make([]byte, data))
}

func mustListenIP(t testing.TB, h *netlab.Host, fam netlab.Family, proto uint8) *netlab.IPSink {
	t.Helper()
	s, err := h.ListenIP(fam, proto)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// mustSendIP sends count packets and returns how many the device's own
// stack accepted (EPERM is its output chain dropping them).
func mustSendIP(t testing.TB, h *netlab.Host, dst netip.Addr, proto uint8, msg []byte, count int) int {
	t.Helper()
	sent, err := h.SendIP(dst, proto, msg, count)
	if err != nil {
		t.Fatal(err)
	}
	return sent
}

// TestICMPEgressTypes: `proto: icmp` lets the device ping (ICMPv4 to IPv4
// peers, ICMPv6 to IPv6 peers) and get the answers back; with `types:
// [echo-request]` another request type to the same peer is dropped, while
// a rule without types lets it through (the control: conntrack accepts the
// type). Neither rule lets the other family's ICMP protocol out.
func TestICMPEgressTypes(t *testing.T) {
	t.Parallel()
	const profile = `version: 1
device: {name: traffic-icmp}
networks:
  narrow: ["{{victim4 0}}", "{{victim6 0}}"]
  wide: ["{{victim4 1}}", "{{victim6 1}}"]
egress:
  quota: 64KiB/1h
  allow:
    - {name: ping, to: [narrow], proto: icmp, types: [echo-request]}
    - {name: icmp, to: [wide], proto: icmp}
`
	families(t, func(t *testing.T, fam netlab.Family) {
		lab := netlab.New(t, netlab.WithVictims(2))
		dev, v0, v1 := lab.Device, lab.Victims[0], lab.Victims[1]
		k := icmpOf(fam)
		devICMP := mustListenIP(t, dev, fam, k.proto)
		v0ICMP, v1ICMP := mustListenIP(t, v0, fam, k.proto), mustListenIP(t, v1, fam, k.proto)
		v1Foreign := mustListenIP(t, v1, fam, k.foreign)
		applyProfile(t, lab, profile)

		// Allowed: echo requests out, the peers' echo replies back in.
		mustSendIP(t, dev, v0.Addr(fam), k.proto, icmpMsg(fam, k.echo, 56), 5)
		if err := v0ICMP.WaitTypePackets(k.echo, 5, arrive); err != nil {
			t.Fatalf("positive control: echo requests to the narrowed peer: %v", err)
		}
		if err := devICMP.WaitTypePackets(k.echoReply, 5, arrive); err != nil {
			t.Fatalf("positive control: echo replies back to the device: %v", err)
		}
		mustSendIP(t, dev, v1.Addr(fam), k.proto, icmpMsg(fam, k.other, 12), 5)
		if err := v1ICMP.WaitTypePackets(k.other, 5, arrive); err != nil {
			t.Fatalf("positive control: type %d where icmp is not narrowed: %v", k.other, err)
		}

		// Dropped: another type where types narrows icmp, and the other
		// family's ICMP protocol where it does not.
		if sent := mustSendIP(t, dev, v0.Addr(fam), k.proto, icmpMsg(fam, k.other, 12), 20); sent != 0 {
			t.Errorf("type %d to the echo-request-only peer: the device's output let %d packets out", k.other, sent)
		}
		if sent := mustSendIP(t, dev, v1.Addr(fam), k.foreign, icmpMsg(fam, k.echo, 56), 20); sent != 0 {
			t.Errorf("IP protocol %d over %s: the device's output let %d packets out", k.foreign, fam, sent)
		}
		if n := settled(func() int64 { return v0ICMP.TypePackets(k.other) }); n != 0 {
			t.Errorf("%d packets of type %d reached the echo-request-only peer", n, k.other)
		}
		if n := settled(v1Foreign.Packets); n != 0 {
			t.Errorf("%d packets of IP protocol %d over %s reached the peer", n, k.foreign, fam)
		}
	})
}

// TestICMPServiceTypes: an inbound `proto: icmp` service narrowed to
// echo-request admits pings from its peers, and the device's answers get
// back to them; another request type from the same peer, and a ping from
// a host the service does not name, never reach the device's stack.
func TestICMPServiceTypes(t *testing.T) {
	t.Parallel()
	const profile = `version: 1
device: {name: traffic-icmp-in}
networks:
  viewer: ["{{.Viewer.V4}}", "{{.Viewer.V6}}"]
inbound:
  services:
    - {name: ping, proto: icmp, types: [echo-request], from: [viewer]}
egress:
  quota: 64KiB/1h
`
	families(t, func(t *testing.T, fam netlab.Family) {
		lab := netlab.New(t, netlab.WithVictims(0))
		dev, viewer, lan2 := lab.Device, lab.Viewer, lab.LAN2
		k := icmpOf(fam)
		devICMP := mustListenIP(t, dev, fam, k.proto)
		viewerICMP := mustListenIP(t, viewer, fam, k.proto)
		lan2ICMP := mustListenIP(t, lan2, fam, k.proto)
		applyProfile(t, lab, profile)

		mustSendIP(t, viewer, dev.Addr(fam), k.proto, icmpMsg(fam, k.echo, 56), 5)
		if err := devICMP.WaitTypePackets(k.echo, 5, arrive); err != nil {
			t.Fatalf("positive control: the viewer's pings: %v", err)
		}
		if err := viewerICMP.WaitTypePackets(k.echoReply, 5, arrive); err != nil {
			t.Fatalf("positive control: the device's answers: %v", err)
		}

		mustSendIP(t, viewer, dev.Addr(fam), k.proto, icmpMsg(fam, k.other, 12), 20)
		mustSendIP(t, lan2, dev.Addr(fam), k.proto, icmpMsg(fam, k.echo, 56), 20)
		if n := settled(func() int64 { return devICMP.TypePackets(k.other) }); n != 0 {
			t.Errorf("%d packets of type %d from the viewer reached the device", n, k.other)
		}
		if n := settled(func() int64 { return lan2ICMP.TypePackets(k.echoReply) }); n != 0 {
			t.Errorf("lan2, which the service does not name, got %d echo replies from the device", n)
		}
		if n := devICMP.TypePackets(k.echo); n != 5 {
			t.Errorf("the device got %d echo requests, want the viewer's 5 (lan2's must be dropped)", n)
		}
	})
}

// TestIGMPReports: `proto: igmp` to 224.0.0.22 lets the device's IGMPv3
// membership reports reach the segment (a host there that joined the
// group, as IGMPv3 routers do, counts the device's); a report to another
// group address is dropped, and a flood of reports stops at the rule's
// quota.
func TestIGMPReports(t *testing.T) {
	t.Parallel()
	const quota = 4 << 10
	const profile = `version: 1
device: {name: traffic-igmp}
egress:
  quota: 64KiB/1h
  allow:
    - {name: reports, to: [224.0.0.22], proto: igmp, quota: 4KiB/1h}
`
	lab := netlab.New(t, netlab.WithVictims(0))
	dev, lan2 := lab.Device, lab.LAN2
	sink := mustListenIP(t, lan2, netlab.IPv4, netlab.ProtoIGMP)
	if err := sink.Join(netip.MustParseAddr("224.0.0.22")); err != nil {
		t.Fatal(err)
	}
	fromDevice := func() int64 { return sink.PacketsFrom(dev.V4) }
	applyProfile(t, lab, profile)

	report := netlab.IGMPv3Report(netip.MustParseAddr("239.1.2.3"))
	mustSendIP(t, dev, netip.MustParseAddr("224.0.0.22"), netlab.ProtoIGMP, report, 5)
	if err := netlab.Poll(arrive, 5*time.Millisecond, func() (bool, error) { return fromDevice() >= 5, nil }); err != nil {
		t.Fatalf("positive control: %d of the device's 5 reports to 224.0.0.22 arrived: %v", fromDevice(), err)
	}
	if sent := mustSendIP(t, dev, netip.MustParseAddr("224.0.0.2"), netlab.ProtoIGMP, report, 20); sent != 0 {
		t.Errorf("reports to 224.0.0.2: the device's output let %d out", sent)
	}

	// Each report is a 20-byte IPv4 header and 16 bytes of IGMP; the quota
	// counts both, the sink only the IGMP.
	const pkt = 20 + 16
	mustSendIP(t, dev, netip.MustParseAddr("224.0.0.22"), netlab.ProtoIGMP, report, 4*quota/pkt)
	n := settled(fromDevice)
	t.Logf("sent %d reports, %d arrived (quota %s, %d packets)", 5+4*quota/pkt, n, kib(quota), quota/pkt)
	if max := int64(quota/pkt + 1); n > max {
		t.Errorf("%d reports arrived, more than the quota's %d", n, max)
	}
	if n < quota/pkt/2 {
		t.Errorf("only %d reports arrived; the quota allows %d", n, quota/pkt)
	}
}

// TestProtocolNumberEgress: `proto: 253` lets that IP protocol out to the
// rule's peers and no other protocol number (254) to the same peers.
func TestProtocolNumberEgress(t *testing.T) {
	t.Parallel()
	const profile = `version: 1
device: {name: traffic-raw}
networks:
  lab-peer: ["{{victim4 0}}", "{{victim6 0}}"]
egress:
  quota: 64KiB/1h
  allow:
    - {name: experiment, to: [lab-peer], proto: 253}
`
	families(t, func(t *testing.T, fam netlab.Family) {
		lab := netlab.New(t, netlab.WithVictims(1))
		dev, v := lab.Device, lab.Victims[0]
		ok, other := mustListenIP(t, v, fam, 253), mustListenIP(t, v, fam, 254)
		applyProfile(t, lab, profile)

		mustSendIP(t, dev, v.Addr(fam), 253, []byte("devfence protocol 253"), 5)
		if err := ok.WaitPackets(5, arrive); err != nil {
			t.Fatalf("positive control: protocol 253: %v", err)
		}
		if sent := mustSendIP(t, dev, v.Addr(fam), 254, []byte("devfence protocol 254"), 20); sent != 0 {
			t.Errorf("protocol 254: the device's output let %d packets out", sent)
		}
		if n := settled(other.Packets); n != 0 {
			t.Errorf("%d packets of protocol 254 reached the peer", n)
		}
	})
}

// TestProtocolQuotas: egress rules of protocols without ports are metered
// per peer like tcp and udp: a flood of 1000-byte pings, and one of
// protocol 253 packets, stops at the rule's quota.
func TestProtocolQuotas(t *testing.T) {
	t.Parallel()
	const quota, push, size = 16 << 10, 200 << 10, 1000
	const profile = `version: 1
device: {name: traffic-proto-quota}
networks:
  peer: ["{{victim4 0}}", "{{victim6 0}}"]
egress:
  quota: 64KiB/1h
  allow:
    - {name: ping, to: [peer], proto: icmp, types: [echo-request], quota: 16KiB/1h}
    - {name: raw, to: [peer], proto: 253, quota: 16KiB/1h}
`
	for _, kind := range []string{"icmp", "253"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			families(t, func(t *testing.T, fam netlab.Family) {
				lab := netlab.New(t, netlab.WithVictims(1))
				dev, v := lab.Device, lab.Victims[0]
				proto, msg := uint8(253), make([]byte, size)
				if kind == "icmp" {
					proto, msg = icmpOf(fam).proto, icmpMsg(fam, icmpOf(fam).echo, size-8)
				}
				sink := mustListenIP(t, v, fam, proto)
				// Only the flood's packets: neighbour discovery is ICMPv6 too.
				got := sink.Bytes
				if kind == "icmp" {
					got = func() int64 { return sink.TypeBytes(icmpOf(fam).echo) }
				}
				applyProfile(t, lab, profile)
				mustSendIP(t, dev, v.Addr(fam), proto, msg, push/size)
				n := settled(got)
				t.Logf("pushed %s, %s arrived (quota %s)", kib(push), kib(n), kib(quota))
				if n <= 0 {
					t.Fatalf("nothing arrived: the rule should let the quota through")
				}
				if n > quota+size {
					t.Fatalf("%s arrived, more than the quota %s plus one packet", kib(n), kib(quota))
				}
			})
		})
	}
}

// TestIGMPQueriesFromItsNetworks: an inbound `proto: igmp` service admits
// the multicast router's queries (to all hosts, 224.0.0.1) from the hosts
// it names and no others.
func TestIGMPQueriesFromItsNetworks(t *testing.T) {
	t.Parallel()
	const profile = `version: 1
device: {name: traffic-igmp-in}
networks:
  querier: ["{{.LAN2.V4}}"]
inbound:
  services:
    - {name: queries, proto: igmp, from: [querier]}
egress:
  quota: 64KiB/1h
`
	lab := netlab.New(t, netlab.WithVictims(0))
	dev, lan2, attacker := lab.Device, lab.LAN2, lab.Attacker
	sink := mustListenIP(t, dev, netlab.IPv4, netlab.ProtoIGMP)
	applyProfile(t, lab, profile)

	allHosts := netip.MustParseAddr("224.0.0.1")
	mustSendIP(t, lan2, allHosts, netlab.ProtoIGMP, netlab.IGMPQuery(), 5)
	if err := netlab.Poll(arrive, 5*time.Millisecond, func() (bool, error) { return sink.PacketsFrom(lan2.V4) >= 5, nil }); err != nil {
		t.Fatalf("positive control: %d of the querier's 5 queries reached the device: %v", sink.PacketsFrom(lan2.V4), err)
	}
	mustSendIP(t, attacker, allHosts, netlab.ProtoIGMP, netlab.IGMPQuery(), 20)
	if n := settled(func() int64 { return sink.PacketsFrom(attacker.V4) }); n != 0 {
		t.Errorf("%d queries from the attacker, which the service does not name, reached the device", n)
	}
}

// TestAnyProtocolEgress: `proto: any` lets every protocol out to the rule's
// peers, all of it metered by the one per-peer quota: UDP after protocol
// 253 gets only what the 253 packets left of the budget.
func TestAnyProtocolEgress(t *testing.T) {
	t.Parallel()
	const quota, size = 16 << 10, 1000
	const profile = `version: 1
device: {name: traffic-any}
networks:
  peer: ["{{victim4 0}}", "{{victim6 0}}"]
egress:
  quota: 64KiB/1h
  allow:
    - {name: all, to: [peer], proto: any, quota: 16KiB/1h}
`
	families(t, func(t *testing.T, fam netlab.Family) {
		lab := netlab.New(t, netlab.WithVictims(2))
		dev, v, other := lab.Device, lab.Victims[0], lab.Victims[1]
		raw, udp := mustListenIP(t, v, fam, 253), mustListenUDP(t, v, 9000)
		otherUDP := mustListenUDP(t, other, 9000)
		applyProfile(t, lab, profile)

		mustSendIP(t, dev, v.Addr(fam), 253, make([]byte, size), 8)
		if err := raw.WaitPackets(8, arrive); err != nil {
			t.Fatalf("positive control: protocol 253: %v", err)
		}
		sendPaced(t, dev, v.Addr(fam), 9000, size, 200)
		n := settled(udp.Bytes)
		total := n + raw.Bytes()
		t.Logf("%s of protocol 253, then %s of UDP arrived (quota %s)", kib(raw.Bytes()), kib(n), kib(quota))
		if n <= 0 {
			t.Errorf("no UDP arrived: the rule should let the rest of the quota through")
		}
		if total > quota+size {
			t.Errorf("%s arrived over both protocols, more than the quota %s plus one packet", kib(total), kib(quota))
		}
		if fam == netlab.IPv4 {
			// Over IPv6 the other victim is in the peer's /64, so the same peer.
			sendPaced(t, dev, other.Addr(fam), 9000, size, 5)
			if n := settled(otherUDP.Bytes); n != 0 {
				t.Errorf("%s reached a host the rule does not name", kib(n))
			}
		}
	})
}
