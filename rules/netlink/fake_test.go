package netlink

import (
	"errors"
	"net/netip"
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"github.com/devfence/devfence/internal/netlab"
	"github.com/devfence/devfence/rules"
	"github.com/devfence/devfence/rules/netlink/nltest"
)

// examplesByName compiles every example (not fitted: the fake has every
// feature), by name.
func examplesByName(t *testing.T) map[string]*rules.Table {
	t.Helper()
	m := map[string]*rules.Table{}
	for _, p := range nltest.Examples(t) {
		m[exampleName(p)] = nltest.Compile(t, p)
	}
	return m
}

// TestFakeApplyRead: what the fake takes it reads back and dumps as the
// compiled text, per namespace; each committed batch moves the generation.
func TestFakeApplyRead(t *testing.T) {
	f := NewFake()
	a, b := f.Open("a"), f.Open("b")
	for name, tbl := range examplesByName(t) {
		gen, _ := a.Generation()
		st, err := a.Apply(rules.Replace(tbl))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var rs int
		for _, c := range tbl.Chains {
			rs += len(c.Rules)
		}
		if st.Tables != 2 || st.Sets != len(tbl.Sets) || st.Chains != len(tbl.Chains) || st.Rules != rs || st.Messages == 0 {
			t.Errorf("%s: stats %+v", name, st)
		}
		if g, _ := a.Generation(); g != gen+1 {
			t.Errorf("%s: generation %d after %d, want one more", name, g, gen)
		}
		live, err := a.Read("inet", "devfence")
		if err != nil {
			t.Fatalf("%s: read: %v", name, err)
		}
		if d := cmp.Diff(tbl.String(), live.String()); d != "" {
			t.Errorf("%s: read back (-applied +read):\n%s", name, d)
		}
		if d := cmp.Diff(tbl.String(), a.Dump()); d != "" {
			t.Errorf("%s: dump (-applied +dump):\n%s", name, d)
		}
		// A copy: changing it changes nothing in the fake.
		live.Chains[0].Rules = nil
		if a.Dump() != tbl.String() {
			t.Errorf("%s: a change to the table Read returned reached the fake", name)
		}
	}
	if _, err := b.Read("inet", "devfence"); !errors.Is(err, ErrNoTable) || b.Dump() != "" {
		t.Errorf("namespace b: %v, dump %q; want no table", err, b.Dump())
	}
	if _, err := a.Apply(rules.Remove("inet", "devfence")); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Read("inet", "devfence"); !errors.Is(err, ErrNoTable) {
		t.Errorf("after remove: %v, want ErrNoTable", err)
	}
}

// refusalCase is a transaction refused over smart-plug's table: by the
// kernel's own rules, or because the fake is told to (refuse).
type refusalCase struct {
	name   string
	refuse []Refusal
	tx     *rules.Transaction
	want   string // the error
	errno  error
}

