package netlab

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const waitTimeout = 5 * time.Second

func TestLabUp(t *testing.T) {
	t.Parallel()
	l := New(t, WithVictims(3))

	want := []struct {
		name    string
		segment string
		v4, v6  string
	}{
		{"device", SegmentLAN, "192.0.2.10", "2001:db8:1::10"},
		{"viewer", SegmentLAN, "192.0.2.20", "2001:db8:1::20"},
		{"lan2", SegmentLAN, "192.0.2.30", "2001:db8:1::30"},
		{"cloud", SegmentCloud, "203.0.113.10", "2001:db8:3::10"},
		{"attacker", SegmentOutside, "198.51.100.66", "2001:db8:2::66"},
		{"victim0", SegmentOutside, "198.51.100.101", "2001:db8:2::101"},
		{"victim1", SegmentOutside, "198.51.100.102", "2001:db8:2::102"},
		{"victim2", SegmentOutside, "198.51.100.103", "2001:db8:2::103"},
	}
	if got := len(l.Hosts()); got != len(want) {
		t.Fatalf("lab has %d hosts, want %d", got, len(want))
	}
	if len(l.Victims) != 3 {
		t.Fatalf("lab has %d victims, want 3", len(l.Victims))
	}
	for _, w := range want {
		h := l.Host(w.name)
		if h == nil {
			t.Fatalf("host %s missing", w.name)
		}
		if h.V4 != netip.MustParseAddr(w.v4) || h.V6 != netip.MustParseAddr(w.v6) || h.Segment != w.segment {
			t.Errorf("%s: got %s %s %s, want %s %s %s", w.name, h.Segment, h.V4, h.V6, w.segment, w.v4, w.v6)
		}
		if !h.Prefix4.Contains(h.V4) || !h.Prefix6.Contains(h.V6) {
			t.Errorf("%s: addresses outside own prefixes %s %s", w.name, h.Prefix4, h.Prefix6)
		}
		if !strings.HasPrefix(h.NetNS, fmt.Sprintf("dfl%d-", os.Getpid())) || !strings.HasSuffix(h.NetNS, "-"+w.name) {
			t.Errorf("%s: unexpected namespace name %q", w.name, h.NetNS)
		}
		if _, err := os.Stat(filepath.Join("/var/run/netns", h.NetNS)); err != nil {
			t.Errorf("%s: named namespace not visible: %v", w.name, err)
		}
	}
	for _, name := range l.NetNSNames() {
		if _, err := os.Stat(filepath.Join("/var/run/netns", name)); err != nil {
			t.Errorf("namespace %s: %v", name, err)
		}
	}
	if l.Device.NSFd() < 0 {
		t.Errorf("device NSFd = %d", l.Device.NSFd())
	}
}

// TestExecRunsInNamespace proves Exec runs inside the host's namespace: the
// device sees its own eth0 addresses, and no other host's.
func TestExecRunsInNamespace(t *testing.T) {
	t.Parallel()
	RequireTool(t, "ip")
	l := New(t, WithVictims(0))
	for _, h := range []*Host{l.Device, l.Cloud} {
		out, err := h.Exec("ip", "-o", "addr", "show", "dev", "eth0")
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range h.Addrs() {
			if !strings.Contains(out, a.String()+"/") {
				t.Errorf("%s: address %s not in %q", h.Name, a, out)
			}
		}
		if h != l.Viewer && strings.Contains(out, l.Viewer.V4.String()+"/") {
			t.Errorf("%s sees viewer's address: %q", h.Name, out)
		}
	}
	if _, err := l.Device.Exec("false"); err == nil {
		t.Error("Exec(false) returned nil error")
	}
	out, err := l.Device.ExecInput("hello", "cat")
	if err != nil || out != "hello" {
		t.Errorf("ExecInput(cat) = %q, %v", out, err)
	}
}

