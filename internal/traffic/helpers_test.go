package traffic

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/devfence/devfence/internal/netlab"
)

// Bounds of every wait in the suite. None of them is an assertion on speed:
// a wait that runs out is reported as "did not arrive" only where arrival is
// the positive control, and drops are judged after the counters went quiet.
const (
	// dropDial bounds a connection attempt that the firewall should drop.
	dropDial = 400 * time.Millisecond
	// okDial bounds a connection attempt that must succeed.
	okDial = 5 * time.Second
	// arrive bounds waiting for traffic that must arrive.
	arrive = 5 * time.Second
	// quietFor is how long a receive counter must stay unchanged before it is
	// read as final.
	quietFor = 250 * time.Millisecond
	// quietMax bounds that wait.
	quietMax = 5 * time.Second
)

// families runs fn as a parallel subtest per IP family.
func families(t *testing.T, fn func(t *testing.T, fam netlab.Family)) {
	for _, fam := range netlab.Families {
		t.Run(fam.String(), func(t *testing.T) {
			t.Parallel()
			fn(t, fam)
		})
	}
}

// settled returns read's value once it has not changed for quietFor (at most
// quietMax), so that "0 bytes arrived" is read after in-flight packets had
// time to land, not at an arbitrary instant.
func settled(read func() int64) int64 {
	last := read()
	since := time.Now()
	_ = netlab.Poll(quietMax, 20*time.Millisecond, func() (bool, error) {
		if v := read(); v != last {
			last, since = v, time.Now()
			return false, nil
		}
		return time.Since(since) >= quietFor, nil
	})
	return read()
}