// refusalCases are the refusals TestFakeRefusals checks; those without
// refuse TestFakeMatchesKernel checks against the kernel's own.
func refusalCases(t *testing.T, fit func(*rules.Table) *rules.Table) []refusalCase {
	t.Helper()
	ex := examplesByName(t)
	for name, tbl := range ex {
		ex[name] = fit(tbl)
	}
	staticDynset := &rules.Table{Family: "inet", Name: "devfence",
		Sets: []*rules.Set{{Name: "static_v4", Key: rules.KeyIPv4, Flags: rules.FlagInterval,
			Elements: []rules.Element{rules.Range(netip.MustParsePrefix("192.0.2.0/24"))}}},
		Chains: []*rules.Chain{{Name: "output", Hook: rules.HookOutput, Policy: rules.Drop, Rules: []*rules.Rule{{
			Stmts: []rules.Stmt{rules.Meta{Key: rules.MetaNFProto, Value: "ipv4"},
				rules.DynsetUpdate{Op: rules.SetAdd, Set: "static_v4", Key: rules.Key{Family: rules.IPv4, Field: rules.Dst}, Quota: 100},
				rules.Verdict{Kind: rules.Accept}},
			Comment: "egress.allow dns",
		}}}},
	}
	// Fitted to a 32-bit ARM kernel the quota is a byte bucket (a limit),
	// which the refusal names.
	static := fit(staticDynset)
	meter := "quota"
	if d, ok := static.Chains[0].Rules[0].Stmts[1].(rules.DynsetUpdate); ok && d.Limit != nil {
		meter = "limit"
	}
	withoutSet := nltest.Compile(t, filepath.Join(filepath.Dir(nltest.Examples(t)[0]), "baby-monitor.yaml"))
	withoutSet.Sets = slices.DeleteFunc(withoutSet.Sets, func(s *rules.Set) bool { return s.Name == "quota_allow_dns_v4" })
	return []refusalCase{
		{name: "rule naming a missing set", tx: rules.Replace(fit(withoutSet)), errno: unix.ENOENT,
			want: `kernel refused rule "egress.allow dns" in chain output (expression dynset, set quota_allow_dns_v4): no such file or directory`},
		{name: "set updated from a rule without flags dynamic", tx: rules.Replace(static), errno: unix.EOPNOTSUPP,
			want: `kernel refused rule "egress.allow dns" in chain output (expression dynset, set static_v4): operation not supported; set static_v4 cannot be updated from the datapath (it needs flags dynamic, and a kernel with ` + meter + ` expressions in set elements)`},
		{name: "kernel without an expression", refuse: []Refusal{{Expr: "fib"}}, tx: rules.Replace(ex["baby-monitor"]), errno: unix.EOPNOTSUPP,
			want: `kernel refused rule "anti-spoofing" in chain output (expression fib): operation not supported; the kernel lacks the fib expression (module nft_fib_inet)`},
		{name: "an expression of one rule", refuse: []Refusal{{What: `rule "egress.allow dns" in chain output`, Expr: "dynset", Err: unix.ENOENT}},
			tx: rules.Replace(ex["baby-monitor"]), errno: unix.ENOENT,
			want: `kernel refused rule "egress.allow dns" in chain output (expression dynset, set quota_allow_dns_v4): no such file or directory`},
		{name: "a set", refuse: []Refusal{{What: "set consent_v4", Err: unix.ENOMEM}}, tx: rules.Replace(ex["baby-monitor"]), errno: unix.ENOMEM,
			want: `kernel refused set consent_v4: cannot allocate memory`},
		{name: "a set's elements", refuse: []Refusal{{What: "elements of set allow_dns_v4"}},
			tx: rules.SetElements(ex["smart-plug"], "allow_dns_v4", []rules.Element{rules.Addr(netip.MustParseAddr("192.0.2.53"))}), errno: unix.EOPNOTSUPP,
			want: `kernel refused elements of set allow_dns_v4: operation not supported`},
		{name: "the removal of the table", refuse: []Refusal{{What: "delete of table inet devfence", Err: unix.EBUSY}}, tx: rules.Remove("inet", "devfence"), errno: unix.EBUSY,
			want: `kernel refused delete of table inet devfence: device or resource busy`},
	}
}

// TestFakeRefusals: a refused transaction changes nothing, and its error
// names the message and expression as Conn.Apply's does.
func TestFakeRefusals(t *testing.T) {
	old := examplesByName(t)["smart-plug"]
	for _, tc := range refusalCases(t, func(tbl *rules.Table) *rules.Table { return tbl }) {
		t.Run(tc.name, func(t *testing.T) {
			f := NewFake()
			c := f.Open("x")
			if _, err := c.Apply(rules.Replace(old)); err != nil {
				t.Fatal(err)
			}
			gen, _ := c.Generation()
			f.Refuse(tc.refuse...)
			_, err := c.Apply(tc.tx)
			var re *RefusedError
			if !errors.As(err, &re) || !errors.Is(err, tc.errno) {
				t.Fatalf("apply: %v, want a *RefusedError wrapping %v", err, tc.errno)
			}
			if d := cmp.Diff(tc.want, err.Error()); d != "" {
				t.Errorf("error (-want +got):\n%s", d)
			}
			if g, _ := c.Generation(); g != gen {
				t.Errorf("generation moved from %d to %d", gen, g)
			}
			if d := cmp.Diff(old.String(), c.Dump()); d != "" {
				t.Errorf("a refused transaction changed the ruleset (-before +after):\n%s", d)
			}
			f.Refuse()
			if _, err := c.Apply(rules.Replace(old)); err != nil {
				t.Errorf("after Refuse(): %v", err)
			}
		})
	}
}

