// Traffic tests: devfence's security invariants shown with real packets.
//
// # Address plan
//
// Every test builds its own lab with internal/netlab (see its lab.go, which
// is authoritative); the tests name hosts, never literal addresses, and the
// profiles are templates over the lab ({{.Viewer.V4}}, see expand):
//
//	host       role in these tests                        IPv4             IPv6
//	device     runs devfence (profile applied here)       192.0.2.10       2001:db8:1::10
//	viewer     LAN app: service client, consenting peer   192.0.2.20       2001:db8:1::20
//	lan2       other LAN host: outside a service's        192.0.2.30       2001:db8:1::30
//	           networks; DHCP server; forged-SYN source
//	cloud      vendor cloud: clear-to-send handshake      203.0.113.10     2001:db8:3::10
//	attacker   internet: unsolicited connections, floods  198.51.100.66    2001:db8:2::66
//	victim<i>  internet: flood targets                    198.51.100.101+i 2001:db8:2::101+i
//
//	segments   LAN 192.0.2.0/24, 2001:db8:1::/64; cloud 203.0.113.0/24,
//	           2001:db8:3::/64; outside 198.51.100.0/24, 2001:db8:2::/64
//
// All hosts share one bridge, so every host reaches every other directly;
// ARP and neighbour discovery are real. The victims' IPv6 addresses share one
// /64, which is one peer under the default limits.ipv6Prefix: 64 (tests
// that need distinct IPv6 peers set ipv6Prefix: 128).
//
// # Ports
//
//	7000/tcp, 7001/udp   device listeners that no profile opens
//	8443/tcp             device service (consent: true where consent is tested)
//	7353/udp             device UDP service
//	5000/udp             consent.bulk port (5000-5100) at viewer, lan2, cloud
//	9000-9002/udp+tcp    victims' ports for to: any rules with quotas
//	4433/tcp             cloud's reserved clear-to-send port
//
// Profiles use short windows (quota windows of a few seconds, consent.idle
// 2s) so waits stay short; every wait is a bounded poll (netlab.Poll).
package traffic

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/devfence/devfence/internal/netlab"
)

// inboundProfile opens one TCP and one UDP service to the viewer only.
const inboundProfile = `version: 1
device: {name: traffic-inbound}
networks:
  viewer: ["{{.Viewer.V4}}", "{{.Viewer.V6}}"]
inbound:
  policy: established-only
  services:
    - {name: app, proto: tcp, port: 8443, from: [viewer]}
    - {name: discovery, proto: udp, port: 7353, from: [viewer]}
egress:
  quota: 64KiB/1h
`

