package device

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	vnl "github.com/vishvananda/netlink"

	"github.com/devfence/devfence/rules"
	"github.com/devfence/devfence/rules/netlink"
	"github.com/devfence/devfence/rules/netlink/nltest"
)

// env is a fresh kernel, the fake or a namespace of the real one, with
// a state dir.
type env struct {
	ns   string // the real kernel's namespace
	conn testKernel
	fake *netlink.FakeConn // nil on the real kernel
	// kernel is the fake behind fake, which can be told to refuse.
	kernel *netlink.Fake
	state  string
}

// testKernel is a Kernel that tells its ruleset generation: the same
// before and after proves nothing was sent.
type testKernel interface {
	Kernel
	Generation() (uint32, error)
}

func init() {
	nltest.Prober = func(t testing.TB) (*rules.Kernel, error) {
		c, err := netlink.Open(nltest.NS(t))
		if err != nil {
			return nil, err
		}
		defer c.Close()
		return c.Probe()
	}
}

// newEnv is a fresh namespace of the real kernel; it skips without
// CAP_NET_ADMIN (fails under DEVFENCE_KERNEL_TESTS=require).
func newEnv(t *testing.T) *env {
	t.Helper()
	ns := nltest.NS(t)
	c, err := netlink.Open(ns)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &env{ns: ns, conn: c, state: filepath.Join(t.TempDir(), "state")}
}

// newFakeEnv is a fresh fake kernel (netlink.Fake): no privilege needed.
func newFakeEnv(t *testing.T) *env {
	t.Helper()
	k := netlink.NewFake()
	c := k.Open("fake")
	return &env{conn: c, fake: c, kernel: k, state: filepath.Join(t.TempDir(), "state")}
}

// onEachKernel runs test once against the fake kernel and once against
// the real one, as subtests named after them; test makes its fresh
// environments with newEnv.
func onEachKernel(t *testing.T, test func(t *testing.T, newEnv func(*testing.T) *env)) {
	for _, k := range []struct {
		name   string
		newEnv func(*testing.T) *env
	}{{"fake", newFakeEnv}, {"netlink", newEnv}} {
		t.Run(k.name, func(t *testing.T) { test(t, k.newEnv) })
	}
}

// example compiles examples/NAME.yaml and fits it to the kernel, as
// apply does; the fake has every feature.
func (e *env) example(t *testing.T, name string) *rules.Table {
	t.Helper()
	for _, p := range nltest.Examples(t) {
		if filepath.Base(p) == name+".yaml" {
			if e.fake != nil {
				return nltest.Compile(t, p)
			}
			return nltest.Fit(t, nltest.Compile(t, p))
		}
	}
	t.Fatalf("no example %s", name)
	return nil
}

// addElement adds addr to a set of the live table devfence, as the
// datapath or `nft add element` does.
func (e *env) addElement(t *testing.T, set, addr string) {
	t.Helper()
	if e.fake == nil {
		nltest.RequireNFT(t)
		nltest.NFT(t, e.ns, "", "add", "element", "inet", "devfence", set, "{ "+addr+" }")
		return
	}
	tx := &rules.Transaction{Ops: []rules.Op{{Verb: rules.VerbAdd, Set: set, Family: "inet", TableRef: "devfence",
		Elements: []rules.Element{rules.Addr(netip.MustParseAddr(addr))}}}}
	if _, err := e.fake.Apply(tx); err != nil {
		t.Fatalf("add element %s to set %s: %v", addr, set, err)
	}
}

func (e *env) apply(t *testing.T, tbl *rules.Table, opt Options) (Result, error) {
	t.Helper()
	opt.StateDir = e.state
	return Apply(e.conn, tbl, opt)
}

func (e *env) mustApply(t *testing.T, tbl *rules.Table) Result {
	t.Helper()
	res, err := e.apply(t, tbl, Options{})
	if err != nil {
		t.Fatalf("apply %s: %v", tbl.Ref(), err)
	}
	return res
}

