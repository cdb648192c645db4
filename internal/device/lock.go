package device

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// lockWait is how long a command waits for another one working on the
// same table before it gives up (a variable for tests).
var lockWait = 10 * time.Second

// LockedError: another devfence command holds the target's lock.
type LockedError struct {
	PID     int
	Command string
}

func (e *LockedError) Error() string {
	if e.PID == 0 {
		return "another devfence command is running on this table"
	}
	return fmt.Sprintf("another devfence %s is running (pid %d)", e.Command, e.PID)
}

// lock is an flock on the target's lock file: every command that
// changes the table or its state holds it, so they run one at a time.
// The kernel drops it when the process dies, however it dies.
type lock struct{ f *os.File }

// acquire takes the lock, waiting up to wait; cmd and the pid are
// written in the file, for the message a waiter gives up with.
func (st *store) acquire(cmd string, wait time.Duration) (*lock, error) {
	if err := st.create(); err != nil {
		return nil, err
	}
	path := filepath.Join(st.dir, "lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return nil, fmt.Errorf("state lock: %w", err)
	}
	if err := trustedPath(path, false); err != nil {
		f.Close()
		return nil, err
	}
	for give := time.Now().Add(wait); ; time.Sleep(20 * time.Millisecond) {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, unix.EWOULDBLOCK) && !errors.Is(err, unix.EINTR) {
			f.Close()
			return nil, fmt.Errorf("state lock: %w", err)
		}
		if time.Now().After(give) {
			defer f.Close()
			return nil, holder(f)
		}
	}
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(fmt.Sprintf("%d %s\n", os.Getpid(), cmd)), 0)
	}
	// A state file written but never renamed by a process that died;
	// only a lock holder writes one, so it is nobody's now.
	if tmps, err := filepath.Glob(filepath.Join(st.dir, "."+stateName+".*")); err == nil {
		for _, t := range tmps {
			os.Remove(t)
		}
	}
	return &lock{f: f}, nil
}

func holder(f *os.File) error {
	b := make([]byte, 64)
	n, _ := f.ReadAt(b, 0)
	pid, cmd, _ := strings.Cut(strings.TrimSpace(string(b[:n])), " ")
	p, _ := strconv.Atoi(pid)
	return &LockedError{PID: p, Command: cmd}
}

// release is safe to call twice.
func (l *lock) release() {
	if l != nil && l.f != nil {
		l.f.Close()
		l.f = nil
	}
}
