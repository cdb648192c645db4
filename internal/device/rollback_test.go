package device

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"github.com/devfence/devfence/rules/netlink"
)

// TestFailedRollbackKeepsState: a rollback the kernel refuses leaves the
// pending apply in the state, so the next rollback can do it; only a
// rollback that restored consumes it.
func TestFailedRollbackKeepsState(t *testing.T) {
	e := newFakeEnv(t)
	st := e.store(t)
	if err := st.create(); err != nil {
		t.Fatal(err)
	}
	// An apply --confirm of a first table, interrupted: rollback removes it.
	tbl := e.example(t, "smart-plug")
	e.mustApply(t, tbl)
	s := e.load(t)
	s.Pending = &pending{ID: "1", Kind: kindConfirm, Deadline: time.Now().Add(time.Minute), Before: &saved{Family: "inet", Name: "devfence"}}
	if err := st.write(s); err != nil {
		t.Fatal(err)
	}
	e.kernel.Refuse(netlink.Refusal{What: "delete of table inet devfence", Err: unix.EBUSY})
	_, err := e.rollback(t)
	if want := "remove table inet devfence: kernel refused delete of table inet devfence: device or resource busy"; err == nil || err.Error() != want {
		t.Fatalf("rollback with a kernel that refuses: %v, want %q", err, want)
	}
	if s := e.load(t); s.Pending == nil || s.Pending.ID != "1" {
		t.Fatalf("after a failed rollback: state %+v; want the pending apply kept", s)
	}
	e.wantLive(t, tbl, tbl)
	e.kernel.Refuse()
	if _, err := e.rollback(t); err != nil {
		t.Fatalf("second rollback: %v", err)
	}
	e.wantLive(t, nil, tbl)
	if s := e.load(t); s.Pending != nil || s.Settled == nil || s.Settled.Outcome != outcomeRolledBack {
		t.Errorf("after the rollback: state %+v; want settled as rolled back", s)
	}
}

// TestKernelRefusals: a transaction the kernel refuses changes neither
// the table nor what the state says is in force, and the error names the
// refused rule by its profile entry, as docs/APPLY.md shows; a refused
// restore keeps the pending apply for rollback to retry.
func TestKernelRefusals(t *testing.T) {
	dynset := netlink.Refusal{What: `rule "egress.allow dns" in chain output`, Expr: "dynset"}
	const refusedDynset = `apply table inet devfence: kernel refused rule "egress.allow dns" in chain output (expression dynset, set quota_allow_dns_v4): operation not supported; set quota_allow_dns_v4 cannot be updated from the datapath (it needs flags dynamic, and a kernel with quota expressions in set elements)`
	for _, tc := range []struct {
		name    string
		before  string // the example in force before
		refuse  netlink.Refusal
		act     func(t *testing.T, e *env) error
		want    string // the error
		live    string // the example in force afterwards
		pending bool   // a pending apply is left for rollback
	}{
		{name: "apply", before: "smart-plug", refuse: dynset, want: refusedDynset, live: "smart-plug",
			act: func(t *testing.T, e *env) error {
				_, err := e.apply(t, e.example(t, "baby-monitor"), Options{})
				return err
			}},
		{name: "apply --confirm", before: "smart-plug", refuse: dynset, want: refusedDynset, live: "smart-plug",
			act: func(t *testing.T, e *env) error {
				_, err := e.apply(t, e.example(t, "baby-monitor"), Options{Confirm: time.Minute})
				return err
			}},
		// smart-plug goes in; the restore of thermostat, whose set it
		// lacks, is refused at the deadline.
		{name: "restore at the deadline", before: "thermostat", refuse: netlink.Refusal{What: "set svc_app_v4", Err: unix.ENOMEM}, live: "smart-plug", pending: true,
			want: "restoring the previous table failed: restore table inet devfence: kernel refused set svc_app_v4: cannot allocate memory",
			act: func(t *testing.T, e *env) error {
				_, err := e.apply(t, e.example(t, "smart-plug"), Options{Confirm: 200 * time.Millisecond, Poll: 10 * time.Millisecond})
				return err
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newFakeEnv(t)
			e.mustApply(t, e.example(t, tc.before))
			e.kernel.Refuse(tc.refuse)
			err := tc.act(t, e)
			var re *netlink.RefusedError
			if !errors.As(err, &re) {
				t.Fatalf("%v, want a *netlink.RefusedError", err)
			}
			if d := cmp.Diff(tc.want, err.Error()); d != "" {
				t.Errorf("error (-want +got):\n%s", d)
			}
			live := e.example(t, tc.live)
			e.wantLive(t, live, live)
			if p := e.load(t).Pending; (p != nil) != tc.pending {
				t.Errorf("pending apply after the refusal: %+v, want one: %v", p, tc.pending)
			}
		})
	}
}
