package netlab

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// IP protocol numbers the helpers below know the headers of.
const (
	ProtoICMP   = 1
	ProtoIGMP   = 2
	ProtoICMPv6 = 58
)

// linkMulticast holds the link-local multicast groups (224.0.0.0/24,
// ff02::/16), which never leave the lab's segment.
var linkMulticast = []netip.Prefix{netip.MustParsePrefix("224.0.0.0/24"), netip.MustParsePrefix("ff02::/16")}

func isLinkMulticast(a netip.Addr) bool {
	for _, p := range linkMulticast {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func ipNetwork(f Family, proto uint8) string {
	return fmt.Sprintf("%s:%d", map[Family]string{IPv4: "ip4", IPv6: "ip6"}[f], proto)
}

// typeCount is what an IPSink received of one message type.
type typeCount struct{ packets, bytes int64 }

// IPSink counts the packets of one IP protocol that a host's stack
// delivers to it, through a raw socket. A raw socket sees a packet after
// the host's input hook, so it counts what the host's firewall let in.
// Bytes are the transport bytes (after the IP header), by the message type
// in the first of them, which is what ICMP, ICMPv6 and IGMP call the type.
type IPSink struct {
	Host *Host

	pc      *net.IPConn
	proto   uint8
	packets atomic.Int64
	bytes   atomic.Int64
	mu      sync.Mutex
	types   map[uint8]typeCount
	peer    peerCounter
	wg      sync.WaitGroup
	once    sync.Once
}

// ListenIP starts a sink for protocol proto of family f. The lab closes it
// on Close.
func (h *Host) ListenIP(f Family, proto uint8) (*IPSink, error) {
	s := &IPSink{Host: h, proto: proto, types: map[uint8]typeCount{}}
	network := ipNetwork(f, proto)
	if err := h.Do(func() error {
		pc, err := net.ListenIP(network, nil)
		s.pc = pc
		return err
	}); err != nil {
		return nil, fmt.Errorf("netlab: %s: listen %s: %w", h.Name, network, err)
	}
	if err := h.lab.addCloser(s, s.Close); err != nil {
		s.pc.Close()
		return nil, err
	}
	s.wg.Add(1)
	go s.readLoop()
	return s, nil
}

func (s *IPSink) readLoop() {
	defer s.wg.Done()
	buf := make([]byte, 65536)
	for {
		// An ip4 IPConn strips the IPv4 header; an ip6 one never sees it.
		n, from, err := s.pc.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		s.packets.Add(1)
		s.bytes.Add(int64(n))
		if a, ok := from.(*net.IPAddr); ok {
			if src, ok := netip.AddrFromSlice(a.IP); ok {
				s.peer.add(src, 1)
			}
		}
		if n > 0 {
			s.mu.Lock()
			c := s.types[buf[0]]
			c.packets++
			c.bytes += int64(n)
			s.types[buf[0]] = c
			s.mu.Unlock()
		}
	}
}

// Packets and Bytes count everything received so far.
func (s *IPSink) Packets() int64 { return s.packets.Load() }
func (s *IPSink) Bytes() int64   { return s.bytes.Load() }

// PacketsFrom counts the packets received from one source address.
func (s *IPSink) PacketsFrom(a netip.Addr) int64 { return s.peer.get(a) }

// Join makes the sink's host a member of an IPv4 multicast group on its
// eth0. A host takes IGMP to a group address only as a member (the stack
// drops it otherwise, before any socket), and it then sends its own
// reports, which PacketsFrom tells apart.
func (s *IPSink) Join(group netip.Addr) error {
	ifi, err := s.Host.ifIndex()
	if err != nil {
		return err
	}
	raw, err := s.pc.SyscallConn()
	if err != nil {
		return err
	}
	mreq := &syscall.IPMreqn{Multiaddr: group.As4(), Ifindex: int32(ifi)}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		serr = syscall.SetsockoptIPMreqn(int(fd), syscall.IPPROTO_IP, syscall.IP_ADD_MEMBERSHIP, mreq)
	}); err != nil {
		return err
	}
	if serr != nil {
		return fmt.Errorf("netlab: %s: join %s: %w", s.Host.Name, group, serr)
	}
	return nil
}

// TypePackets and TypeBytes count what was received of one message type.
func (s *IPSink) TypePackets(t uint8) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.types[t].packets
}

func (s *IPSink) TypeBytes(t uint8) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.types[t].bytes
}

// WaitTypePackets waits until at least n packets of type t arrived (bounded).
func (s *IPSink) WaitTypePackets(t uint8, n int64, timeout time.Duration) error {
	return waitCount(func() int64 { return s.TypePackets(t) }, n, timeout, "packets", "%s proto %d type %d", s.Host.Name, s.proto, t)
}

