// Package nsthread runs code on an OS thread in another network namespace.
//
// Namespace membership belongs to a thread, not to a goroutine, so entering
// one safely takes a fixed discipline, kept here once: a fresh goroutine
// locked to its thread remembers the thread's namespace, runs the work (which
// may setns or unshare), and moves the thread back before unlocking it. If
// moving back fails the goroutine ends still locked, and the Go runtime then
// destroys the thread instead of handing a thread in the wrong namespace to
// unrelated goroutines. Sockets opened inside stay in the namespace they were
// opened in and may be used from any goroutine afterwards.
package nsthread

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"

	"golang.org/x/sys/unix"
)

// EnterError is a failure to enter the namespace, as opposed to an error of
// the work done inside it; it wraps the errno (EPERM without CAP_SYS_ADMIN).
type EnterError struct{ Err error }

func (e *EnterError) Error() string { return "enter network namespace: " + e.Err.Error() }
func (e *EnterError) Unwrap() error { return e.Err }

// Locked runs fn on a fresh locked thread and returns that thread to the
// network namespace it started in. fn may move the thread (setns, unshare);
// goroutines fn starts do not run on it. A panic in fn is raised again on the
// caller's goroutine once the thread is restored.
func Locked(fn func() error) error {
	type result struct {
		err   error
		panic any
		stack []byte
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			ch <- result{err: fmt.Errorf("current network namespace: %w", err)}
			return
		}
		defer orig.Close()
		var r result
		func() {
			defer func() {
				if p := recover(); p != nil {
					r.panic, r.stack = p, debug.Stack()
				}
			}()
			r.err = fn()
		}()
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
			r.err = errors.Join(r.err, fmt.Errorf("restore the thread's network namespace (thread discarded): %w", err))
			ch <- r
			return // still locked: the runtime destroys the thread
		}
		runtime.UnlockOSThread()
		ch <- r
	}()
	r := <-ch
	if r.panic != nil {
		panic(fmt.Sprintf("%v\n(in another network namespace)\n%s", r.panic, r.stack))
	}
	return r.err
}

// Do runs fn inside the network namespace open as fd (a file under
// /var/run/netns, or /proc/PID/ns/net).
func Do(fd int, fn func() error) error {
	return Locked(func() error {
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			return &EnterError{Err: err}
		}
		return fn()
	})
}
