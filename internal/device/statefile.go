package device

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/devfence/devfence/internal/sha256lite"
	"github.com/devfence/devfence/rules"
)

// DefaultStateDir keeps what rollback needs between commands.
const DefaultStateDir = "/var/lib/devfence"

// stateName is the one state file of a target: every transition of the
// state machine (docs/APPLY.md) replaces it whole, by rename, so a crash
// leaves either the state before a step or the state after it.
const (
	stateName    = "state.json"
	stateVersion = 1
)

// Kinds of pending change: an apply that is about to commit (its intent,
// journaled before the kernel sees the table) or an apply --confirm
// waiting for confirmation.
const (
	kindApply   = "apply"
	kindConfirm = "confirm"
)

// Outcomes of a pending apply --confirm, kept in the state file so the
// waiting apply can tell what became of it.
const (
	outcomeConfirmed   = "confirmed"
	outcomeRolledBack  = "rolledback"
	outcomeExpired     = "expired"
	outcomeInterrupted = "interrupted"
)

// Target is the one table a state entry belongs to: devfence touches
// this table and no other, whatever a state file names.
type Target struct {
	NetNS  string // the namespace key (nsKey), not a path
	Family string
	Name   string
}

func (t Target) ref() string { return t.Family + " " + t.Name }

func (t Target) String() string { return t.ref() + " in " + t.NetNS }

// state is the content of state.json.
type state struct {
	Version  int      `json:"version"`
	NetNS    string   `json:"netns"`
	Family   string   `json:"family"`
	Name     string   `json:"name"`
	Previous *saved   `json:"previous,omitempty"` // what rollback restores when nothing is pending
	Pending  *pending `json:"pending,omitempty"`
	Settled  *settled `json:"settled,omitempty"` // how the last pending change ended
	// Applied is what the last committed apply put in force, for status;
	// status believes it only while the live table's digest is Table.
	Applied *applied `json:"applied,omitempty"`
}

// applied records an apply that committed (or was confirmed).
type applied struct {
	At            time.Time `json:"at"`
	Profile       string    `json:"profile,omitempty"`
	ProfileSHA256 string    `json:"profile_sha256,omitempty"` // of the profile file's bytes
	Table         string    `json:"table"`                    // digest of the table put in force
}

func (a *applied) check() error {
	switch {
	case a.At.IsZero():
		return errors.New("applied: no time")
	case !isDigest(a.Table):
		return fmt.Errorf("applied: table digest %q is not a SHA-256", a.Table)
	case a.ProfileSHA256 != "" && !isDigest(a.ProfileSHA256):
		return fmt.Errorf("applied: profile digest %q is not a SHA-256", a.ProfileSHA256)
	}
	return nil
}

