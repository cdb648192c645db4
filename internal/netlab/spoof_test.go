package netlab

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"testing"
	"time"
)

// TestSpoofSYN: the attacker forges a SYN from victim0's address; the device
// receives it (counted with the forged source) and sends its SYN-ACK to
// victim0 — the forged address — and not to the attacker.
func TestSpoofSYN(t *testing.T) {
	t.Parallel()
	RequireTool(t, "nft")
	l := New(t, WithVictims(1))
	victim := l.Victims[0]
	const port = 8080
	if _, err := l.Device.ListenTCP(port); err != nil {
		t.Fatal(err)
	}

	for _, fam := range Families {
		t.Run(fam.String(), func(t *testing.T) {
			ip := fam.NFTFamily()
			dev, vic := l.Device.Addr(fam), victim.Addr(fam)
			table := "spoof" + fam.String()
			synack := "tcp flags & (syn|ack) == syn|ack"
			syn := "tcp flags & (syn|ack) == syn"
			mustNFT(t, l.Device, fmt.Sprintf(`
table inet %[1]s {
	counter syn_in {}
	counter synack_out {}
	chain in { type filter hook input priority 0; policy accept;
		%[2]s saddr %[3]s tcp dport %[4]d %[5]s counter name "syn_in"
	}
	chain out { type filter hook output priority 0; policy accept;
		%[2]s daddr %[3]s tcp sport %[4]d %[6]s counter name "synack_out"
	}
}`, table, ip, vic, port, syn, synack))
			for _, h := range []*Host{victim, l.Attacker} {
				mustNFT(t, h, fmt.Sprintf(`
table inet %[1]s {
	counter synack_in {}
	chain in { type filter hook input priority 0; policy accept;
		%[2]s saddr %[3]s tcp sport %[4]d %[5]s counter name "synack_in"
	}
}`, table, ip, dev, port, synack))
			}

			if err := l.Attacker.SpoofSYN(vic, dev, port); err != nil {
				t.Fatal(err)
			}
			if _, err := l.Device.WaitNFTCounter("inet", table, "syn_in", 1, waitTimeout); err != nil {
				t.Fatalf("forged SYN did not reach the device: %v", err)
			}
			if _, err := l.Device.WaitNFTCounter("inet", table, "synack_out", 1, waitTimeout); err != nil {
				t.Fatalf("device sent no SYN-ACK to the forged source: %v", err)
			}
			if _, err := victim.WaitNFTCounter("inet", table, "synack_in", 1, waitTimeout); err != nil {
				t.Fatalf("SYN-ACK did not arrive at %s: %v", vic, err)
			}
			c, err := l.Attacker.NFTCounter("inet", table, "synack_in")
			if err != nil {
				t.Fatal(err)
			}
			if c.Packets != 0 {
				t.Errorf("attacker received %d SYN-ACKs; they must go to the forged source", c.Packets)
			}
		})
	}
}

// TestSpoofUDP: a forged UDP datagram is delivered and attributed to the
// forged source.
func TestSpoofUDP(t *testing.T) {
	t.Parallel()
	l := New(t, WithVictims(1))
	sink, err := l.Device.ListenUDP(5000)
	if err != nil {
		t.Fatal(err)
	}
	for _, fam := range Families {
		forged := l.Cloud.Addr(fam)
		if err := l.Attacker.SpoofUDP(forged, l.Device.Addr(fam), 4242, 5000, []byte("forged")); err != nil {
			t.Fatal(err)
		}
		if err := Poll(waitTimeout, 5*time.Millisecond, func() (bool, error) { return sink.PacketsFrom(forged) == 1, nil }); err != nil {
			t.Fatalf("%s: datagram from forged %s not received: %v", fam, forged, err)
		}
	}
	if got := sink.PacketsFrom(l.Attacker.V4) + sink.PacketsFrom(l.Attacker.V6); got != 0 {
		t.Errorf("datagrams attributed to the attacker: %d", got)
	}
}

func mustNFT(t *testing.T, h *Host, ruleset string) {
	t.Helper()
	if err := h.NFT(ruleset); err != nil {
		t.Fatal(err)
	}
}

// TestPacketChecksums verifies the hand-built packets without a kernel: the
// IPv4 header checksum and the TCP/UDP checksum over the pseudo-header must
// all verify to zero, and the header fields must be where the RFCs put them.
func TestPacketChecksums(t *testing.T) {
	cases := []struct {
		name     string
		src, dst string
		udp      bool
		payload  []byte
	}{
		{"tcp4-syn", "198.51.100.101", "192.0.2.10", false, nil},
		{"tcp4-odd-payload", "198.51.100.66", "192.0.2.10", false, []byte("abc")},
		{"tcp6-syn", "2001:db8:2::101", "2001:db8:1::10", false, nil},
		{"tcp6-payload", "2001:db8:2::66", "2001:db8:1::10", false, []byte("hello, world")},
		{"udp4", "203.0.113.10", "192.0.2.10", true, []byte("x")},
		{"udp6", "2001:db8:3::10", "2001:db8:1::10", true, []byte("datagram")},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src, dst := netip.MustParseAddr(c.src), netip.MustParseAddr(c.dst)
			var pkt []byte
			var err error
			proto := uint8(protoTCP)
			if c.udp {
				proto = protoUDP
				pkt, err = buildUDP(src, dst, 1234, 53, 0, c.payload)
			} else {
				seg := TCPSegment{Src: src, Dst: dst, SrcPort: 40000, DstPort: 80, Seq: 1, Flags: FlagSYN, Payload: c.payload}
				pkt, err = buildTCP(&seg)
			}
			if err != nil {
				t.Fatal(err)
			}
			var l4 []byte
			if src.Is4() {
				if pkt[0] != 0x45 || pkt[9] != proto || int(binary.BigEndian.Uint16(pkt[2:])) != len(pkt) {
					t.Fatalf("bad IPv4 header % x", pkt[:20])
				}
				if cs := checksum(pkt[:20], 0); cs != 0 {
					t.Errorf("IPv4 header checksum does not verify (0x%04x)", cs)
				}
				l4 = pkt[20:]
			} else {
				if pkt[0]>>4 != 6 || pkt[6] != proto || int(binary.BigEndian.Uint16(pkt[4:])) != len(pkt)-40 {
					t.Fatalf("bad IPv6 header % x", pkt[:40])
				}
				l4 = pkt[40:]
			}
			if cs := checksum(l4, pseudoHeaderSum(src, dst, proto, len(l4))); cs != 0 {
				t.Errorf("L4 checksum does not verify (0x%04x)", cs)
			}
		})
	}

	// RFC 1071 example: words 0x0001 0xf203 0xf4f5 0xf6f7 sum to 0xddf2,
	// so the checksum is its complement 0x220d.
	if got := checksum([]byte{0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7}, 0); got != 0x220d {
		t.Errorf("RFC 1071 example checksum = 0x%04x, want 0x220d", got)
	}
	if _, err := buildTCP(&TCPSegment{Src: netip.MustParseAddr("192.0.2.1"), Dst: netip.MustParseAddr("2001:db8::1")}); err == nil {
		t.Error("mixed families accepted")
	}
}
