package device

import (
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/devfence/devfence/rules"
	"github.com/devfence/devfence/rules/netlink"
)

// noKernel fails the test if a command reaches the kernel.
type noKernel struct{ t *testing.T }

func (k noKernel) Read(family, name string) (*rules.Table, error) {
	k.t.Errorf("read table %s %s while another command holds the lock", family, name)
	return nil, netlink.ErrNoTable
}

func (k noKernel) Apply(*rules.Transaction) (netlink.Stats, error) {
	k.t.Error("sent a transaction while another command holds the lock")
	return netlink.Stats{}, nil
}

func (noKernel) NetNS() string { return "x" }

// TestLockBusy: while one command holds a table's lock, the others wait
// a bounded time, then say which command holds it, having changed nothing.
func TestLockBusy(t *testing.T) {
	dir := t.TempDir()
	k := noKernel{t}
	defer func(w time.Duration) { lockWait = w }(lockWait)
	lockWait = 100 * time.Millisecond
	st, err := newStore(dir, Target{NetNS: "netns-x", Family: "inet", Name: "devfence"})
	if err != nil {
		t.Fatal(err)
	}
	held, err := st.acquire("apply", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer held.release()
	// A pending apply, so that confirm and rollback go as far as the lock.
	s := &state{Version: stateVersion, NetNS: "netns-x", Family: "inet", Name: "devfence",
		Pending: &pending{ID: "1", Kind: kindConfirm, Deadline: time.Now().Add(time.Minute), Before: &saved{Family: "inet", Name: "devfence"}}}
	if err := st.write(s); err != nil {
		t.Fatal(err)
	}
	want := &LockedError{PID: os.Getpid(), Command: "apply"}
	start := time.Now()
	for name, run := range map[string]func() error{
		"apply": func() error {
			_, err := Apply(k, &rules.Table{Family: "inet", Name: "devfence"}, Options{StateDir: dir, LockWait: 100 * time.Millisecond})
			return err
		},
		"rollback": func() error { _, err := Rollback(k, dir, "inet", "devfence", RollbackOptions{}); return err },
		"confirm":  func() error { return Confirm(dir, st.target) },
	} {
		var got *LockedError
		if err := run(); !errors.As(err, &got) {
			t.Errorf("%s: %v, want a LockedError", name, err)
			continue
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("%s (-want +got):\n%s", name, d)
		}
	}
	if el := time.Since(start); el > 3*time.Second {
		t.Errorf("gave up after %v", el)
	}
	if got, want := want.Error(), fmt.Sprintf("another devfence apply is running (pid %d)", os.Getpid()); got != want {
		t.Errorf("message %q, want %q", got, want)
	}
}
