package nflog

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

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
// name runs fn where it is, on the caller's goroutine.
//
// Namespace membership is per thread: fn runs on a fresh goroutine locked to
// its OS thread, which enters the namespace and is moved back to its
// original namespace before it is unlocked. If moving back fails, the
// goroutine ends still locked, and the Go runtime then destroys the thread
// instead of reusing a thread in the wrong namespace.
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

	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			done <- fmt.Errorf("current network namespace: %w", err)
			return
		}
		defer orig.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			// setns failed, so the thread is still where it was.
			runtime.UnlockOSThread()
			switch {
			case errors.Is(err, unix.EPERM):
				err = &CapabilityError{Cap: "CAP_SYS_ADMIN", Op: "entering network namespace " + name, Err: err}
			case errors.Is(err, unix.EINVAL):
				err = fmt.Errorf("%s is not a network namespace: %w", path, err)
			default:
				err = fmt.Errorf("entering network namespace %s: %w", name, err)
			}
			done <- err
			return
		}
		ferr := fn()
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
			done <- errors.Join(ferr, fmt.Errorf("restoring the original network namespace (thread discarded): %w", err))
			return // still locked: the runtime destroys the thread
		}
		runtime.UnlockOSThread()
		done <- ferr
	}()
	return <-done
}
