package netlab

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"

	"golang.org/x/sys/unix"
)

// Forged packets. A host can send hand-built IPv4/IPv6 packets with any
// source address from a raw socket (AF_INET/AF_INET6, SOCK_RAW,
// IPPROTO_RAW, which implies "header included" on Linux). Such packets go
// through the sending host's own netfilter OUTPUT hook and routing like any
// locally generated packet, and out of eth0 onto the lab segment — no
// AF_PACKET tricks. The destination must be a lab address (checkDst); the
// source may be anything.

// TCPFlags are TCP header flags.
type TCPFlags uint8

// TCP flag bits.
const (
	FlagFIN TCPFlags = 1 << 0
	FlagSYN TCPFlags = 1 << 1
	FlagRST TCPFlags = 1 << 2
	FlagPSH TCPFlags = 1 << 3
	FlagACK TCPFlags = 1 << 4
	FlagURG TCPFlags = 1 << 5
)

// TCPSegment describes a forged TCP packet.
type TCPSegment struct {
	Src, Dst         netip.Addr // same family; Src may be forged
	SrcPort, DstPort uint16     // SrcPort 0 = random 1024..65535
	Seq, Ack         uint32
	Flags            TCPFlags
	Window           uint16 // 0 = 64240
	TTL              uint8  // IPv4 TTL / IPv6 hop limit; 0 = 64
	Payload          []byte
}

// SpoofTCP sends one hand-built TCP packet from the host's namespace.
func (h *Host) SpoofTCP(seg TCPSegment) error {
	pkt, err := buildTCP(&seg)
	if err != nil {
		return err
	}
	return h.sendRaw(seg.Dst, pkt)
}

// SpoofSYN sends a TCP SYN from the host with a forged source address src
// (any address; a random source port and sequence number) to dst:dport.
// The target answers (SYN-ACK or RST) to src, not to this host.
func (h *Host) SpoofSYN(src, dst netip.Addr, dport uint16) error {
	return h.SpoofTCP(TCPSegment{Src: src, Dst: dst, DstPort: dport, Seq: rand.Uint32(), Flags: FlagSYN})
}

// SpoofACK sends a bare ACK with a forged source, e.g. to probe whether a
// firewall accepts packets that pretend to belong to an existing flow.
func (h *Host) SpoofACK(src, dst netip.Addr, sport, dport uint16, seq, ack uint32) error {
	return h.SpoofTCP(TCPSegment{Src: src, Dst: dst, SrcPort: sport, DstPort: dport, Seq: seq, Ack: ack, Flags: FlagACK})
}

// SpoofUDP sends one UDP datagram with a forged source address/port.
func (h *Host) SpoofUDP(src, dst netip.Addr, sport, dport uint16, payload []byte) error {
	pkt, err := buildUDP(src, dst, sport, dport, 0, payload)
	if err != nil {
		return err
	}
	return h.sendRaw(dst, pkt)
}

func (h *Host) sendRaw(dst netip.Addr, pkt []byte) error {
	rs, err := h.openRaw(dst)
	if err != nil {
		return err
	}
	defer rs.close()
	return rs.send(pkt)
}

// rawSocket is a header-including raw socket bound to a host namespace. Its
// fd may be used from any goroutine.
type rawSocket struct {
	host *Host
	fd   int
	sa   unix.Sockaddr
}

// openRaw opens a raw socket in the host's namespace for packets to dst.
func (h *Host) openRaw(dst netip.Addr) (*rawSocket, error) {
	if err := checkDst(dst); err != nil {
		return nil, err
	}
	dst = dst.Unmap()
	af := unix.AF_INET6
	var sa unix.Sockaddr = &unix.SockaddrInet6{Addr: dst.As16()}
	if dst.Is4() {
		af = unix.AF_INET
		sa = &unix.SockaddrInet4{Addr: dst.As4()}
	}
	rs := &rawSocket{host: h, fd: -1, sa: sa}
	err := h.Do(func() error {
		fd, err := unix.Socket(af, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW)
		if err != nil {
			return err
		}
		if af == unix.AF_INET {
			// Implied by IPPROTO_RAW; set explicitly for clarity.
			if err := unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_HDRINCL, 1); err != nil {
				unix.Close(fd)
				return err
			}
		}
		rs.fd = fd
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("netlab: %s: raw socket: %w", h.Name, err)
	}
	return rs, nil
}

func (r *rawSocket) send(pkt []byte) error {
	if err := unix.Sendto(r.fd, pkt, 0, r.sa); err != nil {
		return fmt.Errorf("netlab: %s: raw send: %w", r.host.Name, err)
	}
	return nil
}

func (r *rawSocket) close() {
	if r.fd >= 0 {
		unix.Close(r.fd)
		r.fd = -1
	}
}

// ---------------------------------------------------------------------------
// Packet construction

const (
	protoTCP = 6
	protoUDP = 17
)

func checkFamilies(src, dst netip.Addr) (netip.Addr, netip.Addr, error) {
	src, dst = src.Unmap(), dst.Unmap()
	if !src.IsValid() || !dst.IsValid() {
		return src, dst, errors.New("netlab: source and destination must be valid addresses")
	}
	if src.Is4() != dst.Is4() {
		return src, dst, fmt.Errorf("netlab: mixed families %s -> %s", src, dst)
	}
	return src, dst, nil
}

