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
	"path/filepath"
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
}

// Options tune Apply.
type Options struct {
	// Confirm, when positive, is how long the new table stays without
	// `devfence confirm` before Apply puts the previous one back.
	Confirm time.Duration
	// StateDir keeps the previous table and the pending state;
	// "" is DefaultStateDir.
	StateDir string
	// Poll is how often Apply looks for the confirmation (default 100ms).
	Poll time.Duration
	// Profile names the profile in the pending state, for status.
	Profile string
	// Progress gets one line per step worth telling (stderr); nil is quiet.
	Progress io.Writer
}

// Result is what Apply did.
type Result struct {
	Changed   bool // a transaction was sent
	Stats     netlink.Stats
	Elapsed   time.Duration // of the transaction
	Confirmed bool          // with Confirm: `devfence confirm` came in time
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

// Apply puts compiled in force unless the live table already renders the
// same, in which case nothing is sent, so the datapath's state (consent,
// quotas) survives. Only compiled's table is named in the transaction.
//
// With opt.Confirm, the previous table is saved first and Apply waits for
// Confirm; when the time is up it restores the previous table (or removes
// the table if there was none) and returns ErrNotConfirmed.
func Apply(k Kernel, compiled *rules.Table, opt Options) (Result, error) {
	dir, err := stateDir(opt.StateDir)
	if err != nil {
		return Result{}, err
	}
	if p, err := readState(filepath.Join(dir, pendingFile)); err == nil {
		return Result{}, pendingError(p)
	} else if !errors.Is(err, os.ErrNotExist) {
		return Result{}, err
	}
	live, err := readLive(k, compiled.Family, compiled.Name)
	if err != nil {
		return Result{}, err
	}
	if live != nil && live.String() == compiled.String() {
		return Result{}, nil
	}
	prev, err := save(compiled.Family, compiled.Name, live)
	if err != nil {
		return Result{}, err
	}
	// Without --confirm the previous table becomes previous.json once the
	// kernel took the new one. With --confirm it waits in pending.json,
	// written before anything changes, and becomes previous.json only when
	// confirmed: an unconfirmed apply leaves rollback's target as it was.
	next := previousFile + ".new"
	var pend *saved
	if opt.Confirm > 0 {
		id, err := newID()
		if err != nil {
			return Result{}, err
		}
		p := *prev
		p.Pend = &pendingInfo{ID: id, PID: os.Getpid(), Deadline: time.Now().Add(opt.Confirm).UTC(), Profile: opt.Profile}
		pend = &p
		next = pendingFile
	}
	if err := writeState(dir, next, cmp.Or(pend, prev)); err != nil {
		return Result{}, err
	}
	start := time.Now()
	stats, err := k.Apply(rules.Replace(compiled))
	res := Result{Changed: err == nil, Stats: stats, Elapsed: time.Since(start)}
	if err != nil {
		os.Remove(filepath.Join(dir, next))
		return Result{}, fmt.Errorf("apply table %s: %w", compiled.Ref(), err)
	}
	if pend == nil {
		if err := os.Rename(filepath.Join(dir, next), filepath.Join(dir, previousFile)); err != nil {
			return res, fmt.Errorf("state: %w", err)
		}
		return res, nil
	}
	progress(opt.Progress, "applied %s; waiting %s for `devfence confirm` (pid %d), then the previous table comes back",
		summary(stats, res.Elapsed), opt.Confirm, os.Getpid())
	return res, waitConfirm(k, dir, pend, opt, &res)
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

// waitConfirm polls, bounded by the deadline, for the pending file to be
// claimed by confirm or rollback; at the deadline it claims it itself and
// restores the previous table.
func waitConfirm(k Kernel, dir string, pend *saved, opt Options, res *Result) error {
	poll := opt.Poll
	if poll <= 0 {
		poll = 100 * time.Millisecond
	}
	id := pend.Pend.ID
	for {
		switch outcome := claimedOutcome(dir, id); outcome {
		case outcomeConfirmed:
			os.Remove(filepath.Join(dir, id+"."+outcome))
			res.Confirmed = true
			return nil // confirm has made the old table previous.json
		case outcomeRolledBack:
			os.Remove(filepath.Join(dir, id+"."+outcome))
			return ErrRolledBack
		}
		left := time.Until(pend.Pend.Deadline)
		if left > 0 {
			time.Sleep(min(poll, left))
			continue
		}
		claimed := filepath.Join(dir, id+"."+outcomeExpired)
		if err := os.Rename(filepath.Join(dir, pendingFile), claimed); err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue // confirm or rollback won the race; read its outcome
			}
			return fmt.Errorf("state: %w", err)
		}
		defer os.Remove(claimed)
		if err := restore(k, pend, opt.Progress); err != nil {
			return fmt.Errorf("not confirmed within %s, and restoring the previous table failed: %w", opt.Confirm, err)
		}
		return fmt.Errorf("%w (no confirmation within %s)", ErrNotConfirmed, opt.Confirm)
	}
}

