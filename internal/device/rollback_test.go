package device

import (
	"errors"
	"testing"
	"time"

	"github.com/devfence/devfence/rules"
	"github.com/devfence/devfence/rules/netlink"
)

// refusingKernel has no table and refuses every transaction while
// refuse is set; it counts what it took.
type refusingKernel struct {
	refuse bool
	took   int
}

func (k *refusingKernel) Read(string, string) (*rules.Table, error) { return nil, netlink.ErrNoTable }

func (k *refusingKernel) Apply(*rules.Transaction) (netlink.Stats, error) {
	if k.refuse {
		return netlink.Stats{}, errors.New("operation not supported")
	}
	k.took++
	return netlink.Stats{}, nil
}

func (*refusingKernel) NetNS() string { return "x" }

// TestFailedRollbackKeepsState: a rollback the kernel refuses leaves the
// pending apply in the state, so the next rollback can do it; only a
// rollback that restored consumes it.
func TestFailedRollbackKeepsState(t *testing.T) {
	dir := t.TempDir()
	k := &refusingKernel{refuse: true}
	st, err := newStore(dir, Target{NetNS: "netns-x", Family: "inet", Name: "devfence"})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.create(); err != nil {
		t.Fatal(err)
	}
	p := &pending{ID: "1", Kind: kindConfirm, Deadline: time.Now().Add(time.Minute), Before: &saved{Family: "inet", Name: "devfence"}}
	if err := st.write(&state{Version: stateVersion, NetNS: "netns-x", Family: "inet", Name: "devfence", Pending: p}); err != nil {
		t.Fatal(err)
	}
	if _, err := Rollback(k, dir, "inet", "devfence", RollbackOptions{}); err == nil {
		t.Fatal("rollback succeeded with a kernel that refuses")
	}
	if s, err := st.load(); err != nil || s.Pending == nil || s.Pending.ID != "1" {
		t.Fatalf("after a failed rollback: state %+v, %v; want the pending apply kept", s, err)
	}
	k.refuse = false
	if _, err := Rollback(k, dir, "inet", "devfence", RollbackOptions{}); err != nil || k.took != 1 {
		t.Fatalf("second rollback: %v, %d transactions", err, k.took)
	}
	if s, err := st.load(); err != nil || s.Pending != nil || s.Settled == nil || s.Settled.Outcome != outcomeRolledBack {
		t.Errorf("after the rollback: state %+v, %v; want settled as rolled back", s, err)
	}
}
