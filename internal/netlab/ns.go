package netlab

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// NetNSDir is where named namespaces are bind-mounted. It is the directory
// github.com/vishvananda/netns uses; on current distributions /var/run is a
// symlink to /run, so this is also iproute2's /var/run/netns.
const NetNSDir = "/run/netns"

// doInNS runs fn on a dedicated, locked OS thread that has entered target.
//
// Namespace membership is per thread, so the pattern is:
//
//  1. start a fresh goroutine and LockOSThread it;
//  2. remember the thread's ORIGINAL namespace (netns.Get);
//  3. setns(target), run fn, setns(original);
//  4. UnlockOSThread only if restoring succeeded. If it failed, the
//     goroutine exits still locked, which makes the Go runtime destroy the
//     thread instead of handing a thread in the wrong namespace to
//     unrelated goroutines.
//
// Running on a fresh goroutine (rather than the caller's) means a failure in
// step 4 never leaves the caller's goroutine pinned. A panic in fn is
// captured and re-raised on the caller's goroutine after the thread has been
// restored. fn must not call runtime.UnlockOSThread, and goroutines started
// by fn do NOT run inside the namespace.
func doInNS(target netns.NsHandle, fn func() error) error {
	type result struct {
		err      error
		panicked bool
		panicVal any
		stack    []byte
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			ch <- result{err: fmt.Errorf("netlab: get current namespace: %w", err)}
			return
		}
		defer orig.Close()
		if err := netns.Set(target); err != nil {
			// setns failed, so the thread is still in orig: safe to unlock.
			runtime.UnlockOSThread()
			ch <- result{err: fmt.Errorf("netlab: enter namespace: %w", err)}
			return
		}
		var r result
		func() {
			defer func() {
				if p := recover(); p != nil {
					r.panicked, r.panicVal, r.stack = true, p, debug.Stack()
				}
			}()
			r.err = fn()
		}()
		if err := netns.Set(orig); err != nil {
			// Leave the thread locked: the runtime terminates it when this
			// goroutine returns.
			r.err = errors.Join(r.err, fmt.Errorf("netlab: restore original namespace (thread discarded): %w", err))
			ch <- r
			return
		}
		runtime.UnlockOSThread()
		ch <- r
	}()
	r := <-ch
	if r.panicked {
		panic(fmt.Sprintf("netlab: panic inside namespace: %v\n%s", r.panicVal, r.stack))
	}
	return r.err
}

// createNamedNS creates /var/run/netns/<name> holding a new network
// namespace and returns an open handle to it. netns.NewNamed unshares the
// calling thread into the new namespace, so it runs on a locked thread that
// is moved back to its original namespace afterwards (same discipline as
// doInNS).
func createNamedNS(name string) (netns.NsHandle, error) {
	if err := validNSName(name); err != nil {
		return netns.None(), err
	}
	type result struct {
		h   netns.NsHandle
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			ch <- result{netns.None(), fmt.Errorf("get current namespace: %w", err)}
			return
		}
		defer orig.Close()
		h, err := netns.NewNamed(name)
		if err != nil {
			// NewNamed may have left an empty mount-point file behind.
			_ = deleteNamedNS(name)
		}
		if rerr := netns.Set(orig); rerr != nil {
			if h.IsOpen() {
				h.Close()
				_ = deleteNamedNS(name)
			}
			ch <- result{netns.None(), errors.Join(err, fmt.Errorf("restore original namespace (thread discarded): %w", rerr))}
			return // exit locked: thread is destroyed
		}
		runtime.UnlockOSThread()
		ch <- result{h, err}
	}()
	r := <-ch
	return r.h, r.err
}

// deleteNamedNS unmounts and removes /var/run/netns/<name>. Missing files
// and non-mount-points are tolerated so it can clean half-created entries.
func deleteNamedNS(name string) error {
	if err := validNSName(name); err != nil {
		return err
	}
	p := filepath.Join(NetNSDir, name)
	if err := unix.Unmount(p, unix.MNT_DETACH); err != nil &&
		!errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unmount %s: %w", p, err)
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove %s: %w", p, err)
	}
	return nil
}

func validNSName(name string) error {
	if name == "" || name == "." || name == ".." || filepath.Base(name) != name {
		return fmt.Errorf("netlab: invalid namespace name %q", name)
	}
	return nil
}

// nsIdentity returns the (device, inode) pair identifying a namespace.
func nsIdentity(fd int) (uint64, uint64, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return 0, 0, err
	}
	return st.Dev, st.Ino, nil
}

func prefixToIPNet(p netip.Prefix) *net.IPNet {
	bits := 32
	if p.Addr().Is6() {
		bits = 128
	}
	return &net.IPNet{IP: net.IP(p.Addr().AsSlice()), Mask: net.CIDRMask(p.Bits(), bits)}
}