// live renders the live table, "" when there is none.
func (e *env) live(t *testing.T, tbl *rules.Table) string {
	t.Helper()
	live, err := e.conn.Read(tbl.Family, tbl.Name)
	if errors.Is(err, netlink.ErrNoTable) {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	return live.String()
}

func (e *env) wantLive(t *testing.T, want *rules.Table, ref *rules.Table) {
	t.Helper()
	w := ""
	if want != nil {
		w = want.String()
	}
	if d := cmp.Diff(w, e.live(t, ref)); d != "" {
		t.Errorf("live table (-want +got):\n%s", d)
	}
}

// TestApplyTwice: an unchanged profile sends no transaction (the ruleset
// generation stays), so elements the datapath added survive.
func TestApplyTwice(t *testing.T) {
	onEachKernel(t, func(t *testing.T, newEnv func(*testing.T) *env) {
		e := newEnv(t)
		tbl := e.example(t, "baby-monitor")
		if res := e.mustApply(t, tbl); !res.Changed || res.Stats.Rules == 0 {
			t.Fatalf("first apply: %+v", res)
		}
		e.addElement(t, "consent_v4", "192.168.1.20")
		gen, err := e.conn.Generation()
		if err != nil {
			t.Fatal(err)
		}
		res := e.mustApply(t, e.example(t, "baby-monitor"))
		if res.Changed {
			t.Errorf("second apply of the same profile sent a transaction: %+v", res)
		}
		if g, _ := e.conn.Generation(); g != gen {
			t.Errorf("ruleset generation moved from %d to %d", gen, g)
		}
		st, err := Status(e.conn, "inet", "devfence", tbl, e.state)
		if err != nil {
			t.Fatal(err)
		}
		if len(st.Consent) != 1 || st.Consent[0].Address != "192.168.1.20" || st.Consent[0].Expires <= 0 {
			t.Errorf("consent after the second apply: %+v, want 192.168.1.20 still there", st.Consent)
		}
		if st.Matches == nil || !*st.Matches {
			t.Errorf("status says the table does not match its profile")
		}
	})
}

func TestApplyChange(t *testing.T) {
	onEachKernel(t, func(t *testing.T, newEnv func(*testing.T) *env) {
		e := newEnv(t)
		e.mustApply(t, e.example(t, "baby-monitor"))
		plug := e.example(t, "smart-plug")
		if res := e.mustApply(t, plug); !res.Changed {
			t.Fatal("a different profile sent nothing")
		}
		e.wantLive(t, plug, plug)
	})
}

// TestConfirmTimeout: without `devfence confirm` the previous table comes
// back; on a first apply that means no table.
func TestConfirmTimeout(t *testing.T) {
	onEachKernel(t, func(t *testing.T, newEnv func(*testing.T) *env) {
		t.Run("previous table", func(t *testing.T) {
			e := newEnv(t)
			old := e.example(t, "baby-monitor")
			e.mustApply(t, old)
			_, err := e.apply(t, e.example(t, "smart-plug"), Options{Confirm: 300 * time.Millisecond, Poll: 20 * time.Millisecond})
			if !errors.Is(err, ErrNotConfirmed) {
				t.Fatalf("apply: %v, want ErrNotConfirmed", err)
			}
			e.wantLive(t, old, old)
			assertSettled(t, e)
		})
		t.Run("first apply", func(t *testing.T) {
			e := newEnv(t)
			tbl := e.example(t, "baby-monitor")
			_, err := e.apply(t, tbl, Options{Confirm: 300 * time.Millisecond, Poll: 20 * time.Millisecond})
			if !errors.Is(err, ErrNotConfirmed) {
				t.Fatalf("apply: %v, want ErrNotConfirmed", err)
			}
			e.wantLive(t, nil, tbl)
		})
	})
}

// store is the env's state for table inet devfence.
func (e *env) store(t *testing.T) *store {
	t.Helper()
	st, err := newStore(e.state, e.target(t))
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func (e *env) target(t *testing.T) Target {
	t.Helper()
	tg, err := target(e.conn, "inet", "devfence")
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

func (e *env) load(t *testing.T) *state {
	t.Helper()
	s, err := e.store(t).load()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (e *env) rollback(t *testing.T) (*RollbackResult, error) {
	t.Helper()
	return Rollback(e.conn, e.state, "inet", "devfence", RollbackOptions{})
}

// assertSettled: no change is pending, and no temporary file is left.
func assertSettled(t *testing.T, e *env) {
	t.Helper()
	if p := e.load(t).Pending; p != nil {
		t.Errorf("pending change left behind: %+v", p)
	}
	entries, _ := os.ReadDir(e.store(t).dir)
	for _, en := range entries {
		if strings.HasPrefix(en.Name(), ".") {
			t.Errorf("temporary file %s left behind", en.Name())
		}
	}
}

// waitPending waits until an apply --confirm has its pending state
// written, failing with what the apply returned should it end first.
func waitPending(t *testing.T, e *env, applied <-chan error) {
	t.Helper()
	// A bound on an event that must come, not a speed check: under
	// emulation (the kernel lab's 1-CPU MIPS) an apply takes seconds.
	var loadErr error
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for deadline := time.After(30 * time.Second); ; {
		s, err := e.store(t).load()
		if err == nil && s.Pending != nil {
			return
		}
		loadErr = err
		select {
		case err := <-applied:
			t.Fatalf("apply --confirm returned before its pending state was seen: %v", err)
		case <-deadline:
			t.Fatalf("no pending apply appeared in 30s (last state read: %v)", loadErr)
		case <-tick.C:
		}
	}
}

func TestConfirm(t *testing.T) {
	onEachKernel(t, func(t *testing.T, newEnv func(*testing.T) *env) {
		e := newEnv(t)
		e.mustApply(t, e.example(t, "baby-monitor"))
		plug := e.example(t, "smart-plug")
		done := make(chan error, 1)
		var res Result
		go func() {
			var err error
			res, err = e.apply(t, plug, Options{Confirm: 10 * time.Second, Poll: 20 * time.Millisecond})
			done <- err
		}()
		waitPending(t, e, done)
		if err := Confirm(e.state, e.target(t)); err != nil {
			t.Fatalf("confirm: %v", err)
		}
		select {
		case err := <-done:
			if err != nil || !res.Confirmed {
				t.Fatalf("apply after confirm: %+v, %v", res, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("apply did not see the confirmation")
		}
		e.wantLive(t, plug, plug)
		assertSettled(t, e)
		if err := Confirm(e.state, e.target(t)); !errors.Is(err, ErrNothingPending) {
			t.Errorf("second confirm: %v, want ErrNothingPending", err)
		}
	})
}

func TestRollback(t *testing.T) {
	onEachKernel(t, func(t *testing.T, newEnv func(*testing.T) *env) {
		t.Run("after apply", func(t *testing.T) {
			e := newEnv(t)
			old := e.example(t, "baby-monitor")
			e.mustApply(t, old)
			e.mustApply(t, e.example(t, "smart-plug"))
			r, err := e.rollback(t)
			if err != nil || !r.Existed {
				t.Fatalf("rollback: %+v, %v", r, err)
			}
			e.wantLive(t, old, old)
			if _, err := e.rollback(t); !errors.Is(err, ErrNothingSaved) {
				t.Errorf("second rollback: %v, want ErrNothingSaved", err)
			}
		})
		t.Run("while apply waits", func(t *testing.T) {
			e := newEnv(t)
			old := e.example(t, "baby-monitor")
			e.mustApply(t, old)
			plug := e.example(t, "smart-plug")
			done := make(chan error, 1)
			go func() {
				_, err := e.apply(t, plug, Options{Confirm: 10 * time.Second, Poll: 20 * time.Millisecond})
				done <- err
			}()
			waitPending(t, e, done)
			if _, err := e.rollback(t); err != nil {
				t.Fatalf("rollback: %v", err)
			}
			if err := <-done; !errors.Is(err, ErrRolledBack) {
				t.Errorf("waiting apply: %v, want ErrRolledBack", err)
			}
			e.wantLive(t, old, old)
			assertSettled(t, e)
		})
		t.Run("first apply", func(t *testing.T) {
			e := newEnv(t)
			tbl := e.example(t, "baby-monitor")
			e.mustApply(t, tbl)
			if _, err := e.rollback(t); err != nil {
				t.Fatal(err)
			}
			e.wantLive(t, nil, tbl)
		})
		// The kernel lab (6.1 arm64 under TCG) caught the state machine before
		// the lock: a rollback that came after the pending state was written
		// but before the new table landed restored the old table, and the new
		// one then landed over it. Here the rollback comes at exactly that
		// moment, from inside the apply's send; it must find the apply holding
		// the lock and change nothing, and a rollback after the send restores
		// the old table.
		t.Run("while apply sends its table", func(t *testing.T) {
			e := newEnv(t)
			old := e.example(t, "baby-monitor")
			e.mustApply(t, old)
			var early error
			sending := make(chan struct{})
			k := &beforeSend{Kernel: e.conn, hook: func() {
				defer close(sending)
				if e.load(t).Pending == nil {
					t.Error("the table is sent before the pending state is written")
				}
				defer func(w time.Duration) { lockWait = w }(lockWait)
				lockWait = 200 * time.Millisecond
				_, early = e.rollback(t)
			}}
			plug := e.example(t, "smart-plug")
			done := make(chan error, 1)
			go func() {
				_, err := Apply(k, plug, Options{StateDir: e.state, Confirm: 10 * time.Second, Poll: 20 * time.Millisecond})
				done <- err
			}()
			<-sending
			if le := (*LockedError)(nil); !errors.As(early, &le) || le.Command != "apply" {
				t.Errorf("rollback while the apply sends: %v, want a LockedError naming apply", early)
			}
			if _, err := e.rollback(t); err != nil {
				t.Errorf("rollback after the send: %v", err)
			}
			if err := <-done; !errors.Is(err, ErrRolledBack) {
				t.Errorf("waiting apply: %v, want ErrRolledBack", err)
			}
			e.wantLive(t, old, old)
			assertSettled(t, e)
		})
	})
}

// beforeSend runs hook once, just before the first transaction goes to
// the kernel.
type beforeSend struct {
	Kernel
	once sync.Once
	hook func()
}

func (k *beforeSend) Apply(tx *rules.Transaction) (netlink.Stats, error) {
	k.once.Do(k.hook)
	return k.Kernel.Apply(tx)
}

// TestInterruptedConfirm: an apply killed while it waits leaves its
// pending state; the next apply refuses until confirm or rollback.
func TestInterruptedConfirm(t *testing.T) {
	onEachKernel(t, func(t *testing.T, newEnv func(*testing.T) *env) {
		e := newEnv(t)
		old := e.example(t, "baby-monitor")
		e.mustApply(t, old)
		live, err := e.conn.Read("inet", "devfence")
		if err != nil {
			t.Fatal(err)
		}
		before, err := save("inet", "devfence", live)
		if err != nil {
			t.Fatal(err)
		}
		// What a killed `apply --confirm` leaves: its pending state, with the
		// new table in force.
		st := e.store(t)
		if err := st.create(); err != nil {
			t.Fatal(err)
		}
		s := e.load(t)
		s.Pending = &pending{ID: "dead", Kind: kindConfirm, PID: 0, Deadline: time.Now().Add(-time.Minute), Before: before}
		if err := st.write(s); err != nil {
			t.Fatal(err)
		}
		e.mustApplyOrPending(t, e.example(t, "smart-plug"))
		var pe *PendingError
		if _, err := e.apply(t, e.example(t, "thermostat"), Options{}); !errors.As(err, &pe) || pe.Alive {
			t.Fatalf("apply with an interrupted confirm pending: %v, want a PendingError", err)
		}
		if _, err := e.rollback(t); err != nil {
			t.Fatal(err)
		}
		e.wantLive(t, old, old)
		assertSettled(t, e)
	})
}

func (e *env) mustApplyOrPending(t *testing.T, tbl *rules.Table) {
	t.Helper()
	var pe *PendingError
	if _, err := e.apply(t, tbl, Options{}); !errors.As(err, &pe) {
		t.Fatalf("apply: %v, want a PendingError", err)
	}
}

// TestOtherTables: apply, an unconfirmed apply and rollback never touch a
// table devfence does not own.
func TestOtherTables(t *testing.T) {
	onEachKernel(t, func(t *testing.T, newEnv func(*testing.T) *env) {
		e := newEnv(t)
		list := e.otherTable(t)
		before := list()
		e.mustApply(t, e.example(t, "baby-monitor"))
		e.mustApply(t, e.example(t, "smart-plug"))
		e.apply(t, e.example(t, "thermostat"), Options{Confirm: 100 * time.Millisecond, Poll: 10 * time.Millisecond})
		e.mustApply(t, e.example(t, "thermostat"))
		if _, err := e.rollback(t); err != nil {
			t.Fatal(err)
		}
		if after := list(); after != before {
			t.Errorf("table ip other changed:\n%s", cmp.Diff(before, after))
		}
	})
}

// otherTable puts table ip other, which devfence does not own, in force
// and returns how to list it; on the real kernel nft makes and lists it.
func (e *env) otherTable(t *testing.T) (list func() string) {
	t.Helper()
	if e.fake == nil {
		nltest.RequireNFT(t)
		nltest.NFT(t, e.ns, "table ip other {\n\tset s { type ipv4_addr; elements = { 192.0.2.1 } }\n\tchain c { type filter hook output priority 10; policy accept; ip daddr @s counter; }\n}\n", "-f", "-")
		return func() string { return nltest.NFT(t, e.ns, "", "list", "table", "ip", "other") }
	}
	other := &rules.Table{Family: "ip", Name: "other",
		Sets: []*rules.Set{{Name: "s", Key: rules.KeyIPv4, Elements: []rules.Element{rules.Addr(netip.MustParseAddr("192.0.2.1"))}}},
		Chains: []*rules.Chain{{Name: "c", Hook: rules.HookOutput, Priority: 10, Policy: rules.Accept, Rules: []*rules.Rule{
			{Stmts: []rules.Stmt{rules.AddrMatch{Family: rules.IPv4, Field: rules.Dst, Set: "s"}, rules.Counter{}}},
		}}},
	}
	if _, err := e.fake.Apply(rules.Replace(other)); err != nil {
		t.Fatal(err)
	}
	return func() string {
		live, err := e.conn.Read("ip", "other")
		if err != nil {
			t.Fatal(err)
		}
		return live.String()
	}
}

// TestStatusQuotas: real packets through the output chain create quota
// elements; status shows each destination's use against its budget, and
// the drop counters. Also with the meters fitted to a 32-bit ARM kernel
// (byte token buckets, rules.QuotaBucket), whose use the kernel does not
// report: status lists the peer with its budget and says so.
func TestStatusQuotas(t *testing.T) {
	arm32 := &rules.Kernel{Release: "32-bit ARM", Has: map[rules.Feature]bool{rules.FeatDynsetQuota: false}}
	for _, k := range []*rules.Kernel{nil, arm32} {
		name := "quota"
		if k != nil {
			name = "bucket"
		}
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			tbl, err := rules.Lower(e.example(t, "baby-monitor"), k)
			if err != nil {
				t.Fatal(err)
			}
			statusQuotas(t, e, tbl)
		})
	}
}

func statusQuotas(t *testing.T, e *env, tbl *rules.Table) {
	// This kernel may itself want buckets (example fits the table to it).
	bucket := strings.Contains(tbl.String(), " bytes/")
	e.mustApply(t, tbl)
	// The device's address on a veth link (this kernel may lack dummy),
	// so packets to the resolver (192.168.1.1) leave through the output
	// hook with a local source.
	err := nltest.Do(e.ns, func() error {
		lo, err := vnl.LinkByName("lo")
		if err != nil {
			return err
		}
		if err := vnl.LinkSetUp(lo); err != nil {
			return err
		}
		if err := vnl.LinkAdd(&vnl.Veth{LinkAttrs: vnl.LinkAttrs{Name: "eth0"}, PeerName: "eth1"}); err != nil {
			return err
		}
		d, err := vnl.LinkByName("eth0")
		if err != nil {
			return err
		}
		addr, _ := vnl.ParseAddr("192.168.1.2/24")
		if err := vnl.AddrAdd(d, addr); err != nil {
			return err
		}
		if err := vnl.LinkSetUp(d); err != nil {
			return err
		}
		for _, dst := range []string{"192.168.1.1:53", "192.168.1.1:9"} {
			c, err := net.Dial("udp4", dst)
			if err != nil {
				return err
			}
			c.Write(make([]byte, 1000)) // DNS: metered and accepted; port 9: dropped
			c.Close()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	st, err := Status(e.conn, "inet", "devfence", tbl, e.state)
	if err != nil {
		t.Fatal(err)
	}
	var dns *Quota
	for i, q := range st.Quotas {
		if q.Set == "quota_allow_dns_v4" {
			dns = &st.Quotas[i]
		}
	}
	if dns == nil || len(dns.Peers) != 1 {
		t.Fatalf("quota_allow_dns_v4 in status: %+v", st.Quotas)
	}
	used, wantText := uint64(1000), "1KiB of 64KiB used"
	if bucket {
		used, wantText = 0, "use not reported by this kernel's meter"
	}
	if u := dns.Peers[0]; u.Key != "192.168.1.1" || (u.Used < used || bucket && u.Used != 0) || u.Budget != 64<<10 || u.Resets <= 0 || u.Resets > Duration(10*time.Minute) || dns.Bucket != bucket {
		t.Errorf("the resolver's DNS quota (bucket %v): %+v, want >= %d of 65536 bytes used, reset within 10m", dns.Bucket, u, used)
	}
	if len(st.Drops) != 2 || st.Drops[0].Chain != "input" || st.Drops[1].Chain != "output" || st.Drops[1].Packets == 0 {
		t.Errorf("drop counters: %+v, want the datagram to port 9 counted in output", st.Drops)
	}
	text := st.Text()
	t.Logf("status:\n%s", text)
	for _, want := range []string{"table inet devfence: in force, matches the profile\n", "192.168.1.1", wantText, "dropped in output: 1 packets"} {
		if !strings.Contains(text, want) {
			t.Errorf("status text lacks %q:\n%s", want, text)
		}
	}
}
