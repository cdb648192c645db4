package nflog

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/devfence/devfence/internal/nsthread"

	"golang.org/x/sys/unix"
)

// NetNSDir is where named network namespaces live (iproute2's `ip netns`).
const NetNSDir = "/var/run/netns"

// CapabilityError says which capability an operation lacked. Its message
// names the capability, so the CLI can print it as is.
type CapabilityError struct {
	Cap string // "CAP_NET_ADMIN"
	Op  string // what needed it
	Err error
}

// Error names the operation and the capability; the kernel's EPERM adds
// nothing to that, so it is left to Unwrap.
func (e *CapabilityError) Error() string {
	return fmt.Sprintf("%s needs %s (run as root or grant the capability)", e.Op, e.Cap)
}

func (e *CapabilityError) Unwrap() error { return e.Err }

// inNetNS runs fn with the calling thread's network namespace set to the
// named one, so sockets fn creates belong to that namespace (a socket keeps
// the namespace it was created in, whichever thread uses it later). An empty
// name runs fn where it is, on the caller's goroutine; otherwise fn runs on
// a thread in the namespace (internal/nsthread).
func inNetNS(name string, fn func() error) error {
	if name == "" {
		return fn()
	}
	if name == "." || name == ".." || filepath.Base(name) != name {
		return fmt.Errorf("network namespace name %q: want a name under %s", name, NetNSDir)
	}
	path := filepath.Join(NetNSDir, name)
	target, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("network namespace %q does not exist (no %s; see `ip netns list`)", name, path)
		}
		return fmt.Errorf("network namespace %q: %w", name, err)
	}
	defer target.Close()

	err = nsthread.Do(int(target.Fd()), fn)
	var enter *nsthread.EnterError
	switch {
	case !errors.As(err, &enter):
		return err
	case errors.Is(err, unix.EPERM):
		return &CapabilityError{Cap: "CAP_SYS_ADMIN", Op: "entering network namespace " + name, Err: enter.Err}
	case errors.Is(err, unix.EINVAL):
		return fmt.Errorf("%s is not a network namespace: %w", path, enter.Err)
	default:
		return fmt.Errorf("entering network namespace %s: %w", name, enter.Err)
	}
}
