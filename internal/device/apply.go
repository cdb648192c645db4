// Package device is the runner between the CLI and rules/netlink: it
// compares the live table with a compiled one, applies only when they
// differ, keeps what is needed to undo an apply (confirm and rollback),
// and reports the table's state.
package device

import (
	"cmp"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/devfence/devfence/rules"
	"github.com/devfence/devfence/rules/netlink"
)

// Kernel is what the runner needs of a netlink connection
// (*netlink.Conn), so tests can stand in for the kernel.
type Kernel interface {
	Read(family, name string) (*rules.Table, error)
	Apply(tx *rules.Transaction) (netlink.Stats, error)
	NetNS() string // the --netns name, "" for the caller's namespace
}

// Options tune Apply.
type Options struct {
	// Confirm, when positive, is how long the new table stays without
	// `devfence confirm` before the previous one is put back.
	Confirm time.Duration
	// StateDir keeps the previous table and the pending state;
	// "" is DefaultStateDir.
	StateDir string
	// Poll is how often Apply looks for the confirmation (default 100ms).
	Poll time.Duration
	// Profile names the profile in the pending state, for status.
	Profile string
	// ProfileSHA256 is the digest of the profile file's bytes, kept with
	// what was applied, for status.
	ProfileSHA256 string
	// Progress gets one line per step worth telling (stderr); nil is quiet.
	Progress io.Writer
	// Guard is the command line that starts a detached guard (the
	// devfence binary's hidden guard command), which restores the
	// previous table at the deadline even if this process is gone. nil:
	// only this process does.
	Guard []string
	// LockWait bounds the wait for another command on the same table
	// (default lockWait).
	LockWait time.Duration
}

// Result is what Apply did.
type Result struct {
	Changed   bool // a transaction was sent
	Stats     netlink.Stats
	Elapsed   time.Duration // of the transaction
	Confirmed bool          // with Confirm: `devfence confirm` came in time
	Plan      Plan          // what the transaction changed
}

var (
	// ErrNotConfirmed: the confirmation did not come in time and the
	// previous table was put back.
	ErrNotConfirmed = errors.New("not confirmed in time: the previous table is back in force")
	// ErrRolledBack: `devfence rollback` ran while Apply waited.
	ErrRolledBack = errors.New("rolled back by devfence rollback while waiting for confirmation")
	// ErrNothingPending: confirm found no apply waiting for it.
	ErrNothingPending = errors.New("no apply is waiting for confirmation")
	// ErrNothingSaved: rollback found no previous table to restore.
	ErrNothingSaved = errors.New("no previous table saved: nothing to roll back")
)

// PendingError is an earlier `apply --confirm` that was never settled.
type PendingError struct {
	PID      int
	Deadline time.Time
	Alive    bool
	Profile  string
}

func (e *PendingError) Error() string {
	if e.Alive {
		return fmt.Sprintf("another devfence apply (pid %d) is waiting for confirmation until %s; run `devfence confirm` or `devfence rollback` first",
			e.PID, e.Deadline.Local().Format(time.TimeOnly))
	}
	return fmt.Sprintf("an apply --confirm (pid %d, deadline %s) was interrupted before it was confirmed; run `devfence confirm` to keep the table in force or `devfence rollback` to restore the previous one",
		e.PID, e.Deadline.Local().Format(time.DateTime))
}

// target is the table compiled names, in k's namespace.
func target(k Kernel, family, name string) (Target, error) {
	ns, err := NSKey(k.NetNS())
	return Target{NetNS: ns, Family: family, Name: name}, err
}

// storeOf is the state store of table family/name in k's namespace.
func storeOf(k Kernel, stateDir, family, name string) (*store, error) {
	t, err := target(k, family, name)
	if err != nil {
		return nil, err
	}
	return newStore(stateDir, t)
}