// TestConnectivity checks TCP (connect + data) and UDP (round trip) between
// the device and hosts in every segment, in both directions and families.
func TestConnectivity(t *testing.T) {
	t.Parallel()
	l := New(t, WithVictims(1))
	const tcpPort, udpPort = 7000, 7001

	type sinks struct {
		tcp *TCPSink
		udp *UDPSink
	}
	servers := map[*Host]sinks{}
	for _, h := range []*Host{l.Device, l.Viewer, l.Cloud, l.Attacker} {
		ts, err := h.ListenTCP(tcpPort)
		if err != nil {
			t.Fatal(err)
		}
		us, err := h.ListenUDP(udpPort, WithEcho())
		if err != nil {
			t.Fatal(err)
		}
		servers[h] = sinks{ts, us}
	}

	cases := []struct{ from, to *Host }{
		{l.Viewer, l.Device}, {l.Device, l.Viewer},
		{l.Cloud, l.Device}, {l.Device, l.Cloud},
		{l.Attacker, l.Device}, {l.Device, l.Attacker},
	}
	for _, c := range cases {
		for _, fam := range Families {
			t.Run(fmt.Sprintf("%s-to-%s/%s", c.from.Name, c.to.Name, fam), func(t *testing.T) {
				src, dst := c.from.Addr(fam), c.to.Addr(fam)
				srv := servers[c.to]
				ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
				defer cancel()

				// TCP: handshake, 10 KiB of data, counted per source.
				before := srv.tcp.BytesFrom(src)
				tr, err := c.from.PushTCP(ctx, dst, tcpPort, 10240, waitTimeout)
				if err != nil {
					t.Fatalf("tcp: %v", err)
				}
				if !tr.Complete || tr.Err != nil {
					t.Fatalf("tcp: transfer %+v", tr)
				}
				if err := Poll(waitTimeout, 5*time.Millisecond, func() (bool, error) {
					return srv.tcp.BytesFrom(src)-before >= 10240, nil
				}); err != nil {
					t.Fatalf("tcp: %s received %d bytes from %s: %v", c.to.Name, srv.tcp.BytesFrom(src)-before, src, err)
				}

				// UDP: echo round trip.
				msg := []byte("ping " + src.String())
				reply, err := c.from.UDPRoundTrip(ctx, dst, udpPort, msg)
				if err != nil {
					t.Fatalf("udp: %v", err)
				}
				if !bytes.Equal(reply, msg) {
					t.Fatalf("udp: reply %q, want %q", reply, msg)
				}
				if srv.udp.PacketsFrom(src) == 0 {
					t.Fatalf("udp: sink did not attribute datagram to %s", src)
				}
			})
		}
	}
}

func TestSendUDPAndSourceSelection(t *testing.T) {
	t.Parallel()
	l := New(t, WithVictims(0))
	sink, err := l.Cloud.ListenUDP(5353)
	if err != nil {
		t.Fatal(err)
	}
	for _, fam := range Families {
		n, err := l.Device.SendUDP(l.Cloud.Addr(fam), sink.Port(), []byte("0123456789"), 20)
		if err != nil || n != 20 {
			t.Fatalf("%s: SendUDP = %d, %v", fam, n, err)
		}
		if err := Poll(waitTimeout, 5*time.Millisecond, func() (bool, error) {
			return sink.PacketsFrom(l.Device.Addr(fam)) >= 20, nil
		}); err != nil {
			t.Fatalf("%s: %d packets from device: %v", fam, sink.PacketsFrom(l.Device.Addr(fam)), err)
		}
	}
	if got := sink.Bytes(); got != 400 {
		t.Errorf("sink bytes = %d, want 400", got)
	}

	// An explicit source address is honoured.
	ts, err := l.Cloud.ListenTCP(0)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	c, err := l.Device.DialTCPFrom(ctx, l.Device.V6, l.Cloud.V6, ts.Port())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := ts.WaitConns(1, waitTimeout); err != nil {
		t.Fatal(err)
	}
	if ts.ConnsFrom(l.Device.V6) != 1 {
		t.Errorf("connection not attributed to %s", l.Device.V6)
	}
}

// TestBanner simulates a cloud clear-to-send: the server speaks first, the
// device reads the banner, then uploads.
func TestBanner(t *testing.T) {
	t.Parallel()
	l := New(t, WithVictims(0))
	banner := []byte("220 ready\r\n")
	sink, err := l.Cloud.ListenTCP(8443, WithBanner(banner))
	if err != nil {
		t.Fatal(err)
	}
	for _, fam := range Families {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		c, err := l.Device.DialTCP(ctx, l.Cloud.Addr(fam), 8443)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		got, err := ReadN(c, len(banner), waitTimeout)
		if err != nil || !bytes.Equal(got, banner) {
			t.Fatalf("%s: banner %q, %v", fam, got, err)
		}
		tr := WriteFor(c, 1<<20, waitTimeout)
		c.Close()
		if !tr.Complete {
			t.Fatalf("%s: upload %+v", fam, tr)
		}
		if err := Poll(waitTimeout, 5*time.Millisecond, func() (bool, error) {
			return sink.BytesFrom(l.Device.Addr(fam)) >= 1<<20, nil
		}); err != nil {
			t.Fatalf("%s: cloud got %d bytes: %v", fam, sink.BytesFrom(l.Device.Addr(fam)), err)
		}
	}
}

func TestCheckDstRefusesExternal(t *testing.T) {
	for _, a := range []string{"8.8.8.8", "10.0.0.1", "2001:4860:4860::8888", "::ffff:1.1.1.1"} {
		if err := checkDst(netip.MustParseAddr(a)); err == nil {
			t.Errorf("checkDst(%s) = nil, want error", a)
		}
	}
	for _, a := range []string{"192.0.2.10", "198.51.100.101", "203.0.113.10", "2001:db8:2::66", "::ffff:192.0.2.20", "127.0.0.1", "::1"} {
		if err := checkDst(netip.MustParseAddr(a)); err != nil {
			t.Errorf("checkDst(%s) = %v", a, err)
		}
	}
}
