package nflog

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	// `go test ./... -update` passes -update to every test binary.
	_ "github.com/devfence/devfence/internal/golden"
)

// Messages captured from kernel 6.18 with copy mode packet, as the table of
// examples/baby-monitor.yaml logged them in the device's output chain (no
// NFULA_TIMESTAMP: the kernel sends none for the output hook; NFULA_UID and
// NFULA_GID of the sending socket are present and ignored).
const (
	// UDP 192.0.2.10:46649 -> 192.0.2.99:9999, payload "hello".
	capturedUDP4 = "8400000000040000000000000000000002000000080001000800030025000a0064657666656e636520626162792d6d6f6e69746f72206f75742064726f703a2000000000080005000000000308000b000000000008000e0000000000250009004500002169c0400040114c9ec000020ac0000263b639270f000d848c68656c6c6f000000"
	// TCP SYN [2001:db8:1::10]:33064 -> [2001:db8:1::99]:8080.
	capturedSYN6 = "b00000000004000000000000000000000a0000000800010086dd030025000a0064657666656e636520626162792d6d6f6e69746f72206f75742064726f703a2000000000080005000000000308000b000000000008000e0000000000540009006009ab120028064020010db800010000000000000000001020010db800010000000000000000009981281f90998e419400000000a002fd205c4b0000020405a00402080aa6a9f6c1000000000103030a"
)

func captured(t *testing.T, h string) netlink.Message {
	t.Helper()
	b, err := hex.DecodeString(h)
	if err != nil {
		t.Fatal(err)
	}
	var m netlink.Message
	if err := m.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestParseCaptured(t *testing.T) {
	tests := []struct {
		name    string
		msg     string
		packet  Packet
		headers Headers
	}{{
		name: "udp4",
		msg:  capturedUDP4,
		packet: Packet{Family: unix.NFPROTO_IPV4, HWProto: unix.ETH_P_IP, Hook: HookLocalOut,
			Prefix: "devfence baby-monitor out drop: ", OutDev: 3},
		headers: Headers{Version: 4, Src: ip("192.0.2.10"), Dst: ip("192.0.2.99"), Proto: ProtoUDP,
			HopLimit: 64, Length: 33, HasPorts: true, SrcPort: 46649, DstPort: 9999},
	}, {
		name: "syn6",
		msg:  capturedSYN6,
		packet: Packet{Family: unix.NFPROTO_IPV6, HWProto: unix.ETH_P_IPV6, Hook: HookLocalOut,
			Prefix: "devfence baby-monitor out drop: ", OutDev: 3},
		headers: Headers{Version: 6, Src: ip("2001:db8:1::10"), Dst: ip("2001:db8:1::99"), Proto: ProtoTCP,
			HopLimit: 64, Length: 80, HasPorts: true, SrcPort: 33064, DstPort: 8080, TCPFlags: 0x02},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ParseMessage(captured(t, tt.msg))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.packet, p, cmpopts.IgnoreFields(Packet{}, "Payload")); diff != "" {
				t.Errorf("packet (-want +got):\n%s", diff)
			}
			h, err := ParseHeaders(p.Payload)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.headers, h, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
				t.Errorf("headers (-want +got):\n%s", diff)
			}
		})
	}
}

// message builds an NFLOG packet message the way nfnetlink_log does.
func message(t *testing.T, family uint8, group uint16, attrs []netlink.Attribute) netlink.Message {
	t.Helper()
	b, err := netlink.MarshalAttributes(attrs)
	if err != nil {
		t.Fatal(err)
	}
	return netlink.Message{
		Header: netlink.Header{Type: netlink.HeaderType(unix.NFNL_SUBSYS_ULOG<<8 | msgPacket)},
		Data:   append(nfgenmsg(family, group), b...),
	}
}

func be16(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }
func be32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

func ip(s string) netip.Addr { return netip.MustParseAddr(s) }

// ipv4 builds an IPv4 header (with ihl-5 words of NOP options) around l4.
func ipv4(src, dst string, proto uint8, ihl int, fragOff uint16, l4 []byte) []byte {
	b := make([]byte, ihl*4)
	b[0] = 0x40 | byte(ihl)
	binary.BigEndian.PutUint16(b[2:], uint16(len(b)+len(l4)))
	binary.BigEndian.PutUint16(b[6:], fragOff)
	b[8], b[9] = 64, proto
	copy(b[12:], ip(src).AsSlice())
	copy(b[16:], ip(dst).AsSlice())
	for i := 20; i < len(b); i++ {
		b[i] = 1 // NOP option
	}
	return append(b, l4...)
}

// ipv6 builds an IPv6 header; ext are (next header, bytes) pairs of
// extension headers in order, whose first byte is filled in.
func ipv6(src, dst string, proto uint8, l4 []byte, ext ...[]byte) []byte {
	b := make([]byte, 40)
	b[0] = 0x60
	b[7] = 255
	copy(b[8:], ip(src).AsSlice())
	copy(b[24:], ip(dst).AsSlice())
	var rest []byte
	next := proto
	for i := len(ext) - 1; i >= 0; i-- { // build inside out
		e := append([]byte{next}, ext[i][1:]...)
		next = ext[i][0]
		rest = append(e, rest...)
	}
	b[6] = next
	rest = append(rest, l4...)
	binary.BigEndian.PutUint16(b[4:], uint16(len(rest)))
	return append(b, rest...)
}