// claimedOutcome reports how the pending apply id was settled, if it was.
func claimedOutcome(dir, id string) string {
	for _, o := range []string{outcomeConfirmed, outcomeRolledBack} {
		if _, err := os.Stat(filepath.Join(dir, id+"."+o)); err == nil {
			return o
		}
	}
	return ""
}

// Confirm keeps the table a waiting `apply --confirm` put in force.
func Confirm(stateDir string) error {
	dir, err := stateDirIfExists(stateDir)
	if err != nil {
		return err
	}
	p, err := readState(filepath.Join(dir, pendingFile))
	if errors.Is(err, os.ErrNotExist) {
		return ErrNothingPending
	}
	if err != nil {
		return err
	}
	claimed := filepath.Join(dir, p.Pend.ID+"."+outcomeConfirmed)
	if err := os.Rename(filepath.Join(dir, pendingFile), claimed); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return ErrNothingPending // settled a moment ago
		}
		return fmt.Errorf("state: %w", err)
	}
	if !alive(p.Pend.PID) {
		defer os.Remove(claimed) // nobody waits for the outcome
	}
	// The table the confirmed apply replaced is now what rollback restores.
	prev := *p
	prev.Pend = nil
	return writeState(dir, previousFile, &prev)
}

// Rollback restores, at once, the table that was in force before the last
// apply: the one a pending `apply --confirm` replaced, or else the saved
// previous table. It removes the table if there was none before.
func Rollback(k Kernel, stateDir string, progressTo io.Writer) (*RollbackResult, error) {
	dir, err := stateDirIfExists(stateDir)
	if err != nil {
		return nil, err
	}
	s, err := readState(filepath.Join(dir, pendingFile))
	switch {
	case err == nil:
		claimed := filepath.Join(dir, s.Pend.ID+"."+outcomeRolledBack)
		if err := os.Rename(filepath.Join(dir, pendingFile), claimed); err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return Rollback(k, stateDir, progressTo) // settled a moment ago
			}
			return nil, fmt.Errorf("state: %w", err)
		}
		if !alive(s.Pend.PID) {
			defer os.Remove(claimed)
		}
	case errors.Is(err, os.ErrNotExist):
		if s, err = readState(filepath.Join(dir, previousFile)); errors.Is(err, os.ErrNotExist) {
			return nil, ErrNothingSaved
		} else if err != nil {
			return nil, err
		}
	default:
		return nil, err
	}
	if err := restore(k, s, progressTo); err != nil {
		return nil, err
	}
	if s.Pend == nil {
		os.Remove(filepath.Join(dir, previousFile)) // restored: nothing further back is kept
	}
	return &RollbackResult{Table: s.ref(), Existed: s.Exists, SavedAt: s.Saved}, nil
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

// stateDirIfExists is the state dir for commands that only read it.
func stateDirIfExists(dir string) (string, error) {
	if dir == "" {
		dir = DefaultStateDir
	}
	if _, err := os.Stat(dir); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return dir, nil // the state files are then missing too
		}
		return "", fmt.Errorf("state dir: %w", err)
	}
	return dir, nil
}

func pendingError(s *saved) error {
	if s.Pend == nil {
		return fmt.Errorf("state file %s has no pending apply", pendingFile)
	}
	// A pid is only trusted up to shortly after the deadline: by then a
	// live waiter has settled the state, and after a reboot the pid may
	// belong to another process.
	waiting := alive(s.Pend.PID) && time.Now().Before(s.Pend.Deadline.Add(5*time.Second))
	return &PendingError{PID: s.Pend.PID, Deadline: s.Pend.Deadline, Alive: waiting, Profile: s.Pend.Profile}
}

// alive reports whether a process with that pid exists (it may not be the
// same process after a reboot; the deadline tells those apart).
func alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
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