// isDigest: 64 lowercase hex digits, as digest writes.
func isDigest(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// pending is a change the kernel may already have: the table before it,
// and how to tell whether the kernel took it (Next).
type pending struct {
	ID       string    `json:"id"`
	Kind     string    `json:"kind"`
	PID      int       `json:"pid"`
	Guard    int       `json:"guard,omitempty"` // pid of the detached guard
	Deadline time.Time `json:"deadline,omitzero"`
	Profile  string    `json:"profile,omitempty"`
	// ProfileSHA256 and At become the applied record once committed.
	ProfileSHA256 string    `json:"profile_sha256,omitempty"`
	At            time.Time `json:"at,omitzero"`
	Next          string    `json:"next"` // digest of the new table's rendering
	Before        *saved    `json:"before"`
}

type settled struct {
	ID      string `json:"id"`
	Outcome string `json:"outcome"`
}

// digest is the SHA-256 of a table's rendering: crash recovery uses it to
// tell whether the kernel holds the table an interrupted apply was sending,
// and status whether the table in force is the one applied.
func digest(t *rules.Table) string {
	if t == nil {
		return ""
	}
	return sha256lite.Hex([]byte(t.String()))
}

// parseState reads a state file's content and checks it belongs to want
// and is whole: a crafted or damaged file is an error, never a panic or
// a change to another table.
func parseState(data []byte, want Target) (*state, error) {
	var s *state
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, err
	}
	if s == nil {
		return nil, errors.New("empty state (null)")
	}
	if s.Version != stateVersion {
		return nil, fmt.Errorf("version %d, want %d", s.Version, stateVersion)
	}
	got := Target{NetNS: s.NetNS, Family: s.Family, Name: s.Name}
	if got != want {
		return nil, fmt.Errorf("it belongs to table %s, not %s: refusing to use it", got, want)
	}
	if s.Previous != nil {
		if err := s.Previous.check(want); err != nil {
			return nil, fmt.Errorf("previous: %w", err)
		}
	}
	if p := s.Pending; p != nil {
		switch {
		case p.ID == "":
			return nil, errors.New("pending: no id")
		case p.Kind != kindApply && p.Kind != kindConfirm:
			return nil, fmt.Errorf("pending: kind %q, want %q or %q", p.Kind, kindApply, kindConfirm)
		case p.Kind == kindConfirm && p.Deadline.IsZero():
			return nil, errors.New("pending: no deadline")
		case p.Before == nil:
			return nil, errors.New("pending: no saved table")
		}
		if err := p.Before.check(want); err != nil {
			return nil, fmt.Errorf("pending: %w", err)
		}
	}
	if s.Settled != nil && s.Settled.ID == "" {
		return nil, errors.New("settled: no id")
	}
	if s.Applied != nil {
		if err := s.Applied.check(); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// check says whether a saved table is whole and is want's.
func (s *saved) check(want Target) error {
	if s.Family != want.Family || s.Name != want.Name {
		return fmt.Errorf("saved table is %s %s, not %s: refusing to touch it", s.Family, s.Name, want.ref())
	}
	if _, err := s.table(); err != nil {
		return err
	}
	return nil
}

// store is a target's directory under the state dir:
// ROOT/NSKEY/FAMILY-NAME/ holding state.json and the lock.
type store struct {
	root, dir string
	target    Target
}

func newStore(root string, t Target) (*store, error) {
	root, err := filepath.Abs(cmp.Or(root, DefaultStateDir)) // the guard runs in /
	if err != nil {
		return nil, fmt.Errorf("state dir: %w", err)
	}
	for _, part := range []string{t.NetNS, t.Family, t.Name} {
		if part == "" || strings.ContainsAny(part, "/\x00") || part == "." || part == ".." {
			return nil, fmt.Errorf("target %s: not usable as a state dir name", t)
		}
	}
	return &store{root: root, dir: filepath.Join(root, t.NetNS, t.Family+"-"+t.Name), target: t}, nil
}

// create makes the store's directories (0700) and checks each is safe.
func (st *store) create() error {
	if err := os.MkdirAll(st.dir, 0o700); err != nil {
		return fmt.Errorf("state dir: %w", err)
	}
	return st.trusted()
}

// trusted refuses a state dir someone else could have planted or
// changed, the way ssh treats its files: each level from the root down
// must be a real directory (no symlink), owned by us, not writable by
// group or others.
func (st *store) trusted() error {
	rel, _ := filepath.Rel(st.root, st.dir)
	p := st.root
	for i, part := range append([]string{""}, strings.Split(rel, string(filepath.Separator))...) {
		if i > 0 {
			p = filepath.Join(p, part)
		}
		if err := trustedPath(p, true); err != nil {
			return err
		}
	}
	return nil
}

func trustedPath(p string, dir bool) error {
	fi, err := os.Lstat(p)
	if err != nil {
		return fmt.Errorf("state dir: %w", err)
	}
	switch {
	case fi.Mode()&os.ModeSymlink != 0:
		return fmt.Errorf("state dir: %s is a symlink: refusing to use it", p)
	case dir && !fi.IsDir(), !dir && !fi.Mode().IsRegular():
		return fmt.Errorf("state dir: %s is not a regular %s: refusing to use it", p, map[bool]string{true: "directory", false: "file"}[dir])
	case fi.Mode().Perm()&0o022 != 0:
		return fmt.Errorf("state dir: %s is writable by group or others (mode %#o): refusing to use it", p, fi.Mode().Perm())
	}
	if sys, ok := fi.Sys().(*syscall.Stat_t); ok && int(sys.Uid) != os.Geteuid() {
		return fmt.Errorf("state dir: %s is owned by uid %d, not %d: refusing to use it", p, sys.Uid, os.Geteuid())
	}
	return nil
}

// load reads the state; a missing file or directory is the empty state.
func (st *store) load() (*state, error) {
	empty := &state{Version: stateVersion, NetNS: st.target.NetNS, Family: st.target.Family, Name: st.target.Name}
	if _, err := os.Lstat(st.root); errors.Is(err, os.ErrNotExist) {
		return empty, nil
	}
	if err := st.trusted(); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return empty, nil
		}
		return nil, err
	}
	path := filepath.Join(st.dir, stateName)
	if err := trustedPath(path, false); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return empty, nil
		}
		return nil, err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("state: %w", err)
	}
	s, err := parseState(data, st.target)
	if err != nil {
		return nil, fmt.Errorf("state file %s: %w", path, err)
	}
	return s, nil
}

// write replaces the state durably: new file, fsync, rename, fsync of
// the directory. The pending state must survive a power cut, or nothing
// could roll the table back after it.
func (st *store) write(s *state) error {
	data, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("state: %w", err)
	}
	tmp, err := os.CreateTemp(st.dir, "."+stateName+".*")
	if err != nil {
		return fmt.Errorf("state: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(append(data, '\n'))
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("state: %w", err)
	}
	crashPoint("state-temp-written")
	if err := os.Rename(tmp.Name(), filepath.Join(st.dir, stateName)); err != nil {
		return fmt.Errorf("state: %w", err)
	}
	d, err := os.Open(st.dir)
	if err != nil {
		return fmt.Errorf("state: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("state: %w", err)
	}
	return nil
}