func tcp(sport, dport uint16, flags uint8) []byte {
	b := make([]byte, 20)
	binary.BigEndian.PutUint16(b, sport)
	binary.BigEndian.PutUint16(b[2:], dport)
	b[12], b[13] = 5<<4, flags
	return b
}

func udp(sport, dport uint16) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint16(b, sport)
	binary.BigEndian.PutUint16(b[2:], dport)
	return b
}

func TestParseMessageInbound(t *testing.T) {
	ts := make([]byte, 16)
	binary.BigEndian.PutUint64(ts, 1_700_000_000)
	binary.BigEndian.PutUint64(ts[8:], 123456)
	hw := append(be16(6), 0, 0, 0x02, 0, 0, 0, 0, 0x66, 0, 0)
	payload := ipv4("198.51.100.66", "192.0.2.10", ProtoTCP, 6, 0, tcp(40000, 23, 0x02))
	m := message(t, unix.NFPROTO_IPV4, 7, []netlink.Attribute{
		{Type: attrPacketHdr, Data: append(be16(unix.ETH_P_IP), HookLocalIn, 0)},
		{Type: attrMark, Data: be32(0x2a)},
		{Type: attrTimestamp, Data: ts},
		{Type: attrInDev, Data: be32(2)},
		{Type: attrPhysInDev, Data: be32(5)},
		{Type: attrHWAddr, Data: hw},
		{Type: attrPrefix, Data: []byte("devfence cam in drop: \x00")},
		{Type: attrPayload, Data: payload},
		{Type: 11, Data: be32(0)}, // NFULA_UID and anything newer: ignored
	})
	p, err := ParseMessage(m)
	if err != nil {
		t.Fatal(err)
	}
	want := Packet{Group: 7, Family: unix.NFPROTO_IPV4, HWProto: unix.ETH_P_IP, Hook: HookLocalIn,
		Prefix: "devfence cam in drop: ", Timestamp: time.Unix(1_700_000_000, 123456_000),
		InDev: 2, PhysInDev: 5, Mark: 0x2a, HWAddr: net.HardwareAddr{2, 0, 0, 0, 0, 0x66}, Payload: payload}
	if diff := cmp.Diff(want, p); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	h, err := ParseHeaders(p.Payload)
	if err != nil {
		t.Fatal(err)
	}
	if h.Src != ip("198.51.100.66") || h.DstPort != 23 || h.TCPFlagString() != "SYN" {
		t.Errorf("headers with IPv4 options: %+v", h)
	}
}

func TestParseMessageErrors(t *testing.T) {
	done := netlink.Message{Header: netlink.Header{Type: netlink.Done}, Data: make([]byte, 4)}
	if _, err := ParseMessage(done); !errors.Is(err, ErrNotPacket) {
		t.Errorf("NLMSG_DONE: got %v, want ErrNotPacket", err)
	}
	short := message(t, 2, 0, nil)
	short.Data = short.Data[:3]
	if _, err := ParseMessage(short); err == nil {
		t.Error("message without nfgenmsg: no error")
	}
	for _, a := range []netlink.Attribute{
		{Type: attrPacketHdr, Data: []byte{8}},
		{Type: attrTimestamp, Data: make([]byte, 8)},
		{Type: attrHWAddr, Data: []byte{0}},
		{Type: attrInDev, Data: []byte{1, 2}},
	} {
		if _, err := ParseMessage(message(t, 2, 0, []netlink.Attribute{a})); err == nil {
			t.Errorf("attribute %d of %d bytes: no error", a.Type, len(a.Data))
		}
	}
	// An attribute header that claims more bytes than there are.
	bad := message(t, 2, 0, nil)
	bad.Data = append(bad.Data, 0xff, 0, byte(attrPrefix), 0)
	if _, err := ParseMessage(bad); err == nil {
		t.Error("overlong attribute: no error")
	}
}

