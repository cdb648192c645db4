package netlab

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"syscall"
	"time"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Cleanup.
//
// Close (registered with t.Cleanup by New) tears a lab down in this order:
//
//  1. close every sink the lab created (listeners, their connections and
//     goroutines);
//  2. SIGKILL the process group of every StartProcess process and reap it;
//  3. SIGKILL any other process still living in one of the lab's namespaces
//     (found by comparing /proc/<pid>/ns/net with the namespace inode), e.g.
//     a daemon a test started with Exec or a CLI run with --netns;
//  4. close the namespace handles and unmount/remove /var/run/netns/<name>.
//
// The kernel frees a namespace (and its veths, bridge, nftables tables) once
// nothing references it any more; connections returned by DialTCP are owned
// by the caller and should be closed by it.
//
// A "go test -timeout" panic (or SIGKILL) skips t.Cleanup, so every
// Start/New first calls RemoveStale, which deletes namespaces named
// dfl<pid>-... whose <pid> is no longer alive.

// staleRE matches the names this package creates: dfl<pid>-<seq>-<host>.
var staleRE = regexp.MustCompile(`^` + NamePrefix + `([0-9]+)-[0-9]+-[a-z0-9]+$`)

// Close tears the lab down (see above). It is idempotent and safe to call
// from any goroutine; it returns the joined errors of all steps.
func (l *Lab) Close() error {
	l.closeOnce.Do(func() { l.closeErr = l.close() })
	return l.closeErr
}

func (l *Lab) close() error {
	l.mu.Lock()
	l.closed = true
	closers := make([]func() error, 0, len(l.closers))
	for _, c := range l.closers {
		closers = append(closers, c)
	}
	procs := make([]*Proc, 0, len(l.procs))
	for p := range l.procs {
		procs = append(procs, p)
	}
	nsList := append([]*namedNS(nil), l.nsList...)
	l.mu.Unlock()

	var errs []error
	for _, c := range closers {
		if err := c(); err != nil {
			errs = append(errs, err)
		}
	}
	for _, p := range procs {
		if err := p.Stop(); err != nil {
			errs = append(errs, err)
		}
	}
	// Hosts first, switch last (reverse creation order).
	for i := len(nsList) - 1; i >= 0; i-- {
		n := nsList[i]
		if err := n.closeHandle(); err != nil {
			errs = append(errs, fmt.Errorf("netlab: kill processes in %s: %w", n.name, err))
		}
		if err := deleteNamedNS(n.name); err != nil {
			errs = append(errs, fmt.Errorf("netlab: delete namespace %s: %w", n.name, err))
		}
	}
	if len(errs) == 0 {
		l.logf("netlab: lab %s closed", l.Prefix)
	}
	return errors.Join(errs...)
}

var errLabClosed = errors.New("netlab: lab is closed")

func (l *Lab) track(p *Proc) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return errLabClosed
	}
	l.procs[p] = struct{}{}
	return nil
}

func (l *Lab) untrack(p *Proc) {
	l.mu.Lock()
	delete(l.procs, p)
	l.mu.Unlock()
}

func (l *Lab) addCloser(key any, fn func() error) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return errLabClosed
	}
	l.closers[key] = fn
	return nil
}

func (l *Lab) removeCloser(key any) {
	l.mu.Lock()
	delete(l.closers, key)
	l.mu.Unlock()
}

// killNSProcesses SIGKILLs every process (other than this one) whose network
// namespace is the one referred to by nsFd, and waits (bounded) for them to
// disappear. Only processes inside the lab's own namespaces can match.
func killNSProcesses(nsFd int) error {
	dev, ino, err := nsIdentity(nsFd)
	if err != nil {
		return err
	}
	pids, err := pidsInNS(dev, ino)
	if err != nil {
		return err
	}
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	if len(pids) == 0 {
		return nil
	}
	// Non-children cannot be waited for; poll until they are gone or
	// zombies (bounded).
	return Poll(2*time.Second, 10*time.Millisecond, func() (bool, error) {
		left, err := pidsInNS(dev, ino)
		return err == nil && len(left) == 0, nil
	})
}

func pidsInNS(dev, ino uint64) ([]int, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	self := os.Getpid()
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		var st unix.Stat_t
		if err := unix.Stat(fmt.Sprintf("/proc/%d/ns/net", pid), &st); err != nil {
			continue // exited, kernel thread or zombie
		}
		if uint64(st.Dev) == dev && uint64(st.Ino) == ino {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// RemoveStale deletes namespaces created by this package (named
// dfl<pid>-<seq>-<host>) whose creating process <pid> is no longer alive,
// killing any process still inside them first. Namespaces of live processes
// — including concurrently running test binaries — are never touched. It
// returns the names it removed.
func RemoveStale() ([]string, error) {
	ents, err := os.ReadDir(NetNSDir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	var removed []string
	var errs []error
	for _, e := range ents {
		name := e.Name()
		m := staleRE.FindStringSubmatch(name)
		if m == nil {
			continue
		}
		pid, err := strconv.Atoi(m[1])
		if err != nil || pid == os.Getpid() || pidAlive(pid) {
			continue
		}
		if h, err := netns.GetFromPath(filepath.Join(NetNSDir, name)); err == nil {
			if kerr := killNSProcesses(int(h)); kerr != nil {
				errs = append(errs, fmt.Errorf("kill processes in %s: %w", name, kerr))
			}
			h.Close()
		}
		if err := deleteNamedNS(name); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, name)
	}
	sort.Strings(removed)
	return removed, errors.Join(errs...)
}

// pidAlive reports whether a process with this pid exists (EPERM means it
// exists but belongs to someone else).
func pidAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