// lockAndLoad takes st's lock for cmd (waiting up to wait, or lockWait)
// and reads the state under it.
func lockAndLoad(st *store, cmd string, wait time.Duration) (*lock, *state, error) {
	l, err := st.acquire(cmd, cmp.Or(wait, lockWait))
	if err != nil {
		return nil, nil, err
	}
	s, err := st.load()
	if err != nil {
		l.release()
		return nil, nil, err
	}
	return l, s, nil
}

// open takes st's lock and reads its state, settling an apply that
// crashed around its commit (recoverIntent).
func open(k Kernel, st *store, cmd string, wait time.Duration) (*lock, *state, error) {
	l, s, err := lockAndLoad(st, cmd, wait)
	if err != nil {
		return nil, nil, err
	}
	if err := recoverIntent(k, st, s); err != nil {
		l.release()
		return nil, nil, err
	}
	return l, s, nil
}

// recoverIntent finishes an apply that died between journaling its
// intent and committing: if the kernel has the new table, the apply is
// committed (the table before it becomes previous), else it is dropped.
// Only called under the lock, so the apply that wrote it is gone.
func recoverIntent(k Kernel, st *store, s *state) error {
	p := s.Pending
	if p == nil || p.Kind != kindApply {
		return nil
	}
	live, err := readLive(k, s.Family, s.Name)
	if err != nil {
		return err
	}
	if digest(live) == p.Next && live != nil {
		s.Previous, s.Applied = p.Before, p.applied()
	}
	s.Pending = nil
	return st.write(s)
}

// Apply puts compiled in force unless the live table already renders the
// same, in which case nothing is sent, so the datapath's state (consent,
// quotas) survives. Only compiled's table is named in the transaction.
//
// With opt.Confirm, Apply waits for Confirm; when the time is up, or a
// SIGHUP, SIGINT or SIGTERM comes, it restores the previous table (or
// removes the table if there was none) and returns ErrNotConfirmed. The
// detached guard (opt.Guard) does the same at the deadline should this
// process be gone.
func Apply(k Kernel, compiled *rules.Table, opt Options) (Result, error) {
	if opt.Confirm < 0 {
		return Result{}, fmt.Errorf("confirm %s: the time must be positive", opt.Confirm)
	}
	st, err := storeOf(k, opt.StateDir, compiled.Family, compiled.Name)
	if err != nil {
		return Result{}, err
	}
	l, s, err := open(k, st, "apply", opt.LockWait)
	if err != nil {
		return Result{}, err
	}
	defer l.release()
	if s.Pending != nil {
		return Result{}, pendingError(s.Pending)
	}
	live, err := readLive(k, compiled.Family, compiled.Name)
	if err != nil {
		return Result{}, err
	}
	if live != nil && live.String() == compiled.String() {
		return Result{}, nil
	}
	before, err := save(compiled.Family, compiled.Name, live)
	if err != nil {
		return Result{}, err
	}
	id, err := newID()
	if err != nil {
		return Result{}, err
	}
	p := &pending{ID: id, Kind: kindApply, PID: os.Getpid(), Profile: opt.Profile, ProfileSHA256: opt.ProfileSHA256,
		At: time.Now().UTC(), Next: digest(compiled), Before: before}
	var sigs chan os.Signal
	if opt.Confirm > 0 {
		p.Kind, p.Deadline = kindConfirm, time.Now().Add(opt.Confirm).UTC()
		// Caught from before the intent is written: a hangup while the
		// table goes to the kernel is answered once it is there.
		sigs = make(chan os.Signal, 1)
		signal.Notify(sigs, syscall.SIGHUP, syscall.SIGINT, syscall.SIGTERM)
		defer signal.Stop(sigs)
	}
	// The intent is on disk before the kernel sees the table: whatever
	// happens next, the next command can tell what to undo.
	s.Pending, s.Settled = p, nil
	if err := st.write(s); err != nil {
		return Result{}, err
	}
	crashPoint(CrashIntentWritten)
	if p.Kind == kindConfirm && opt.Guard != nil {
		// Started before the kernel has the table, so no moment goes
		// unguarded; it acts only at the deadline, and ends as soon as
		// it sees the intent dropped (the kernel refused the table).
		if p.Guard, err = startGuard(opt.Guard, st, id); err == nil {
			err = st.write(s)
		}
		if err != nil {
			return Result{}, errors.Join(err, drop(st, s))
		}
	}
	start := time.Now()
	stats, err := k.Apply(rules.Replace(compiled))
	res := Result{Changed: err == nil, Stats: stats, Elapsed: time.Since(start), Plan: PlanChange(live, compiled)}
	if err != nil {
		return Result{}, errors.Join(fmt.Errorf("apply table %s: %w", compiled.Ref(), err), drop(st, s))
	}
	crashPoint(CrashTableApplied)
	if p.Kind == kindApply {
		s.Previous, s.Pending, s.Applied = before, nil, p.applied()
		return res, st.write(s)
	}
	l.release() // confirm and rollback need it while we wait
	progress(opt.Progress, "applied %s; waiting %s for `devfence confirm` (pid %d, guard pid %d), then the previous table comes back",
		summary(stats, res.Elapsed), opt.Confirm, os.Getpid(), p.Guard)
	return res, waitConfirm(k, st, p, opt, sigs, &res)
}