// mustListenTCP / mustListenUDP start sinks or fail the test.
func mustListenTCP(t testing.TB, h *netlab.Host, port uint16, opts ...netlab.ListenOption) *netlab.TCPSink {
	t.Helper()
	s, err := h.ListenTCP(port, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustListenUDP(t testing.TB, h *netlab.Host, port uint16, opts ...netlab.ListenOption) *netlab.UDPSink {
	t.Helper()
	s, err := h.ListenUDP(port, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// dial connects from h to dst:port within timeout.
func dial(h *netlab.Host, dst netip.Addr, port uint16, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return h.DialTCP(ctx, dst, port)
}

// mustConnect proves a TCP handshake from h to dst:port completes.
func mustConnect(t testing.TB, h *netlab.Host, dst netip.Addr, port uint16) net.Conn {
	t.Helper()
	c, err := dial(h, dst, port, okDial)
	if err != nil {
		t.Fatalf("positive control: %s could not connect to [%s]:%d: %v", h.Name, dst, port, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// mustConsent makes c, a session to the device's consent service (which
// must echo), consenting: a byte to the service, its echo back, then
// another byte. The echo is the device's own first segment on the
// connection without SYN or RST, which the consent grant needs (finding
// B: a handshake conntrack took as complete is not enough); the client's
// packets after it grant, the second byte at the latest.
func mustConsent(t testing.TB, c net.Conn) {
	t.Helper()
	if _, err := c.Write([]byte{'x'}); err != nil {
		t.Fatal(err)
	}
	if got, err := netlab.ReadN(c, 1, arrive); err != nil || string(got) != "x" {
		t.Fatalf("positive control: the consent service echoed %q (%v), want \"x\"", got, err)
	}
	if _, err := c.Write([]byte{'x'}); err != nil {
		t.Fatal(err)
	}
}

// mustNotConnect proves a TCP connection from h to dst:port is silently
// dropped (times out) rather than refused or accepted.
func mustNotConnect(t testing.TB, h *netlab.Host, dst netip.Addr, port uint16) {
	t.Helper()
	c, err := dial(h, dst, port, dropDial)
	if err == nil {
		c.Close()
		t.Errorf("%s connected to [%s]:%d; the firewall should have dropped it", h.Name, dst, port)
		return
	}
	if !netlab.IsTimeout(err) && !errors.Is(err, syscall.EPERM) {
		t.Errorf("%s -> [%s]:%d: %v; want a silent drop (timeout) or a local drop (EPERM)", h.Name, dst, port, err)
	}
}

// sendPaced sends count datagrams of size bytes from h to dst:port over one
// connected socket, pausing briefly every few datagrams so that neither the
// veth queues nor the receiver's socket buffer overflow: what is lost is
// lost to the firewall. It returns how many sends the local stack accepted;
// EPERM (a local output drop) is counted as not sent and does not stop it.
func sendPaced(t testing.TB, h *netlab.Host, dst netip.Addr, port uint16, size, count int) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), okDial)
	defer cancel()
	c, err := h.DialUDP(ctx, dst, port)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	payload := make([]byte, size)
	for i := range payload {
		payload[i] = byte('a' + i%26)
	}
	sent := 0
	for i := range count {
		if _, err := c.Write(payload); err == nil {
			sent++
		} else if !errors.Is(err, syscall.EPERM) && !errors.Is(err, syscall.ECONNREFUSED) {
			t.Fatalf("%s udp -> [%s]:%d: %v", h.Name, dst, port, err)
		}
		if i%8 == 7 {
			time.Sleep(100 * time.Microsecond)
		}
	}
	return sent
}

// sendWindowed is sendPaced for traffic that must arrive: it sends bursts
// of 32 datagrams and, after each, waits (at most a second) until the
// receiver has caught up to within one burst of what left the device, so
// a receiver that is not scheduled for a while (a 1-CPU emulated VM) does
// not overflow its socket buffer: two bursts fit in the default one.
// Datagrams the device's firewall refuses cost no wait. It returns how
// many datagrams left the device.
func sendWindowed(t testing.TB, h *netlab.Host, dst netip.Addr, port uint16, size, count int, received func() int64) int {
	t.Helper()
	const burst = 32
	base := received()
	sent := 0
	for tried := 0; tried < count; {
		n := min(burst, count-tried)
		sent += sendPaced(t, h, dst, port, size, n)
		tried += n
		want := base + int64((sent-burst)*size)
		_ = netlab.Poll(time.Second, time.Millisecond, func() (bool, error) { return received() >= want, nil })
	}
	return sent
}

// heartbeat writes one byte to c every interval until stop is closed, so a
// consent session stays live: consent is refreshed only by the peer's own
// packets. The returned channel is closed when the heartbeat has stopped.
func heartbeat(c net.Conn, interval time.Duration, stop <-chan struct{}) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer c.SetWriteDeadline(time.Time{})
		tk := time.NewTicker(interval)
		defer tk.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tk.C:
				_ = c.SetWriteDeadline(time.Now().Add(time.Second))
				if _, err := c.Write([]byte{'.'}); err != nil {
					return
				}
			}
		}
	}()
	return done
}

// setHas reports whether the named set of devfence's table in the device
// holds addr (read with nft; an auxiliary check next to the packet proofs).
func setHas(t testing.TB, lab *netlab.Lab, set string, addr netip.Addr) bool {
	t.Helper()
	out, err := lab.Device.Exec("nft", "list", "set", "inet", "devfence", set)
	if err != nil {
		t.Fatalf("list set %s: %v\n%s", set, err, out)
	}
	for _, f := range strings.FieldsFunc(out, func(r rune) bool { return r == ' ' || r == ',' || r == '{' || r == '}' || r == '\n' || r == '\t' }) {
		if a, err := netip.ParseAddr(f); err == nil && a == addr {
			return true
		}
	}
	return false
}

// kib formats a byte count for messages.
func kib(n int64) string { return fmt.Sprintf("%d B (%.1f KiB)", n, float64(n)/1024) }

// mustMostlyArrive is the positive control behind a firewall's "let it
// out": of the bytes that left the device, at least 95% reached the peer
// (a busy receiver may still miss a few).
func mustMostlyArrive(t testing.TB, got int64, left int) {
	t.Helper()
	if want := int64(left) * 95 / 100; got < want {
		t.Errorf("of %s that left the device only %s arrived, want >= 95%%", kib(int64(left)), kib(got))
	}
}
