package traffic

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/devfence/devfence/internal/netlab"
)

// consentIdle is consent.idle in the consent profiles.
const consentIdle = 2 * time.Second

// consentProfile: the LAN may connect to a consent service; bulk is UDP
// 5000-5100 to consenting peers; nothing else may go to the LAN.
const consentProfile = `version: 1
device: {name: traffic-consent}
networks:
  lan: ["{{.LAN4}}", "{{.LAN6}}"]
inbound:
  services:
    - {name: viewer, proto: tcp, port: 8443, from: [lan], consent: true}
egress:
  quota: 64KiB/1h
consent:
  idle: 2s
  peers: 16
  bulk:
    - {proto: udp, port: 5000-5100}
`

// bulkPort is a consent.bulk port.
const bulkPort = 5000

// bulkProbe sends one bulk datagram from the device and reports whether the
// device's own output chain let it out (false: EPERM, a local drop). It is
// the device-side view of "is dst consenting right now".
func bulkProbe(t testing.TB, dev *netlab.Host, dst netip.Addr) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), okDial)
	defer cancel()
	c, err := dev.DialUDP(ctx, dst, bulkPort)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.Write([]byte("probe"))
	if err != nil && !errors.Is(err, syscall.EPERM) {
		t.Fatalf("bulk probe to %s: %v", dst, err)
	}
	return err == nil
}

// TestBulkOnlyWhileConsenting: bulk to a peer flows only while it consents.
// Before the viewer opens a session nothing arrives; during it (the viewer
// keeps the session live) at least 95% arrives; when the viewer falls
// silent consent lapses after consent.idle even though the device keeps
// sending to it (traffic to the peer never extends consent); after the
// session closes and consent.idle passes nothing arrives.
func TestBulkOnlyWhileConsenting(t *testing.T) {
	t.Parallel()
	families(t, func(t *testing.T, fam netlab.Family) {
		lab := netlab.New(t, netlab.WithVictims(0))
		dev, viewer := lab.Device, lab.Viewer
		svc := mustListenTCP(t, dev, 8443, netlab.WithEcho())
		sink := mustListenUDP(t, viewer, bulkPort)
		applyProfile(t, lab, consentProfile)
		to := viewer.Addr(fam)
		const size, count = 1000, 1000

		// Before the session: nothing.
		if sent := sendPaced(t, dev, to, bulkPort, size, 100); sent != 0 {
			t.Errorf("before consent the device's output let %d bulk datagrams out", sent)
		}
		if n := settled(sink.Bytes); n != 0 {
			t.Fatalf("before consent the viewer received %s of bulk", kib(n))
		}

		// The handshake alone: conntrack calls the connection assured, but
		// the device's TCP has not sent a segment on it yet, so nothing.
		c := mustConnect(t, viewer, dev.Addr(fam), 8443)
		if bulkProbe(t, dev, to) {
			t.Errorf("the handshake alone made the viewer consenting; the device had not spoken on the connection")
		}

		// During the session: the viewer talks, the device answers, and
		// the viewer keeps talking.
		mustConsent(t, c)
		if err := svc.WaitBytes(2, arrive); err != nil {
			t.Fatal(err)
		}
		stop := make(chan struct{})
		hbDone := heartbeat(c, 250*time.Millisecond, stop)
		sent := sendWindowed(t, dev, to, bulkPort, size, count, sink.Bytes)
		_ = sink.WaitBytes(int64(sent*size), arrive)
		got := settled(sink.Bytes)
		t.Logf("during consent: %d of %d datagrams left the device, %s arrived", sent, count, kib(got))
		if sent != count {
			t.Fatalf("during consent the device's firewall refused %d of %d bulk datagrams", count-sent, count)
		}
		mustMostlyArrive(t, got, sent*size)

		// Silent session: the device streams bulk, the viewer says nothing.
		// Consent must lapse within consent.idle (+ slack) anyway.
		close(stop)
		<-hbDone
		silentFrom := time.Now()
		if err := netlab.Poll(consentIdle+5*time.Second, 50*time.Millisecond, func() (bool, error) {
			return !bulkProbe(t, dev, to), nil
		}); err != nil {
			t.Fatalf("consent did not lapse %v after the viewer fell silent while the device kept sending: %v", time.Since(silentFrom), err)
		}
		t.Logf("consent lapsed %v after the viewer's last packet", time.Since(silentFrom).Round(10*time.Millisecond))

		// The session's own packets refresh it: one more byte from the viewer
		// makes bulk flow again (the session is still open).
		if _, err := c.Write([]byte{'y'}); err != nil {
			t.Fatal(err)
		}
		if err := netlab.Poll(arrive, 20*time.Millisecond, func() (bool, error) { return bulkProbe(t, dev, to), nil }); err != nil {
			t.Fatalf("a packet of the live session did not renew consent: %v", err)
		}

		// Closed session: after consent.idle nothing gets through.
		c.Close()
		closedAt := time.Now()
		if err := netlab.Poll(consentIdle+5*time.Second, 50*time.Millisecond, func() (bool, error) {
			return !bulkProbe(t, dev, to), nil
		}); err != nil {
			t.Fatalf("consent still live %v after the session closed: %v", time.Since(closedAt), err)
		}
		before := settled(sink.Bytes)
		if sent := sendPaced(t, dev, to, bulkPort, size, 100); sent != 0 {
			t.Errorf("after the session the device's output let %d bulk datagrams out", sent)
		}
		if n := settled(sink.Bytes) - before; n != 0 {
			t.Errorf("after the session closed and consent.idle passed, %s of bulk arrived", kib(n))
		}
	})
}

