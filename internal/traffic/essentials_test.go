package traffic

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/devfence/devfence/internal/netlab"
)

// TestIPv6NeighbourDiscovery: with every neighbour cache flushed, IPv6
// connections to the device's service and from the device to its cloud
// still work, because neighbour solicitations and advertisements pass the
// firewall (essentials.ipv6-nd). The control case turns ipv6-nd off: the
// same connections then fail, which shows the ND rules are what makes
// IPv6 work (nothing reaches the device around the firewall).
func TestIPv6NeighbourDiscovery(t *testing.T) {
	t.Parallel()
	const profile = `version: 1
device: {name: traffic-nd}
networks:
  viewer: ["{{.Viewer.V6}}"]
  cloud: ["{{.Cloud.V6}}"]
inbound:
  services:
    - {name: app, proto: tcp, port: 8443, from: [viewer]}
egress:
  quota: 64KiB/1h
  allow:
    - {name: api, to: [cloud], proto: tcp, port: 443}
essentials:
  ipv6-nd: %v
`
	for _, nd := range []bool{true, false} {
		t.Run(fmt.Sprintf("ipv6-nd=%v", nd), func(t *testing.T) {
			t.Parallel()
			lab := netlab.New(t, netlab.WithVictims(0))
			dev, viewer, cloud := lab.Device, lab.Viewer, lab.Cloud
			svc := mustListenTCP(t, dev, 8443)
			api := mustListenTCP(t, cloud, 443)
			applyProfile(t, lab, fmt.Sprintf(profile, nd))
			flushNeighbours(t, dev, viewer, cloud)

			if !nd {
				mustNotConnect(t, viewer, dev.V6, 8443)
				mustNotConnect(t, dev, cloud.V6, 443)
				if svc.Conns() != 0 || api.Conns() != 0 {
					t.Errorf("without ipv6-nd: %d connections reached the device, %d the cloud", svc.Conns(), api.Conns())
				}
				return
			}
			mustConnect(t, viewer, dev.V6, 8443).Close()
			mustConnect(t, dev, cloud.V6, 443).Close()
			if err := svc.WaitConns(1, arrive); err != nil {
				t.Fatal(err)
			}
			if err := api.WaitConns(1, arrive); err != nil {
				t.Fatal(err)
			}
			// The device learned both neighbours afresh.
			out, err := dev.Exec("ip", "-6", "neigh", "show", "dev", dev.IfName)
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range []netip.Addr{viewer.V6, cloud.V6} {
				if !strings.Contains(out, a.String()+" lladdr") {
					t.Errorf("the device has no resolved neighbour entry for %s:\n%s", a, out)
				}
			}
		})
	}
}

// flushNeighbours empties the IPv4 and IPv6 neighbour caches of hosts and
// checks that no entry for a lab address is left.
func flushNeighbours(t testing.TB, hosts ...*netlab.Host) {
	t.Helper()
	for _, h := range hosts {
		for _, fam := range []string{"-4", "-6"} {
			if out, err := h.Exec("ip", fam, "neigh", "flush", "all"); err != nil {
				t.Fatalf("%s: %v\n%s", h.Name, err, out)
			}
		}
		out, err := h.Exec("ip", "-6", "neigh", "show", "dev", h.IfName)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(out, "lladdr") {
			t.Fatalf("%s: neighbour cache not empty after flush:\n%s", h.Name, out)
		}
	}
}

