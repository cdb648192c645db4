package nflog

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/devfence/devfence/compiler"
	"github.com/devfence/devfence/internal/netlab"
	"github.com/devfence/devfence/rules"
)

// recordWait bounds every wait for a record; drops are logged at once
// (queue threshold 1), so this is only slack for a loaded machine.
const recordWait = 5 * time.Second

// watchLab loads a profile into a lab's device with nft, as `nft -f` of the
// compiled text, and starts a Watcher in the device's namespace.
func watchLab(t *testing.T, profile string) (*netlab.Lab, *rules.Table, <-chan Record) {
	t.Helper()
	netlab.RequireTool(t, "nft")
	l := netlab.New(t)
	p, err := compiler.Load(profile, compiler.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tbl, err := compiler.Compile(p, compiler.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Device.NFT(rules.Replace(tbl).String()); err != nil {
		t.Fatal(err)
	}
	w, err := NewWatcher(Options{Group: uint16(p.Log.Group), NetNS: l.Device.NetNS, Table: tbl,
		Warnf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	recs := make(chan Record)
	done := make(chan error, 1)
	go func() {
		done <- w.Run(ctx, func(r Record) error {
			select {
			case recs <- r:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(recordWait):
			t.Errorf("Run did not return within %v of cancel", recordWait)
		}
		if err := w.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return l, tbl, recs
}

// expect reads records until one matches, failing after recordWait. Other
// records (neighbour discovery, retransmissions) are logged and skipped.
func expect(t *testing.T, recs <-chan Record, what string, match func(Record) bool) Record {
	t.Helper()
	deadline := time.After(recordWait)
	for {
		select {
		case r := <-recs:
			if match(r) {
				t.Logf("%s: %s", what, r.Text())
				return r
			}
			t.Logf("skipped while waiting for %s: %s", what, r.Text())
		case <-deadline:
			t.Fatalf("no record of %s within %v", what, recordWait)
			return Record{}
		}
	}
}

func peerPort(r Record, dir string, peer netip.Addr, port uint16) bool {
	return r.Direction == dir && r.Peer == peer && r.Port == port
}

func TestWatchKernel(t *testing.T) {
	l, _, recs := watchLab(t, "testdata/lab-cam.yaml")
	big := make([]byte, 1400) // two of these pass the 2KiB NTP budget, not three

	for _, f := range netlab.Families {
		t.Run("unsolicited/"+f.String(), func(t *testing.T) {
			// A real SYN from another host's stack to a closed port.
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			if err := l.Attacker.ProbeTCP(ctx, l.Device.Addr(f), 23); err == nil {
				t.Fatal("the SYN got through")
			}
			r := expect(t, recs, "the attacker's SYN", func(r Record) bool {
				return peerPort(r, "in", l.Attacker.Addr(f), 23)
			})
			if r.Reason != Unsolicited || r.Proto != "tcp" || r.TCPFlags != "SYN" || r.Device != "lab-cam" ||
				r.Dst != l.Device.Addr(f) || r.InIf != netlab.HostIfName || r.Family != f.String() || r.Group != 7 {
				t.Errorf("record %+v", r)
			}
			// The kernel stamps packets it received.
			if d := time.Since(r.Time); d < 0 || d > time.Minute {
				t.Errorf("time %v is %v from now", r.Time, d)
			}
		})
		t.Run("not-allowed/"+f.String(), func(t *testing.T) {
			dst := netlab.Unassigned4
			if f == netlab.IPv6 {
				dst = netlab.Unassigned6
			}
			if n, err := l.Device.SendUDP(dst, 9999, []byte("x"), 1); n != 0 || !errors.Is(err, unix.EPERM) {
				t.Fatalf("sent %d, err %v; want the output chain to refuse it (EPERM)", n, err)
			}
			r := expect(t, recs, "the device's UDP to port 9999", func(r Record) bool {
				return peerPort(r, "out", dst, 9999)
			})
			if r.Reason != NotAllowed || r.Proto != "udp" || r.OutIf != netlab.HostIfName || r.Src != l.Device.Addr(f) {
				t.Errorf("record %+v", r)
			}
		})
	}

	v0, v1 := l.Victims[0], l.Victims[1]
	t.Run("quota-spent/ipv4", func(t *testing.T) {
		if n, _ := l.Device.SendUDP(v0.V4, 123, big, 3); n != 1 {
			t.Fatalf("%d of 3 datagrams of 1400 bytes passed a 2KiB budget, want 1", n)
		}
		r := expect(t, recs, "NTP over budget", func(r Record) bool { return peerPort(r, "out", v0.V4, 123) })
		if r.Reason != QuotaSpent || !strings.Contains(r.Detail, "egress.allow ntp: "+v0.V4.String()+" has used its 2KiB") {
			t.Errorf("got %s (%s)", r.Reason, r.Detail)
		}
	})
	t.Run("table-full/ipv4", func(t *testing.T) {
		// limits.peers is 1 and victim0 holds the only place.
		if n, _ := l.Device.SendUDP(v1.V4, 123, []byte("x"), 1); n != 0 {
			t.Fatal("a second peer got into a full quota set")
		}
		r := expect(t, recs, "NTP to a second peer", func(r Record) bool { return peerPort(r, "out", v1.V4, 123) })
		if r.Reason != TableFull || !strings.Contains(r.Detail, "set quota_allow_ntp_v4 already tracks 1 of 1 peers") {
			t.Errorf("got %s (%s)", r.Reason, r.Detail)
		}
	})
	t.Run("quota-spent/ipv6-prefix", func(t *testing.T) {
		// victim0 and victim1 share 2001:db8:2::/64, one peer to the meter:
		// what victim0 used counts against victim1.
		if n, _ := l.Device.SendUDP(v0.V6, 123, big, 1); n != 1 {
			t.Fatal("first NTP datagram over IPv6 refused")
		}
		if n, _ := l.Device.SendUDP(v1.V6, 123, big, 1); n != 0 {
			t.Fatal("the /64's budget let a second 1400-byte datagram through")
		}
		r := expect(t, recs, "NTP over the /64's budget", func(r Record) bool { return peerPort(r, "out", v1.V6, 123) })
		if r.Reason != QuotaSpent || !strings.Contains(r.Detail, "2001:db8:2::/64 has used its 2KiB") {
			t.Errorf("got %s (%s)", r.Reason, r.Detail)
		}
	})
}

// Without the profile the watcher still reports directions and peers, and
// says it cannot tell why an output drop happened.
func TestWatchKernelNoProfile(t *testing.T) {
	netlab.RequireTool(t, "nft")
	l := netlab.New(t, netlab.WithVictims(0))
	p, err := compiler.Load("../../examples/baby-monitor.yaml", compiler.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tbl, err := compiler.Compile(p, compiler.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Device.NFT(rules.Replace(tbl).String()); err != nil {
		t.Fatal(err)
	}
	w, err := NewWatcher(Options{Group: uint16(p.Log.Group), NetNS: l.Device.NetNS})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := l.Device.SendUDP(netlab.Unassigned4, 9999, []byte("x"), 1); err == nil {
		t.Fatal("UDP to port 9999 was not dropped")
	}
	// Receive directly, bounded by a deadline.
	if err := w.log.SetReadDeadline(time.Now().Add(recordWait)); err != nil {
		t.Fatal(err)
	}
	for range 10 {
		pkts, err := w.log.Receive()
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range pkts {
			r := w.Record(p, time.Now())
			if peerPort(r, "out", netlab.Unassigned4, 9999) {
				if r.Reason != Unknown || r.Reason.Text() != "dropped" || r.Device != "baby-monitor" {
					t.Errorf("record %+v", r)
				}
				return
			}
		}
	}
	t.Fatal("no record of the dropped datagram")
}

// A second listener on the same group in the same namespace is refused
// with a message that says so, not one about capabilities.
func TestDialGroupTaken(t *testing.T) {
	netlab.RequireKernel(t)
	l := netlab.New(t, netlab.WithVictims(0))
	c, err := Dial(l.Device.NetNS, 3, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c2, err := Dial(l.Device.NetNS, 3, 0)
	if err == nil {
		c2.Close()
		t.Fatal("two listeners bound group 3")
	}
	var capErr *CapabilityError
	if errors.As(err, &capErr) || !strings.Contains(err.Error(), "already has a listener") {
		t.Errorf("got %v", err)
	}
	// Another namespace has its own groups.
	c3, err := Dial(l.Viewer.NetNS, 3, 0)
	if err != nil {
		t.Fatalf("group 3 in another namespace: %v", err)
	}
	c3.Close()
}

func TestDialBadNetNS(t *testing.T) {
	for name, want := range map[string]string{
		"../etc":              "want a name under",
		"devfence-no-such-ns": "does not exist",
	} {
		if _, err := Dial(name, 0, 0); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Dial(%q): %v, want an error containing %q", name, err, want)
		}
	}
}

// Without CAP_NET_ADMIN, binding fails with a CapabilityError naming it.
func TestDialWithoutCapNetAdmin(t *testing.T) {
	err := withoutCapNetAdmin(t, func() error {
		c, err := Dial("", 5, 0)
		if err == nil {
			c.Close()
		}
		return err
	})
	var capErr *CapabilityError
	if !errors.As(err, &capErr) || capErr.Cap != "CAP_NET_ADMIN" || !errors.Is(err, unix.EPERM) {
		t.Fatalf("got %v, want a CapabilityError for CAP_NET_ADMIN", err)
	}
	if !strings.Contains(err.Error(), "subscribing to NFLOG group 5 needs CAP_NET_ADMIN") {
		t.Errorf("message %q", err)
	}
}

// withoutCapNetAdmin runs fn on a thread without CAP_NET_ADMIN in its
// effective set. Capabilities are per thread, so it drops the capability
// from one locked thread only, which it never unlocks: the runtime destroys
// the thread with the goroutine instead of reusing it. Where labs can be
// built, the thread first moves into a lab namespace, so that nothing is
// tried in the test's own namespace even if dropping failed to take effect.
func withoutCapNetAdmin(t *testing.T, fn func() error) error {
	t.Helper()
	var nsPath string
	if netlab.KernelAvailable() == nil {
		nsPath = netlab.New(t, netlab.WithVictims(0)).Device.NSPath()
	}
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked, see above
		if nsPath != "" {
			f, err := os.Open(nsPath)
			if err != nil {
				done <- err
				return
			}
			defer f.Close()
			if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
				done <- fmt.Errorf("setns: %w", err)
				return
			}
		}
		hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
		var data [2]unix.CapUserData
		if err := unix.Capget(&hdr, &data[0]); err != nil {
			done <- fmt.Errorf("capget: %w", err)
			return
		}
		data[0].Effective &^= 1 << unix.CAP_NET_ADMIN
		if err := unix.Capset(&hdr, &data[0]); err != nil {
			done <- fmt.Errorf("capset: %w", err)
			return
		}
		done <- fn()
	}()
	return <-done
}