// TestUnsolicitedInboundDropped: connections and datagrams nobody asked
// for never reach a listening socket on the device, whoever sends them
// (LAN or internet, IPv4 or IPv6), while the same packets got through
// before the profile was applied (the lab works) and the profile's own
// service still answers the viewer (the device is reachable).
func TestUnsolicitedInboundDropped(t *testing.T) {
	t.Parallel()
	lab := netlab.New(t, netlab.WithVictims(0))
	dev := lab.Device
	tcp := mustListenTCP(t, dev, 7000)
	udp := mustListenUDP(t, dev, 7001)
	svc := mustListenTCP(t, dev, 8443)
	senders := []*netlab.Host{lab.LAN2, lab.Attacker, lab.Viewer}

	// Positive control without devfence: every sender reaches both ports.
	for _, fam := range netlab.Families {
		for _, h := range senders {
			mustConnect(t, h, dev.Addr(fam), 7000).Close()
			if _, err := h.SendUDP(dev.Addr(fam), 7001, []byte("hello"), 1); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, h := range senders {
		if err := netlab.Poll(arrive, 10*time.Millisecond, func() (bool, error) {
			return tcp.ConnsFrom(h.V4) > 0 && tcp.ConnsFrom(h.V6) > 0 && udp.PacketsFrom(h.V4) > 0 && udp.PacketsFrom(h.V6) > 0, nil
		}); err != nil {
			t.Fatalf("positive control: %s did not reach the device before devfence: %v", h.Name, err)
		}
	}

	applyProfile(t, lab, inboundProfile)
	connsBefore := map[netip.Addr]int64{}
	pktsBefore := map[netip.Addr]int64{}
	for _, h := range senders {
		for _, a := range h.Addrs() {
			connsBefore[a], pktsBefore[a] = tcp.ConnsFrom(a), udp.PacketsFrom(a)
		}
	}

	for _, fam := range netlab.Families {
		for _, h := range senders {
			t.Run(fam.String()+"/"+h.Name, func(t *testing.T) {
				mustNotConnect(t, h, dev.Addr(fam), 7000)
				if _, err := h.SendUDP(dev.Addr(fam), 7001, []byte("unsolicited"), 20); err != nil {
					t.Fatal(err)
				}
			})
		}
		// The service of the profile still answers its network.
		mustConnect(t, lab.Viewer, dev.Addr(fam), 8443).Close()
	}
	if err := svc.WaitConns(2, arrive); err != nil {
		t.Fatalf("positive control: the viewer's service connections did not arrive: %v", err)
	}
	for _, h := range senders {
		for _, a := range h.Addrs() {
			if n := settled(func() int64 { return udp.PacketsFrom(a) }) - pktsBefore[a]; n != 0 {
				t.Errorf("udp/7001 received %d unsolicited datagrams from %s (%s)", n, h.Name, a)
			}
			if n := tcp.ConnsFrom(a) - connsBefore[a]; n != 0 {
				t.Errorf("tcp/7000 accepted %d unsolicited connections from %s (%s)", n, h.Name, a)
			}
		}
	}
}

// TestServiceAcceptsOnlyItsNetworks: an inbound service accepts new
// connections (TCP) and datagrams (UDP) from the networks in its `from`,
// and its replies get out, while the same packets from a LAN host outside
// `from` (lan2) and from the internet (attacker) are dropped.
func TestServiceAcceptsOnlyItsNetworks(t *testing.T) {
	t.Parallel()
	families(t, func(t *testing.T, fam netlab.Family) {
		lab := netlab.New(t, netlab.WithVictims(0))
		dev := lab.Device
		tcp := mustListenTCP(t, dev, 8443, netlab.WithEcho())
		udp := mustListenUDP(t, dev, 7353, netlab.WithEcho())
		applyProfile(t, lab, inboundProfile)
		dst := dev.Addr(fam)

		// Accepted: the viewer's connection completes, its data arrives and
		// the device's echo (a service reply) comes back.
		c := mustConnect(t, lab.Viewer, dst, 8443)
		msg := []byte("hello service")
		if _, err := c.Write(msg); err != nil {
			t.Fatal(err)
		}
		if got, err := netlab.ReadN(c, len(msg), arrive); err != nil || string(got) != string(msg) {
			t.Fatalf("viewer tcp echo: got %q, %v", got, err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), arrive)
		defer cancel()
		if got, err := lab.Viewer.UDPRoundTrip(ctx, dst, 7353, msg); err != nil || string(got) != string(msg) {
			t.Fatalf("viewer udp echo: got %q, %v", got, err)
		}

		// Refused: everyone else.
		for _, h := range []*netlab.Host{lab.LAN2, lab.Attacker} {
			mustNotConnect(t, h, dst, 8443)
			if _, err := h.SendUDP(dst, 7353, msg, 20); err != nil {
				t.Fatal(err)
			}
		}
		for _, h := range []*netlab.Host{lab.LAN2, lab.Attacker} {
			a := h.Addr(fam)
			if n := settled(func() int64 { return udp.PacketsFrom(a) }); n != 0 {
				t.Errorf("udp service received %d datagrams from %s, which is not in its networks", n, h.Name)
			}
			if n := tcp.ConnsFrom(a); n != 0 {
				t.Errorf("tcp service accepted %d connections from %s, which is not in its networks", n, h.Name)
			}
		}
		if tcp.ConnsFrom(lab.Viewer.Addr(fam)) != 1 || udp.PacketsFrom(lab.Viewer.Addr(fam)) != 1 {
			t.Errorf("viewer: %d connections, %d datagrams; want 1 and 1",
				tcp.ConnsFrom(lab.Viewer.Addr(fam)), udp.PacketsFrom(lab.Viewer.Addr(fam)))
		}
	})
}