// WaitPackets waits until at least n packets arrived (bounded).
func (s *IPSink) WaitPackets(n int64, timeout time.Duration) error {
	return waitCount(s.Packets, n, timeout, "packets", "%s proto %d", s.Host.Name, s.proto)
}

// Close stops the sink and waits for its goroutine.
func (s *IPSink) Close() error {
	var err error
	s.once.Do(func() {
		err = s.pc.Close()
		s.wg.Wait()
		s.Host.lab.removeCloser(s)
	})
	return err
}

// SendIP sends count packets of IP protocol proto from h to dst, each
// carrying msg after the IP header the kernel writes. dst is a lab address
// or a link-local multicast group, which goes out of the host's eth0. The
// sends are paced a little, so that what is lost is lost to a firewall,
// not to a queue. It returns how many sends the stack accepted: EPERM, an
// output drop by the host's own firewall, counts as not sent.
func (h *Host) SendIP(dst netip.Addr, proto uint8, msg []byte, count int) (int, error) {
	dst = dst.Unmap()
	multicast := isLinkMulticast(dst)
	if !multicast {
		if err := checkDst(dst); err != nil {
			return 0, err
		}
	}
	f := IPv4
	if dst.Is6() {
		f = IPv6
	}
	var pc *net.IPConn
	if err := h.Do(func() error {
		c, err := net.ListenIP(ipNetwork(f, proto), nil)
		if err != nil {
			return err
		}
		pc = c
		if multicast {
			return bindToDevice(c, h.IfName)
		}
		return nil
	}); err != nil {
		if pc != nil {
			pc.Close()
		}
		return 0, fmt.Errorf("netlab: %s: raw %s socket: %w", h.Name, ipNetwork(f, proto), err)
	}
	defer pc.Close()
	to := &net.IPAddr{IP: dst.AsSlice()}
	sent := 0
	for i := range count {
		if _, err := pc.WriteTo(msg, to); err == nil {
			sent++
		} else if !errors.Is(err, syscall.EPERM) {
			return sent, fmt.Errorf("netlab: %s proto %d -> %s: %w", h.Name, proto, dst, err)
		}
		if i%8 == 7 {
			time.Sleep(100 * time.Microsecond)
		}
	}
	return sent, nil
}

// bindToDevice sends a socket's packets out of one interface: a multicast
// destination has no route in the lab.
func bindToDevice(c *net.IPConn, ifName string) error {
	raw, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		serr = syscall.SetsockoptString(int(fd), syscall.SOL_SOCKET, syscall.SO_BINDTODEVICE, ifName)
	}); err != nil {
		return err
	}
	return serr
}

// ICMPMessage is an ICMP (f IPv4) or ICMPv6 message: type, code, the four
// bytes that follow the checksum (an echo's identifier and sequence number)
// and data. The IPv4 checksum is filled in; the kernel computes ICMPv6's,
// which covers the IPv6 pseudo-header.
func ICMPMessage(f Family, typ, code uint8, rest [4]byte, data []byte) []byte {
	b := make([]byte, 8+len(data))
	b[0], b[1] = typ, code
	copy(b[4:8], rest[:])
	copy(b[8:], data)
	if f == IPv4 {
		binary.BigEndian.PutUint16(b[2:4], checksum(b, 0))
	}
	return b
}

// IGMPv3Report is an IGMPv3 membership report (RFC 3376, type 0x22) with
// one record: the host joins group, from every source.
func IGMPv3Report(group netip.Addr) []byte {
	b := make([]byte, 16)
	b[0] = 0x22
	binary.BigEndian.PutUint16(b[6:8], 1) // one group record
	b[8] = 2                              // MODE_IS_EXCLUDE, no sources: every source
	g := group.As4()
	copy(b[12:16], g[:])
	binary.BigEndian.PutUint16(b[2:4], checksum(b, 0))
	return b
}

// IGMPQuery is an IGMPv2 general query (RFC 2236, type 0x11): what a
// multicast router sends to all hosts.
func IGMPQuery() []byte {
	b := []byte{0x11, 100, 0, 0, 0, 0, 0, 0} // max response 10 s, group 0.0.0.0
	binary.BigEndian.PutUint16(b[2:4], checksum(b, 0))
	return b
}

// ifIndex is the index of the host's eth0 in its namespace.
func (h *Host) ifIndex() (int, error) {
	var idx int
	err := h.Do(func() error {
		ifi, err := net.InterfaceByName(h.IfName)
		if err != nil {
			return err
		}
		idx = ifi.Index
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("netlab: %s: %s: %w", h.Name, h.IfName, err)
	}
	return idx, nil
}