// drop forgets an intent the kernel never took.
func drop(st *store, s *state) error {
	s.Pending = nil
	return st.write(s)
}

func readLive(k Kernel, family, name string) (*rules.Table, error) {
	live, err := k.Read(family, name)
	if errors.Is(err, netlink.ErrNoTable) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read table %s %s: %w", family, name, err)
	}
	return live, nil
}

// waitConfirm polls the state, bounded by the deadline, for confirm or
// rollback to settle the pending apply; at the deadline, or on a signal
// that ends a shell session, it restores the previous table itself.
func waitConfirm(k Kernel, st *store, p *pending, opt Options, sigs <-chan os.Signal, res *Result) error {
	tick := time.NewTicker(cmp.Or(opt.Poll, 100*time.Millisecond))
	defer tick.Stop()
	deadline := time.NewTimer(time.Until(p.Deadline))
	defer deadline.Stop()
	for {
		s, err := st.load()
		if err != nil {
			return err
		}
		if s.Pending == nil || s.Pending.ID != p.ID {
			return outcome(s, p.ID, res)
		}
		select {
		case <-tick.C:
			continue
		case <-deadline.C:
			err = settlePending(k, st, p.ID, outcomeExpired, opt.LockWait, opt.Progress)
		case sig := <-sigs:
			progress(opt.Progress, "%s: restoring the previous table", sig)
			err = settlePending(k, st, p.ID, outcomeInterrupted, opt.LockWait, opt.Progress)
		}
		if err != nil {
			return fmt.Errorf("restoring the previous table failed: %w", err)
		}
	}
}

// outcome reports how the pending apply id was settled.
func outcome(s *state, id string, res *Result) error {
	o := ""
	if s.Settled != nil && s.Settled.ID == id {
		o = s.Settled.Outcome
	}
	switch o {
	case outcomeConfirmed:
		res.Confirmed = true
		return nil
	case outcomeExpired:
		return ErrNotConfirmed
	case outcomeInterrupted:
		return fmt.Errorf("%w (interrupted)", ErrNotConfirmed)
	default:
		return ErrRolledBack
	}
}

// settlePending restores the table the pending apply id replaced and
// records why, unless someone settled it first. Rollback goes back one
// change at most: an undone apply leaves nothing further to roll back.
func settlePending(k Kernel, st *store, id, why string, wait time.Duration, progressTo io.Writer) error {
	l, s, err := lockAndLoad(st, "rollback", wait)
	if err != nil {
		return err
	}
	defer l.release()
	if s.Pending == nil || s.Pending.ID != id {
		return nil
	}
	return undoPending(k, st, s, why, progressTo)
}