func TestParseHeaders(t *testing.T) {
	hopByHop := make([]byte, 8) // next header, length 0 (8 bytes), padding
	firstFrag := make([]byte, 8)
	laterFrag := make([]byte, 8)
	binary.BigEndian.PutUint16(laterFrag[2:], 185<<3) // offset 1480 bytes
	tests := []struct {
		name    string
		b       []byte
		want    Headers
		wantErr bool
	}{{
		name: "icmp echo",
		b:    ipv4("192.0.2.10", "198.51.100.9", ProtoICMP, 5, 0, []byte{8, 0, 0, 0}),
		want: Headers{Version: 4, Src: ip("192.0.2.10"), Dst: ip("198.51.100.9"), Proto: ProtoICMP,
			HopLimit: 64, Length: 24, HasICMP: true, ICMPType: 8},
	}, {
		name: "ipv4 later fragment",
		b:    ipv4("192.0.2.10", "198.51.100.9", ProtoUDP, 5, 185, []byte{1, 2, 3, 4}),
		want: Headers{Version: 4, Src: ip("192.0.2.10"), Dst: ip("198.51.100.9"), Proto: ProtoUDP,
			HopLimit: 64, Length: 24, Fragment: true},
	}, {
		name: "ipv4 options cut",
		b:    ipv4("192.0.2.10", "198.51.100.9", ProtoUDP, 15, 0, nil)[:30],
		want: Headers{Version: 4, Src: ip("192.0.2.10"), Dst: ip("198.51.100.9"), Proto: ProtoUDP,
			HopLimit: 64, Length: 60, Truncated: true},
	}, {
		name: "tcp without flags",
		b:    ipv4("192.0.2.10", "198.51.100.9", ProtoTCP, 5, 0, tcp(1, 443, 0x12)[:6]),
		want: Headers{Version: 4, Src: ip("192.0.2.10"), Dst: ip("198.51.100.9"), Proto: ProtoTCP,
			HopLimit: 64, Length: 26, HasPorts: true, SrcPort: 1, DstPort: 443, Truncated: true},
	}, {
		name: "ipv6 hop-by-hop and first fragment before udp",
		b:    ipv6("2001:db8:1::10", "2001:db8:2::101", ProtoUDP, udp(5000, 123), append([]byte{0}, hopByHop[1:]...), append([]byte{44}, firstFrag[1:]...)),
		want: Headers{Version: 6, Src: ip("2001:db8:1::10"), Dst: ip("2001:db8:2::101"), Proto: ProtoUDP,
			HopLimit: 255, Length: 64, HasPorts: true, SrcPort: 5000, DstPort: 123},
	}, {
		name: "ipv6 later fragment",
		b:    ipv6("2001:db8:1::10", "2001:db8:2::101", ProtoUDP, []byte{9, 9}, append([]byte{44}, laterFrag[1:]...)),
		want: Headers{Version: 6, Src: ip("2001:db8:1::10"), Dst: ip("2001:db8:2::101"), Proto: ProtoUDP,
			HopLimit: 255, Length: 50, Fragment: true},
	}, {
		name: "icmpv6 neighbour solicitation",
		b:    ipv6("fe80::1", "ff02::1:ff00:10", ProtoICMPv6, []byte{135, 0, 0, 0}),
		want: Headers{Version: 6, Src: ip("fe80::1"), Dst: ip("ff02::1:ff00:10"), Proto: ProtoICMPv6,
			HopLimit: 255, Length: 44, HasICMP: true, ICMPType: 135},
	}, {
		name: "ipv6 extension header cut",
		b:    ipv6("2001:db8:1::10", "2001:db8:2::101", ProtoUDP, nil, append([]byte{60}, 3))[:41],
		want: Headers{Version: 6, Src: ip("2001:db8:1::10"), Dst: ip("2001:db8:2::101"), Proto: 60,
			HopLimit: 255, Length: 42, Truncated: true},
	}, {
		name:    "ipv4 cut",
		b:       ipv4("192.0.2.10", "198.51.100.9", ProtoUDP, 5, 0, nil)[:19],
		wantErr: true,
	}, {
		name:    "ipv6 cut",
		b:       ipv6("2001:db8:1::10", "2001:db8:2::101", ProtoUDP, nil)[:39],
		wantErr: true,
	}, {
		name:    "not ip",
		b:       []byte{0x00, 1, 2},
		wantErr: true,
	}, {
		name:    "empty",
		wantErr: true,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := ParseHeaders(tt.b)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			if diff := cmp.Diff(tt.want, h, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// A chain of empty extension headers longer than any real packet stops
// with an error instead of walking on.
func TestParseHeadersExtensionBound(t *testing.T) {
	var ext [][]byte
	for range maxExtHeaders + 1 {
		ext = append(ext, make([]byte, 8)) // hop-by-hop (0) after hop-by-hop
	}
	if _, err := ParseHeaders(ipv6("2001:db8:1::10", "2001:db8:2::1", ProtoUDP, udp(1, 2), ext...)); err == nil {
		t.Error("no error for too many extension headers")
	}
}

func TestParsePrefix(t *testing.T) {
	tests := []struct {
		in   string
		want LogPrefix
		ok   bool
	}{
		{"devfence baby-monitor in drop: ", LogPrefix{"baby-monitor", "in", "drop"}, true},
		{"devfence cam out drop:", LogPrefix{"cam", "out", "drop"}, true},
		{"devfence cam sideways drop: ", LogPrefix{}, false},
		{"devfence cam out drop", LogPrefix{}, false},
		{"devfence out drop: ", LogPrefix{}, false},
		{"IN=eth0 ", LogPrefix{}, false},
		{"", LogPrefix{}, false},
	}
	for _, tt := range tests {
		got, ok := ParsePrefix(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("ParsePrefix(%q) = %+v, %v; want %+v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}