// TestSpoofedSYNGrantsNoConsent: a SYN with a forged source never makes
// that source consenting, not even when it is retransmitted (same 4-tuple,
// as any SYN whose SYN-ACK got no answer is) or followed by a blind ACK.
//
// The forged source is lan2's address: it is inside the consent service's
// networks (so the device does answer the SYN) and it is a real host whose
// bulk sink can count what the device sends it. lan2 is made provably
// silent for the attack: a table in lan2's own namespace drops every
// SYN-ACK it receives (counting them, which proves the device answered
// the forged SYN) and every RST it would send, so nothing from lan2 can
// complete or abort the forged handshake. Afterwards lan2 drops that table
// and connects for real: bulk to it then flows (the positive control).
func TestSpoofedSYNGrantsNoConsent(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		attack func(t *testing.T, lab *netlab.Lab, src, dst netip.Addr)
	}{
		{"syn", func(t *testing.T, lab *netlab.Lab, src, dst netip.Addr) {
			for range 5 {
				if err := lab.Attacker.SpoofSYN(src, dst, 8443); err != nil {
					t.Fatal(err)
				}
			}
		}},
		{"syn-retransmitted", func(t *testing.T, lab *netlab.Lab, src, dst netip.Addr) {
			seg := netlab.TCPSegment{Src: src, Dst: dst, SrcPort: 40000 + uint16(rand.IntN(20000)), DstPort: 8443,
				Seq: rand.Uint32(), Flags: netlab.FlagSYN}
			for range 3 {
				if err := lab.Attacker.SpoofTCP(seg); err != nil {
					t.Fatal(err)
				}
				time.Sleep(100 * time.Millisecond) // as a retransmission would: after the SYN-ACK
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			families(t, func(t *testing.T, fam netlab.Family) {
				lab := netlab.New(t, netlab.WithVictims(0))
				dev, lan2 := lab.Device, lab.LAN2
				mustListenTCP(t, dev, 8443, netlab.WithEcho())
				sink := mustListenUDP(t, lan2, bulkPort)
				applyProfile(t, lab, consentProfile)
				if err := lan2.NFT(silentTable); err != nil {
					t.Fatal(err)
				}
				src, dst := lan2.Addr(fam), dev.Addr(fam)

				tc.attack(t, lab, src, dst)
				// The device answered the forged SYN (to lan2, who kept quiet).
				if _, err := lan2.WaitNFTCounter("inet", "silent", "synack", 1, arrive); err != nil {
					t.Fatalf("the device never answered the forged SYN, so the attack did not reach it: %v", err)
				}
				if c, err := lan2.NFTCounter("inet", "silent", "rst"); err != nil || c.Packets != 0 {
					t.Fatalf("lan2 tried to send %d RSTs (%v); it must stay silent", c.Packets, err)
				}

				sent := sendPaced(t, dev, src, bulkPort, 1000, 50)
				if n := settled(sink.Bytes); n != 0 || sent != 0 {
					t.Errorf("after a forged SYN from %s's address the device sent %d bulk datagrams and %s arrived; want none",
						lan2.Name, sent, kib(n))
				}
				set := "consent_v4"
				if fam == netlab.IPv6 {
					set = "consent_v6"
				}
				if setHas(t, lab, set, src) {
					t.Errorf("%s holds the forged source %s", set, src)
				}

				// Positive control: lan2 connects for real and bulk flows.
				if _, err := lan2.Exec("nft", "delete", "table", "inet", "silent"); err != nil {
					t.Fatal(err)
				}
				mustConsent(t, mustConnect(t, lan2, dst, 8443))
				if err := netlab.Poll(arrive, 20*time.Millisecond, func() (bool, error) { return bulkProbe(t, dev, src), nil }); err != nil {
					t.Fatalf("positive control: a real session from %s did not make it consenting: %v", lan2.Name, err)
				}
				sendWindowed(t, dev, src, bulkPort, 1000, 50, sink.Bytes)
				if err := sink.WaitBytes(45*1000, arrive); err != nil {
					t.Fatalf("positive control: bulk to a real consenting peer: %v", err)
				}
			})
		})
	}
}