func undoPending(k Kernel, st *store, s *state, why string, progressTo io.Writer) error {
	if err := restore(k, s.Pending.Before, progressTo); err != nil {
		return err // the pending state stays, so a later rollback can retry
	}
	crashPoint(CrashTableRestored)
	s.Settled = &settled{ID: s.Pending.ID, Outcome: why}
	s.Pending, s.Previous = nil, nil
	return st.write(s)
}

// Confirm keeps the table a waiting `apply --confirm` put in force; the
// table it replaced becomes what rollback restores. The guard sees the
// pending state gone and exits.
func Confirm(stateDir string, t Target) error {
	st, err := newStore(stateDir, t)
	if err != nil {
		return err
	}
	if s, err := st.load(); err != nil {
		return err
	} else if s.Pending == nil {
		return ErrNothingPending // without creating the state dir
	}
	l, s, err := lockAndLoad(st, "confirm", 0)
	if err != nil {
		return err
	}
	defer l.release()
	if s.Pending == nil || s.Pending.Kind != kindConfirm {
		// An apply intent is only seen here if its apply crashed;
		// confirming it is not ours to decide, the next apply recovers it.
		return ErrNothingPending
	}
	s.Settled = &settled{ID: s.Pending.ID, Outcome: outcomeConfirmed}
	s.Previous, s.Pending, s.Applied = s.Pending.Before, nil, s.Pending.applied()
	return st.write(s)
}

// applied is the record of p once the kernel has its table for good.
// A pending written before the record existed has no time: no record.
func (p *pending) applied() *applied {
	if p.At.IsZero() {
		return nil
	}
	return &applied{At: p.At, Profile: p.Profile, ProfileSHA256: p.ProfileSHA256, Table: p.Next}
}

// RollbackOptions tune Rollback.
type RollbackOptions struct {
	// IfPending: only undo a pending apply --confirm (the boot-time
	// check); with none, do nothing.
	IfPending bool
	Progress  io.Writer
}

// Rollback restores, at once, the table that was in force before the last
// apply: the one a pending `apply --confirm` replaced, or else the saved
// previous table. It removes the table if there was none before. It
// touches only the table family/name in k's namespace; a state file for
// anything else is refused. nil, nil: IfPending and nothing pending.
func Rollback(k Kernel, stateDir, family, name string, opt RollbackOptions) (*RollbackResult, error) {
	st, err := storeOf(k, stateDir, family, name)
	if err != nil {
		return nil, err
	}
	if s, err := st.load(); err != nil {
		return nil, err
	} else if s.Pending == nil && (opt.IfPending || s.Previous == nil) {
		// Decided without creating the state dir; rechecked under the lock.
		if opt.IfPending {
			return nil, nil
		}
		return nil, ErrNothingSaved
	}
	l, s, err := open(k, st, "rollback", 0)
	if err != nil {
		return nil, err
	}
	defer l.release()
	switch {
	case s.Pending != nil:
		b := s.Pending.Before
		if err := undoPending(k, st, s, outcomeRolledBack, opt.Progress); err != nil {
			return nil, err
		}
		return &RollbackResult{Table: b.ref(), Existed: b.Exists, SavedAt: b.Saved}, nil
	case opt.IfPending:
		return nil, nil
	case s.Previous == nil:
		return nil, ErrNothingSaved
	}
	b := s.Previous
	if err := restore(k, b, opt.Progress); err != nil {
		return nil, err
	}
	crashPoint(CrashTableRestored)
	// What is in force now was applied before the record it replaced.
	s.Previous, s.Applied = nil, nil
	if err := st.write(s); err != nil {
		return nil, err
	}
	return &RollbackResult{Table: b.ref(), Existed: b.Exists, SavedAt: b.Saved}, nil
}