// TestFakeMatchesKernel (a kernel test): the fake takes, counts and reads
// back every example as the kernel does, and refuses what the kernel
// refuses with the very error Conn.Apply makes of the kernel's answer.
func TestFakeMatchesKernel(t *testing.T) {
	netlab.RequireKernel(t)
	for _, path := range nltest.Examples(t) {
		t.Run(exampleName(path), func(t *testing.T) {
			tbl := nltest.Fit(t, nltest.Compile(t, path))
			c := open(t, nltest.NS(t))
			want := apply(t, c, tbl)
			fake := NewFake().Open("")
			got, err := fake.Apply(rules.Replace(tbl))
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("stats (-kernel +fake):\n%s", d)
			}
			live, err := c.Read(tbl.Family, tbl.Name)
			if err != nil {
				t.Fatal(err)
			}
			fakeLive, err := fake.Read(tbl.Family, tbl.Name)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(live.String(), fakeLive.String()); d != "" {
				t.Errorf("read back (-kernel +fake):\n%s", d)
			}
		})
	}
	fit := func(tbl *rules.Table) *rules.Table { return nltest.Fit(t, tbl) }
	for _, tc := range refusalCases(t, fit) {
		if tc.refuse != nil {
			continue // the kernel cannot be told to refuse
		}
		t.Run(tc.name, func(t *testing.T) {
			c := open(t, nltest.NS(t))
			apply(t, c, fit(examplesByName(t)["smart-plug"]))
			_, err := c.Apply(tc.tx)
			if err == nil {
				t.Fatal("the kernel took it")
			}
			if d := cmp.Diff(tc.want, err.Error()); d != "" {
				t.Errorf("the kernel's refusal (-fake +kernel):\n%s", d)
			}
		})
	}
}

// TestFakeElements: element operations change only their set; a timeout
// set's elements get its timeout, and an element is there once.
func TestFakeElements(t *testing.T) {
	plug := examplesByName(t)["smart-plug"]
	c := NewFake().Open("")
	if _, err := c.Apply(rules.Replace(plug)); err != nil {
		t.Fatal(err)
	}
	peer := rules.Addr(netip.MustParseAddr("192.168.1.20"))
	add := &rules.Transaction{Ops: []rules.Op{{Verb: rules.VerbAdd, Set: "consent_v4", Family: "inet", TableRef: "devfence", Elements: []rules.Element{peer, peer}}}}
	if _, err := c.Apply(add); err != nil {
		t.Fatal(err)
	}
	dns := []rules.Element{rules.Addr(netip.MustParseAddr("192.0.2.53"))}
	if _, err := c.Apply(rules.SetElements(plug, "allow_dns_v4", dns)); err != nil {
		t.Fatal(err)
	}
	live, err := c.Read("inet", "devfence")
	if err != nil {
		t.Fatal(err)
	}
	consent := live.Set("consent_v4")
	if len(consent.Elements) != 1 || consent.Elements[0].From != peer.From || consent.Elements[0].Expires != consent.Timeout || consent.Timeout == 0 {
		t.Errorf("consent_v4: %+v, want 192.168.1.20 once, expiring after the set's timeout", consent)
	}
	if got := live.Set("allow_dns_v4").Elements; len(got) != 1 || got[0] != dns[0] {
		t.Errorf("allow_dns_v4: %v, want %v", got, dns)
	}
	want := plug.String()
	live.Set("allow_dns_v4").Elements = plug.Set("allow_dns_v4").Elements
	if d := cmp.Diff(want, live.String()); d != "" {
		t.Errorf("beyond the two sets (-before +after):\n%s", d)
	}
	if _, err := c.Apply(rules.SetElements(&rules.Table{Family: "inet", Name: "devfence", Sets: []*rules.Set{{Name: "nope"}}}, "nope", dns)); err == nil {
		t.Error("elements for a set the table lacks were taken")
	}
}