// TestBlindACKSweepGrantsNoConsent (finding B): after one forged SYN from
// lan2's address (lan2 kept silent as in TestSpoofedSYNGrantsNoConsent),
// the attacker sends blind ACKs whose acknowledgement numbers step through
// the whole 32-bit space 60000 apart (~71,600 packets), twice. conntrack
// accepts an ACK anywhere in the peer's advertised window (64240 here) as
// the end of the handshake, so one of them makes the forged connection
// established and assured; the device's TCP, which accepts only the one
// right number, answers the ACKs that reach it with RSTs and never sends
// a normal segment, and the consent grant needs the mark such a segment
// sets. A probe table in the device, hooked before devfence, shows both:
// the attack did reach an assured connection (without it the test would
// prove nothing) and the device sent RSTs but no segment without SYN or
// RST to lan2. lan2 then connects for real, its service answers and bulk
// flows (the positive control): the RSTs, tens of thousands of them on
// the assured connection, spent none of lan2's budget (with replies
// metered on assured they spend it all, and lan2's connection gets no
// answer).
func TestBlindACKSweepGrantsNoConsent(t *testing.T) {
	t.Parallel()
	families(t, func(t *testing.T, fam netlab.Family) {
		lab := netlab.New(t, netlab.WithVictims(0))
		dev, lan2 := lab.Device, lab.LAN2
		mustListenTCP(t, dev, 8443, netlab.WithEcho())
		sink := mustListenUDP(t, lan2, bulkPort)
		applyProfile(t, lab, consentProfile)
		if err := lan2.NFT(silentTable); err != nil {
			t.Fatal(err)
		}
		src, dst := lan2.Addr(fam), dev.Addr(fam)
		if err := dev.NFT(fmt.Sprintf(sweepProbeTable, fam.NFTFamily(), src)); err != nil {
			t.Fatal(err)
		}
		seg := netlab.TCPSegment{Src: src, Dst: dst, SrcPort: 41000, DstPort: 8443, Seq: 12345, Flags: netlab.FlagSYN}
		if err := lab.Attacker.SpoofTCP(seg); err != nil {
			t.Fatal(err)
		}
		if _, err := lan2.WaitNFTCounter("inet", "silent", "synack", 1, arrive); err != nil {
			t.Fatalf("the device never answered the forged SYN, so the attack did not reach it: %v", err)
		}
		// Two passes: conntrack takes acknowledgement numbers up to half
		// the space below the device's next sequence number as valid, so
		// depending on its random ISN the valid ACKs after the hit in one
		// pass number anything from none to ~35,800; in the second pass
		// all of them come after it, and the device's RSTs to them go out
		// on the connection conntrack calls assured.
		start, n := time.Now(), 0
		for range 2 {
			for ack := uint64(0); ack < 1<<32; ack += 60000 {
				seg.Seq, seg.Ack, seg.Flags = 12346, uint32(ack), netlab.FlagACK
				if err := lab.Attacker.SpoofTCP(seg); err != nil {
					t.Fatal(err)
				}
				n++
			}
		}
		t.Logf("sent %d blind ACKs (%d bytes) in %v", n, n*40, time.Since(start).Round(time.Millisecond))
		// The attack worked on conntrack: an ACK of the sweep was taken as
		// the end of the handshake.
		if _, err := dev.WaitNFTCounter("inet", "sweepprobe", "assured", 1, arrive); err != nil {
			t.Fatalf("no forged ACK made the connection assured, so the sweep proves nothing: %v", err)
		}
		if c, err := lan2.NFTCounter("inet", "silent", "rst"); err != nil || c.Packets != 0 {
			t.Fatalf("lan2 tried to send %d RSTs (%v); it must stay silent", c.Packets, err)
		}

		sent := sendPaced(t, dev, src, bulkPort, 1000, 50)
		if got := settled(sink.Bytes); sent != 0 || got != 0 {
			t.Errorf("after a forged SYN and a blind ACK sweep, the device sent %d bulk datagrams to %s and %s arrived; want none",
				sent, src, kib(got))
		}
		set := "consent_v4"
		if fam == netlab.IPv6 {
			set = "consent_v6"
		}
		if setHas(t, lab, set, src) {
			t.Errorf("%s holds the forged source %s", set, src)
		}
		// What the device's TCP said to the forged address: RSTs, and
		// never a segment without SYN or RST.
		rst, err := dev.NFTCounter("inet", "sweepprobe", "rst")
		if err != nil {
			t.Fatal(err)
		}
		spoke, err := dev.NFTCounter("inet", "sweepprobe", "spoke")
		if err != nil {
			t.Fatal(err)
		}
		invalid, err := dev.NFTCounter("inet", "sweepprobe", "invalid")
		if err != nil {
			t.Fatal(err)
		}
		rstAssured, err := dev.NFTCounter("inet", "sweepprobe", "rstassured")
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("conntrack called %d of the ACKs invalid (devfence drops those); the device answered the others with %d RSTs (%d of them, %d bytes, on the connection conntrack called assured) and %d other segments",
			invalid.Packets, rst.Packets, rstAssured.Packets, rstAssured.Bytes, spoke.Packets)
		if rst.Packets == 0 || spoke.Packets != 0 {
			t.Errorf("the device sent %d RSTs and %d segments without SYN or RST to the forged address; want RSTs only", rst.Packets, spoke.Packets)
		}
		// Metered as lan2's replies, they would exceed its budget (64 KiB):
		// the positive control below shows they were not.
		if rstAssured.Bytes <= 64<<10 {
			t.Fatalf("only %d bytes of RSTs went out on the assured connection; the positive control would not test lan2's budget", rstAssured.Bytes)
		}

		// Positive control: lan2 connects for real, its service answers
		// (the RSTs above spent none of lan2's budget) and bulk flows.
		if _, err := lan2.Exec("nft", "delete", "table", "inet", "silent"); err != nil {
			t.Fatal(err)
		}
		mustConsent(t, mustConnect(t, lan2, dst, 8443))
		if err := netlab.Poll(arrive, 20*time.Millisecond, func() (bool, error) { return bulkProbe(t, dev, src), nil }); err != nil {
			t.Fatalf("positive control: a real session from %s did not make it consenting: %v", lan2.Name, err)
		}
		sendWindowed(t, dev, src, bulkPort, 1000, 50, sink.Bytes)
		if err := sink.WaitBytes(45*1000, arrive); err != nil {
			t.Fatalf("positive control: bulk to a real consenting peer: %v", err)
		}
	})
}

