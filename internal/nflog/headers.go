package nflog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/devfence/devfence/rules"
)

// IP protocol numbers the watcher names.
const (
	ProtoICMP   = 1
	ProtoTCP    = 6
	ProtoUDP    = 17
	ProtoICMPv6 = 58
)

// Headers are the network and transport headers of a logged packet.
type Headers struct {
	Version  int // 4 or 6
	Src, Dst netip.Addr
	Proto    uint8 // transport protocol, after any IPv6 extension headers
	HopLimit uint8 // IPv4 TTL or IPv6 hop limit
	Length   int   // the IP packet's length by its header

	// Fragment is set for a fragment that is not the first, which carries
	// no transport header.
	Fragment bool

	// Ports are set for TCP and UDP, ICMPType and ICMPCode for ICMP and
	// ICMPv6, TCPFlags for TCP; each only when the copied bytes hold them.
	HasPorts         bool
	SrcPort, DstPort uint16
	TCPFlags         uint8
	HasICMP          bool
	ICMPType         uint8
	ICMPCode         uint8

	// Truncated is set when the copy range cut the headers short.
	Truncated bool
}

// ProtoName is the transport protocol as `meta l4proto` names it in the
// rules ("tcp", "udp", "icmp", "igmp", "ipv6-icmp"), or its number, so that
// a logged packet compares with the rules' protocol matches.
func (h Headers) ProtoName() string { return rules.L4ProtoName(h.Proto) }

// TCP flag bits, in header order from FIN.
var tcpFlagNames = []string{"FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR"}

// TCPFlagString names the TCP flags ("SYN", "SYN,ACK"); "" for none.
func (h Headers) TCPFlagString() string {
	var names []string
	for i, n := range tcpFlagNames {
		if h.TCPFlags&(1<<i) != 0 {
			names = append(names, n)
		}
	}
	return strings.Join(names, ",")
}

// ErrNoIPHeader is returned by ParseHeaders when the payload is not an IPv4
// or IPv6 packet.
var ErrNoIPHeader = errors.New("nflog: payload is not an IPv4 or IPv6 packet")

// ParseHeaders decodes the IP header and, when present in b, the TCP, UDP or
// ICMP header. A truncated transport header is not an error: what was
// copied is returned and Truncated is set.
func ParseHeaders(b []byte) (Headers, error) {
	if len(b) < 1 {
		return Headers{}, ErrNoIPHeader
	}
	switch b[0] >> 4 {
	case 4:
		return parseIPv4(b)
	case 6:
		return parseIPv6(b)
	}
	return Headers{}, ErrNoIPHeader
}

func parseIPv4(b []byte) (Headers, error) {
	if len(b) < 20 {
		return Headers{}, fmt.Errorf("nflog: IPv4 header cut at %d bytes", len(b))
	}
	ihl := int(b[0]&0x0f) * 4
	if ihl < 20 {
		return Headers{}, fmt.Errorf("nflog: IPv4 header length %d", ihl)
	}
	h := Headers{
		Version:  4,
		Length:   int(binary.BigEndian.Uint16(b[2:4])),
		HopLimit: b[8],
		Proto:    b[9],
		Src:      netip.AddrFrom4([4]byte(b[12:16])),
		Dst:      netip.AddrFrom4([4]byte(b[16:20])),
		// Fragment offset in 8-byte units; non-zero means no transport header.
		Fragment: binary.BigEndian.Uint16(b[6:8])&0x1fff != 0,
	}
	if len(b) < ihl {
		h.Truncated = true
		return h, nil
	}
	if !h.Fragment {
		h.transport(b[ihl:])
	}
	return h, nil
}

// maxExtHeaders bounds the walk over IPv6 extension headers; the copy range
// bounds it too, this keeps a crafted chain of empty headers finite anyway.
const maxExtHeaders = 16

func parseIPv6(b []byte) (Headers, error) {
	if len(b) < 40 {
		return Headers{}, fmt.Errorf("nflog: IPv6 header cut at %d bytes", len(b))
	}
	h := Headers{
		Version:  6,
		Length:   40 + int(binary.BigEndian.Uint16(b[4:6])),
		HopLimit: b[7],
		Src:      netip.AddrFrom16([16]byte(b[8:24])),
		Dst:      netip.AddrFrom16([16]byte(b[24:40])),
	}
	next, rest := b[6], b[40:]
	for range maxExtHeaders {
		var n int
		switch next {
		case 0, 43, 60: // hop-by-hop, routing, destination options
			if len(rest) < 2 {
				h.Proto, h.Truncated = next, true
				return h, nil
			}
			n = (int(rest[1]) + 1) * 8
		case 51: // authentication header counts in 4-byte units
			if len(rest) < 2 {
				h.Proto, h.Truncated = next, true
				return h, nil
			}
			n = (int(rest[1]) + 2) * 4
		case 44: // fragment
			if len(rest) < 8 {
				h.Proto, h.Truncated = next, true
				return h, nil
			}
			if binary.BigEndian.Uint16(rest[2:4])>>3 != 0 {
				h.Proto, h.Fragment = rest[0], true
				return h, nil
			}
			n = 8
		default:
			h.Proto = next
			h.transport(rest)
			return h, nil
		}
		if len(rest) < n {
			h.Proto, h.Truncated = next, true
			return h, nil
		}
		next, rest = rest[0], rest[n:]
	}
	return h, fmt.Errorf("nflog: more than %d IPv6 extension headers", maxExtHeaders)
}

// transport reads the ports, flags or ICMP type from the start of b.
func (h *Headers) transport(b []byte) {
	switch h.Proto {
	case ProtoTCP, ProtoUDP:
		if len(b) < 4 {
			h.Truncated = true
			return
		}
		h.HasPorts = true
		h.SrcPort, h.DstPort = binary.BigEndian.Uint16(b), binary.BigEndian.Uint16(b[2:])
		if h.Proto == ProtoTCP {
			if len(b) < 14 {
				h.Truncated = true
				return
			}
			h.TCPFlags = b[13]
		}
	case ProtoICMP, ProtoICMPv6:
		if len(b) < 2 {
			h.Truncated = true
			return
		}
		h.HasICMP, h.ICMPType, h.ICMPCode = true, b[0], b[1]
	}
}
