package device

import (
	"cmp"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"
)

// startGuard starts the detached guard of a pending apply --confirm:
// argv (the devfence binary's hidden guard command, argv[0] a path) with
// the state dir, table and pending id. It runs in a session of its own, so
// the hangup of the shell that started apply does not reach it, with
// /dev/null for stdin, stdout and stderr: no terminal or pipes to lose.
// It returns the guard's pid. os.StartProcess rather than os/exec, which
// would add 0.03 MB to the device build for what these lines do.
func startGuard(argv []string, st *store, id string) (int, error) {
	args := append(argv[:len(argv):len(argv)], "--state-dir", st.root, "--table", st.target.Name, "--id", id)
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return 0, fmt.Errorf("start the confirmation guard: %w", err)
	}
	defer null.Close()
	p, err := os.StartProcess(argv[0], args, &os.ProcAttr{
		Dir: "/",
		// A test's crash point is for the command under test, not its guard.
		Env:   slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, EnvCrashAt+"=") }),
		Files: []*os.File{null, null, null},
		Sys:   &syscall.SysProcAttr{Setsid: true},
	})
	if err != nil {
		return 0, fmt.Errorf("start the confirmation guard: %w", err)
	}
	// Reap it when it ends while we still run; nobody waits after that.
	go p.Wait()
	return p.Pid, nil
}

// guardRetry is how long past the deadline the guard keeps trying to
// restore the previous table.
const guardRetry = time.Minute

// GuardOptions are the hidden guard command's.
type GuardOptions struct {
	StateDir string
	Family   string
	Name     string
	ID       string        // the pending apply to guard
	Poll     time.Duration // how often to look whether it was settled (default 200ms)
	Progress io.Writer
}

// Guard waits for the pending apply opt.ID to be settled and, if it is
// not by its deadline, restores the previous table. It ignores SIGHUP;
// SIGINT and SIGTERM (a shutdown) restore at once. It ends when the
// pending apply is settled, by anyone.
func Guard(k Kernel, opt GuardOptions) error {
	signal.Ignore(syscall.SIGHUP)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	st, err := storeOf(k, opt.StateDir, opt.Family, opt.Name)
	if err != nil {
		return err
	}
	tick := time.NewTicker(cmp.Or(opt.Poll, 200*time.Millisecond))
	defer tick.Stop()
	for {
		s, err := st.load()
		if err != nil {
			return err
		}
		p := s.Pending
		if p == nil || p.ID != opt.ID {
			return nil
		}
		why := ""
		select {
		case <-tick.C:
			if time.Now().After(p.Deadline) {
				why = outcomeExpired
			}
		case <-sigs:
			why = outcomeInterrupted
		}
		if why == "" {
			continue
		}
		// Retried on the next tick if it fails (a busy lock, a
		// transient kernel error), for a while: past that, the pending
		// state is left to rollback and the boot-time check.
		err = settlePending(k, st, opt.ID, why, time.Second, opt.Progress)
		if err != nil && time.Now().After(p.Deadline.Add(guardRetry)) {
			return fmt.Errorf("restore the previous table: %w", err)
		}
	}
}