// buildTCP returns a complete IP packet (header + TCP) with correct
// checksums. SYNs carry an MSS option so they look like real ones.
func buildTCP(seg *TCPSegment) ([]byte, error) {
	src, dst, err := checkFamilies(seg.Src, seg.Dst)
	if err != nil {
		return nil, err
	}
	if seg.SrcPort == 0 {
		seg.SrcPort = uint16(1024 + rand.IntN(65536-1024))
	}
	win := seg.Window
	if win == 0 {
		win = 64240
	}
	var opts []byte
	if seg.Flags&FlagSYN != 0 {
		opts = []byte{2, 4, 0x05, 0xb4} // MSS 1460
	}
	hl := 20 + len(opts)
	tcp := make([]byte, hl+len(seg.Payload))
	binary.BigEndian.PutUint16(tcp[0:], seg.SrcPort)
	binary.BigEndian.PutUint16(tcp[2:], seg.DstPort)
	binary.BigEndian.PutUint32(tcp[4:], seg.Seq)
	binary.BigEndian.PutUint32(tcp[8:], seg.Ack)
	tcp[12] = byte(hl/4) << 4
	tcp[13] = byte(seg.Flags)
	binary.BigEndian.PutUint16(tcp[14:], win)
	copy(tcp[20:], opts)
	copy(tcp[hl:], seg.Payload)
	binary.BigEndian.PutUint16(tcp[16:], l4Checksum(src, dst, protoTCP, tcp))
	return wrapIP(src, dst, protoTCP, seg.TTL, tcp)
}

// buildUDP returns a complete IP packet (header + UDP) with checksums.
func buildUDP(src, dst netip.Addr, sport, dport uint16, ttl uint8, payload []byte) ([]byte, error) {
	src, dst, err := checkFamilies(src, dst)
	if err != nil {
		return nil, err
	}
	if sport == 0 {
		sport = uint16(1024 + rand.IntN(65536-1024))
	}
	udp := make([]byte, 8+len(payload))
	binary.BigEndian.PutUint16(udp[0:], sport)
	binary.BigEndian.PutUint16(udp[2:], dport)
	binary.BigEndian.PutUint16(udp[4:], uint16(len(udp)))
	copy(udp[8:], payload)
	cs := l4Checksum(src, dst, protoUDP, udp)
	if cs == 0 {
		cs = 0xffff // 0 means "no checksum" in UDP
	}
	binary.BigEndian.PutUint16(udp[6:], cs)
	return wrapIP(src, dst, protoUDP, ttl, udp)
}

// wrapIP prepends an IPv4 or IPv6 header.
func wrapIP(src, dst netip.Addr, proto uint8, ttl uint8, l4 []byte) ([]byte, error) {
	if ttl == 0 {
		ttl = 64
	}
	if src.Is4() {
		total := 20 + len(l4)
		if total > 0xffff {
			return nil, errors.New("netlab: packet too large")
		}
		p := make([]byte, total)
		p[0] = 0x45 // version 4, IHL 5
		binary.BigEndian.PutUint16(p[2:], uint16(total))
		binary.BigEndian.PutUint16(p[4:], uint16(rand.Uint32())) // ID
		binary.BigEndian.PutUint16(p[6:], 0x4000)                // DF
		p[8] = ttl
		p[9] = proto
		s4, d4 := src.As4(), dst.As4()
		copy(p[12:16], s4[:])
		copy(p[16:20], d4[:])
		binary.BigEndian.PutUint16(p[10:], checksum(p[:20], 0))
		copy(p[20:], l4)
		return p, nil
	}
	if len(l4) > 0xffff {
		return nil, errors.New("netlab: packet too large")
	}
	p := make([]byte, 40+len(l4))
	p[0] = 0x60 // version 6, traffic class 0, flow label 0
	binary.BigEndian.PutUint16(p[4:], uint16(len(l4)))
	p[6] = proto
	p[7] = ttl
	s16, d16 := src.As16(), dst.As16()
	copy(p[8:24], s16[:])
	copy(p[24:40], d16[:])
	copy(p[40:], l4)
	return p, nil
}

// l4Checksum computes the TCP/UDP checksum over the IPv4 or IPv6
// pseudo-header followed by the segment (whose checksum field must be 0).
func l4Checksum(src, dst netip.Addr, proto uint8, seg []byte) uint16 {
	return checksum(seg, pseudoHeaderSum(src, dst, proto, len(seg)))
}

func pseudoHeaderSum(src, dst netip.Addr, proto uint8, length int) uint32 {
	var sum uint32
	add := func(b []byte) {
		for i := 0; i+1 < len(b); i += 2 {
			sum += uint32(b[i])<<8 | uint32(b[i+1])
		}
	}
	if src.Is4() {
		s, d := src.As4(), dst.As4()
		add(s[:])
		add(d[:])
		sum += uint32(proto)
		sum += uint32(length)
		return sum
	}
	s, d := src.As16(), dst.As16()
	add(s[:])
	add(d[:])
	sum += uint32(length>>16) + uint32(length&0xffff)
	sum += uint32(proto)
	return sum
}

// checksum is the Internet checksum (RFC 1071) of b, starting from the
// partial sum initial.
func checksum(b []byte, initial uint32) uint16 {
	sum := initial
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}
