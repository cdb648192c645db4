package netlab

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"

	"github.com/devfence/devfence/internal/nsthread"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// NetNSDir is where named namespaces are bind-mounted. It is the directory
// github.com/vishvananda/netns uses; on current distributions /var/run is a
// symlink to /run, so this is also iproute2's /var/run/netns.
const NetNSDir = "/run/netns"

// doInNS runs fn on a dedicated, locked OS thread that has entered target
// and is moved back afterwards (internal/nsthread). A panic in fn is raised
// again on the caller's goroutine. Goroutines started by fn do NOT run
// inside the namespace.
func doInNS(target netns.NsHandle, fn func() error) error {
	err := nsthread.Do(int(target), fn)
	var enter *nsthread.EnterError
	if errors.As(err, &enter) {
		return fmt.Errorf("netlab: enter namespace: %w", enter.Err)
	}
	return err
}

// createNamedNS creates /var/run/netns/<name> holding a new network
// namespace and returns an open handle to it. netns.NewNamed unshares the
// calling thread into the new namespace, so it runs on a locked thread that
// nsthread moves back afterwards.
func createNamedNS(name string) (netns.NsHandle, error) {
	if err := validNSName(name); err != nil {
		return netns.None(), err
	}
	h := netns.None()
	err := nsthread.Locked(func() error {
		var err error
		h, err = netns.NewNamed(name)
		return err
	})
	if err != nil {
		// NewNamed may have left an empty mount-point file behind, and a
		// failed restore leaves a namespace nobody will use.
		if h.IsOpen() {
			h.Close()
		}
		_ = deleteNamedNS(name)
		return netns.None(), err
	}
	return h, nil
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
	return uint64(st.Dev), uint64(st.Ino), nil // Dev and Ino are uint32 on some GOARCHes
}

func prefixToIPNet(p netip.Prefix) *net.IPNet {
	bits := 32
	if p.Addr().Is6() {
		bits = 128
	}
	return &net.IPNet{IP: net.IP(p.Addr().AsSlice()), Mask: net.CIDRMask(p.Bits(), bits)}
}