// sweepProbeTable counts, in the device and before devfence's chains, the
// forged client's packets on an assured connection and the device's
// segments to it by kind. Arguments: the family's nft protocol ("ip",
// "ip6") and the forged address.
const sweepProbeTable = `table inet sweepprobe {
	counter assured {}
	counter invalid {}
	counter rstassured {}
	counter rst {}
	counter spoke {}
	chain input {
		type filter hook input priority -10; policy accept;
		tcp dport 8443 %[1]s saddr %[2]s ct direction original ct status assured counter name "assured"
		tcp dport 8443 %[1]s saddr %[2]s ct state invalid counter name "invalid"
	}
	chain output {
		type filter hook output priority -10; policy accept;
		tcp sport 8443 %[1]s daddr %[2]s tcp flags rst counter name "rst"
		tcp sport 8443 %[1]s daddr %[2]s tcp flags rst ct status assured counter name "rstassured"
		tcp sport 8443 %[1]s daddr %[2]s tcp flags ! syn,rst counter name "spoke"
	}
}
`

// silentTable makes a host ignore SYN-ACKs and never send RSTs.
const silentTable = `table inet silent {
	counter synack {}
	counter rst {}
	chain input {
		type filter hook input priority -300; policy accept;
		tcp flags & (syn | ack) == syn | ack counter name "synack" drop
	}
	chain output {
		type filter hook output priority -300; policy accept;
		tcp flags & rst == rst counter name "rst" drop
	}
}
`