// RollbackResult says what Rollback restored.
type RollbackResult struct {
	Table   string
	Existed bool // false: there was no table before, so it was removed
	SavedAt time.Time
}

// restore puts a saved table back, or removes the table if there was
// none. Rules holding statements read back raw (added by hand) cannot be
// encoded; they are left out and named on progress.
func restore(k Kernel, s *saved, progressTo io.Writer) error {
	t, err := s.table()
	if err != nil {
		return err
	}
	if t == nil {
		if _, err := k.Apply(rules.Remove(s.Family, s.Name)); err != nil {
			return fmt.Errorf("remove table %s: %w", s.ref(), err)
		}
		progress(progressTo, "removed table %s (there was none before)", s.ref())
		return nil
	}
	for _, ch := range t.Chains {
		kept := ch.Rules[:0]
		for _, r := range ch.Rules {
			if hasRaw(r) {
				progress(progressTo, "warning: not restoring rule in chain %s that devfence cannot encode: %s", ch.Name, r)
				continue
			}
			kept = append(kept, r)
		}
		ch.Rules = kept
	}
	if _, err := k.Apply(rules.Replace(t)); err != nil {
		return fmt.Errorf("restore table %s: %w", s.ref(), err)
	}
	progress(progressTo, "restored table %s as saved at %s", s.ref(), s.Saved.Local().Format(time.DateTime))
	return nil
}

func hasRaw(r *rules.Rule) bool {
	for _, s := range r.Stmts {
		if _, ok := s.(rules.Raw); ok {
			return true
		}
	}
	return false
}

func pendingError(p *pending) error {
	// A pid is only trusted up to shortly after the deadline: by then a
	// live waiter has settled the state, and after a reboot the pid may
	// belong to another process.
	waiting := (Alive(p.PID) || Alive(p.Guard)) && time.Now().Before(p.Deadline.Add(5*time.Second))
	return &PendingError{PID: p.PID, Deadline: p.Deadline, Alive: waiting, Profile: p.Profile}
}

// Alive reports whether a process with that pid runs (it may not be the
// same process after a reboot; the deadline tells those apart). A zombie
// has ended: a guard whose parent died is one until init reaps it.
func Alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		err := syscall.Kill(pid, 0) // no /proc
		return err == nil || errors.Is(err, syscall.EPERM)
	}
	_, rest, _ := strings.Cut(string(b), ") ")
	return !strings.HasPrefix(rest, "Z")
}

// newID reads the kernel's random pool directly: crypto/rand would do the
// same but link its FIPS DRBG and math/big into the device build (65 kB).
// Reads of up to 256 bytes are never short once the pool is initialised.
func newID() (string, error) {
	b := make([]byte, 8)
	if _, err := unix.Getrandom(b, 0); err != nil {
		return "", fmt.Errorf("getrandom: %w", err)
	}
	return hex.EncodeToString(b), nil
}

func progress(w io.Writer, format string, args ...any) {
	if w != nil {
		fmt.Fprintf(w, "devfence: "+format+"\n", args...)
	}
}

// summary is e.g. "3 sets (12 elements), 3 chains, 41 rules in 12ms".
func summary(s netlink.Stats, d time.Duration) string {
	parts := []string{fmt.Sprintf("%d sets", s.Sets)}
	if s.Elements > 0 {
		parts[0] += fmt.Sprintf(" (%d elements)", s.Elements)
	}
	parts = append(parts, fmt.Sprintf("%d chains", s.Chains), fmt.Sprintf("%d rules", s.Rules))
	return strings.Join(parts, ", ") + " in " + d.Round(time.Microsecond*100).String()
}

// Summary is the one-line account of an apply for the CLI.
func (r Result) Summary() string {
	if !r.Changed {
		return "no change: the live table already matches the profile (nothing sent)"
	}
	return "applied " + summary(r.Stats, r.Elapsed)
}