// TestDHCPv4ClientExchange: a DHCPv4 client on the device completes
// DISCOVER/OFFER/REQUEST/ACK with a real server (dnsmasq in lan2's
// namespace) through the firewall. The device starts without an IPv4
// address, as at boot: its requests leave from 0.0.0.0:68 to the broadcast
// address (the anti-spoofing rule lets the unspecified source out) and the
// server's replies are broadcast to port 68 (essentials.dhcp lets them in).
// The client uses an ordinary UDP socket, so the replies go through the
// input hook; real clients often read from packet sockets, which would see
// the replies whatever the firewall does. The control case turns dhcp off:
// nothing then gets out or in.
func TestDHCPv4ClientExchange(t *testing.T) {
	t.Parallel()
	dnsmasq := netlab.RequireTool(t, "dnsmasq")
	const profile = `version: 1
device: {name: traffic-dhcp}
egress:
  quota: 64KiB/1h
essentials:
  dhcp: %v
`
	for _, dhcp := range []bool{true, false} {
		t.Run(fmt.Sprintf("dhcp=%v", dhcp), func(t *testing.T) {
			t.Parallel()
			lab := netlab.New(t, netlab.WithVictims(0))
			dev, server := lab.Device, lab.LAN2
			dir := t.TempDir()
			srv, err := server.StartProcess(dnsmasq, "--no-daemon", "--conf-file=/dev/null", "--port=0",
				"--interface="+server.IfName, "--bind-interfaces", "--user=root", "--group=root",
				"--pid-file=", "--dhcp-leasefile="+filepath.Join(dir, "leases"), "--dhcp-authoritative",
				"--log-dhcp", "--dhcp-range=192.0.2.100,192.0.2.150,255.255.255.0,2m")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				srv.Stop()
				if t.Failed() {
					t.Logf("dnsmasq output:\n%s", srv.Output())
				}
			})
			applyProfile(t, lab, fmt.Sprintf(profile, dhcp))
			if out, err := dev.Exec("ip", "-4", "addr", "flush", "dev", dev.IfName); err != nil {
				t.Fatalf("%v\n%s", err, out)
			}

			client := newDHCPClient(t, dev)
			if !dhcp {
				offer, sent := client.exchange(t, dhcpDiscover, nil, time.Second)
				if sent != 0 || offer != nil {
					t.Errorf("with essentials.dhcp off the DISCOVER left %d times and the client got %v", sent, offer)
				}
				return
			}
			offer, _ := client.exchange(t, dhcpDiscover, nil, 10*time.Second)
			if offer == nil || offer.typ != dhcpOffer {
				t.Fatalf("no OFFER through the firewall (dnsmasq: %s)", srv.Output())
			}
			if !netip.MustParsePrefix("192.0.2.0/24").Contains(offer.yiaddr) || offer.server != server.V4 {
				t.Fatalf("OFFER of %s from %s; want an address of 192.0.2.100-150 from %s", offer.yiaddr, offer.server, server.V4)
			}
			ack, _ := client.exchange(t, dhcpRequest, offer, 10*time.Second)
			if ack == nil || ack.typ != dhcpAck || ack.yiaddr != offer.yiaddr {
				t.Fatalf("REQUEST for %s: got %+v, want an ACK", offer.yiaddr, ack)
			}
			t.Logf("DHCP: offered and acknowledged %s by %s", ack.yiaddr, ack.server)
		})
	}
}

// DHCP message types (RFC 2132 option 53).
const (
	dhcpDiscover = 1
	dhcpOffer    = 2
	dhcpRequest  = 3
	dhcpAck      = 5
)

// dhcpClient is a minimal DHCPv4 client: a UDP socket on 0.0.0.0:68 bound
// to the device's interface, sending broadcasts with the broadcast flag set
// (so the server broadcasts its replies too: the client has no address).
type dhcpClient struct {
	pc  net.PacketConn
	mac net.HardwareAddr
	xid uint32
}

type dhcpReply struct {
	typ    byte
	yiaddr netip.Addr
	server netip.Addr
}

func newDHCPClient(t testing.TB, h *netlab.Host) *dhcpClient {
	t.Helper()
	c := &dhcpClient{xid: uint32(time.Now().UnixNano())}
	err := h.Do(func() error {
		ifc, err := net.InterfaceByName(h.IfName)
		if err != nil {
			return err
		}
		c.mac = ifc.HardwareAddr
		lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
			var serr error
			err := rc.Control(func(fd uintptr) {
				if serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_BROADCAST, 1); serr != nil {
					return
				}
				serr = unix.BindToDevice(int(fd), h.IfName)
			})
			return errors.Join(err, serr)
		}}
		c.pc, err = lc.ListenPacket(t.Context(), "udp4", "0.0.0.0:68")
		return err
	})
	if err != nil {
		t.Fatalf("dhcp client socket: %v", err)
	}
	t.Cleanup(func() { c.pc.Close() })
	return c
}