// handshakeProfile: the device may ask the cloud for consent on 4433; the
// cloud must answer "220" first.
const handshakeProfile = `version: 1
device: {name: traffic-handshake}
networks:
  cloud: ["{{.Cloud.V4}}", "{{.Cloud.V6}}"]
egress:
  quota: 64KiB/1h
consent:
  idle: 2s
  bulk:
    - {proto: udp, port: 5000-5100}
  handshakes:
    - {name: upload, to: [cloud], port: 4433, clearToSend: "220"}
`

// TestCloudHandshakeClearToSend: the device connects to the cloud's
// reserved port; bulk to the cloud flows only when the cloud's first reply
// is the clear-to-send "220". With "500 no" the session itself works (the
// device reads the reply), but nothing of the bulk arrives — not even when a
// later reply of that session starts with "220" (here: the cloud echoes
// what the device wrote), because only the first data bytes count.
func TestCloudHandshakeClearToSend(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		banner string
		later  string // written by the device after the banner; the cloud echoes it
		flows  bool
	}{
		{"refused", "500 no\r\n", "", false},
		{"refused-then-220", "500 no\r\n", "220 echoed\r\n", false},
		{"clear-to-send", "220 ready\r\n", "", true},
	}
	for _, form := range ruleForms {
		for _, tc := range cases {
			t.Run(form.name+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				cloudClearToSend(t, form.apply, tc.banner, tc.later, tc.flows)
			})
		}
	}
}

// ruleForms are the two forms of the clear-to-send rules: as compiled
// (@ih) and as lowered for a kernel without @ih (@th per TCP data offset).
var ruleForms = []struct {
	name  string
	apply func(testing.TB, *netlab.Lab, string)
}{{"ih", applyProfile}, {"th-lowered", applyLowered}}

// cloudClearToSend: the device connects to the cloud, which greets it
// with banner; the device writes later (if any), which the cloud echoes,
// and keeps the session live. Bulk to the cloud must flow exactly when
// flows says.
func cloudClearToSend(t *testing.T, apply func(testing.TB, *netlab.Lab, string), banner, later string, flows bool) {
	t.Helper()
	families(t, func(t *testing.T, fam netlab.Family) {
		lab := netlab.New(t, netlab.WithVictims(0))
		dev, cloud := lab.Device, lab.Cloud
		sink := mustListenUDP(t, cloud, bulkPort)
		mustListenTCP(t, cloud, 4433, netlab.WithBanner([]byte(banner)), netlab.WithEcho())
		apply(t, lab, handshakeProfile)
		to := cloud.Addr(fam)
		const size, count = 1000, 1000

		c := mustConnect(t, dev, to, 4433)
		if got, err := netlab.ReadN(c, len(banner), arrive); err != nil || string(got) != banner {
			t.Fatalf("positive control: the device read %q (%v) from the cloud, want %q", got, err, banner)
		}
		if later != "" {
			if _, err := c.Write([]byte(later)); err != nil {
				t.Fatal(err)
			}
			if got, err := netlab.ReadN(c, len(later), arrive); err != nil || string(got) != later {
				t.Fatalf("the cloud echoed %q (%v), want %q", got, err, later)
			}
		}
		// The device keeps the session live; the cloud echoes.
		stop := make(chan struct{})
		hbDone := heartbeat(c, 250*time.Millisecond, stop)
		defer func() { close(stop); <-hbDone }()
		tries := 100 // a refused cloud gets a short burst, an accepting one the whole bulk
		sent := sendPaced(t, dev, to, bulkPort, size, tries)
		if flows {
			sent += sendWindowed(t, dev, to, bulkPort, size, count-tries, sink.Bytes)
			tries = count
		}
		got := settled(sink.Bytes)
		t.Logf("cloud said %q: %d of %d bulk datagrams left the device, %s arrived", banner, sent, tries, kib(got))
		if flows {
			if sent != count {
				t.Errorf("after clear-to-send the device's firewall refused %d of %d bulk datagrams", count-sent, count)
			}
			mustMostlyArrive(t, got, sent*size)
		} else if got != 0 || sent != 0 {
			t.Errorf("the cloud's first reply was %q, yet %d datagrams left the device and %s arrived", banner, sent, kib(got))
		}
	})
}