// exchange broadcasts a message of type typ (a REQUEST refers to offer)
// every 500ms until a reply with the client's xid arrives or timeout
// passes. It returns the reply (nil if none) and how many sends the local
// stack accepted. A DISCOVER waits for an OFFER, a REQUEST for anything
// else (ACK or NAK).
func (c *dhcpClient) exchange(t testing.TB, typ byte, offer *dhcpReply, timeout time.Duration) (*dhcpReply, int) {
	t.Helper()
	msg := c.message(typ, offer)
	bcast := &net.UDPAddr{IP: net.IPv4bcast, Port: 67}
	sent := 0
	var reply *dhcpReply
	buf := make([]byte, 1500)
	err := netlab.Poll(timeout, time.Millisecond, func() (bool, error) {
		if _, err := c.pc.WriteTo(msg, bcast); err == nil {
			sent++
		} else if !errors.Is(err, syscall.EPERM) {
			return false, err
		}
		_ = c.pc.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		for {
			n, _, err := c.pc.ReadFrom(buf)
			if err != nil {
				if netlab.IsTimeout(err) {
					return false, nil
				}
				return false, err
			}
			// Replies to earlier (retransmitted) messages are skipped.
			if r := c.parse(buf[:n]); r != nil && (r.typ == dhcpOffer) == (typ == dhcpDiscover) {
				reply = r
				return true, nil
			}
		}
	})
	if err != nil && !errors.Is(err, netlab.ErrTimeout) {
		t.Fatal(err)
	}
	return reply, sent
}

func (c *dhcpClient) message(typ byte, offer *dhcpReply) []byte {
	m := make([]byte, 240)
	m[0], m[1], m[2] = 1, 1, 6 // BOOTREQUEST, Ethernet, hlen
	binary.BigEndian.PutUint32(m[4:], c.xid)
	binary.BigEndian.PutUint16(m[10:], 0x8000) // broadcast flag
	copy(m[28:], c.mac)
	binary.BigEndian.PutUint32(m[236:], 0x63825363) // magic cookie
	m = append(m, 53, 1, typ)
	if typ == dhcpRequest && offer != nil {
		y, s := offer.yiaddr.As4(), offer.server.As4()
		m = append(m, 50, 4, y[0], y[1], y[2], y[3])
		m = append(m, 54, 4, s[0], s[1], s[2], s[3])
	}
	m = append(m, 55, 3, 1, 3, 6) // parameter request list: mask, router, dns
	return append(m, 255)
}

// parse reads a BOOTREPLY for this client; nil for anything else.
func (c *dhcpClient) parse(b []byte) *dhcpReply {
	if len(b) < 240 || b[0] != 2 || binary.BigEndian.Uint32(b[4:]) != c.xid ||
		!bytes.Equal(b[28:28+len(c.mac)], c.mac) || binary.BigEndian.Uint32(b[236:]) != 0x63825363 {
		return nil
	}
	r := &dhcpReply{yiaddr: netip.AddrFrom4([4]byte(b[16:20]))}
	for o := b[240:]; len(o) > 0 && o[0] != 255; {
		if o[0] == 0 {
			o = o[1:]
			continue
		}
		if len(o) < 2 || len(o) < 2+int(o[1]) {
			return nil
		}
		v := o[2 : 2+o[1]]
		switch o[0] {
		case 53:
			if len(v) == 1 {
				r.typ = v[0]
			}
		case 54:
			if len(v) == 4 {
				r.server = netip.AddrFrom4([4]byte(v))
			}
		}
		o = o[2+o[1]:]
	}
	if r.typ == 0 {
		return nil
	}
	return r
}
