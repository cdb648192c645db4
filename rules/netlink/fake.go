package netlink

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"github.com/devfence/devfence/rules"
)

// Fake is an in-memory nf_tables for tests, in the manner of
// sigs.k8s.io/knftables' Fake: it holds the tables of each network
// namespace and applies a transaction whole or not at all. It goes
// through the same steps as Conn.Apply short of the socket (the family,
// chain, set and element checks, the statement encoder, the naming of
// each message and the Stats), so a transaction Conn.Apply would reject
// before sending is rejected here alike, and a refusal is the
// *RefusedError Conn.Apply returns: same message, same expression.
//
// It refuses what the kernel refuses for devfence's tables (a rule naming
// a set that is not there: ENOENT; a set updated from a rule without
// flags dynamic: EOPNOTSUPP; deleting a table that does not exist:
// ENOENT) and whatever Refuse names. It has no datapath: counters keep
// what was sent and nothing expires.
type Fake struct {
	mu      sync.Mutex
	ns      map[string]*fakeNS
	refuse  []Refusal
	handles uint64
}

type fakeNS struct {
	gen    uint32
	tables []*rules.Table // in the order they were created, as nft lists them
}

// Refusal makes a Fake refuse the first message of a transaction that it
// names, as the kernel refuses a batch.
type Refusal struct {
	// What is the message as a *RefusedError names it: `table inet
	// devfence`, `delete of table inet devfence`, `chain input`, `set s`,
	// `elements of set s`, `flush of set s`, `rule "egress.allow[0] dns"
	// in chain output`.
	What string
	// Expr refuses a rule holding an expression of this kind (as the
	// error names it: "dynset", "fib", "limit", ...), pointing at that
	// expression the way the kernel's extended ack does. With What too,
	// only that rule.
	Expr string
	// Err is the errno; nil is EOPNOTSUPP, what a kernel without the
	// feature answers.
	Err error
}

// NewFake returns a Fake with no tables in any namespace.
func NewFake() *Fake { return &Fake{ns: map[string]*fakeNS{}} }

// Refuse makes every later transaction that holds a message one of rs
// names fail; Refuse() refuses nothing again.
func (f *Fake) Refuse(rs ...Refusal) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.refuse = slices.Clone(rs)
}

// Open is a connection to the namespace netns ("" the caller's own). It
// needs no privilege and holds nothing to close.
func (f *Fake) Open(netns string) *FakeConn { return &FakeConn{f: f, netns: netns} }

// FakeConn is a Fake seen from one network namespace: what Conn is to the
// kernel.
type FakeConn struct {
	f     *Fake
	netns string
}

// NetNS is the namespace name the connection was opened for.
func (c *FakeConn) NetNS() string { return c.netns }

func (f *Fake) space(netns string) *fakeNS {
	n := f.ns[netns]
	if n == nil {
		n = &fakeNS{}
		f.ns[netns] = n
	}
	return n
}

// Generation moves with every transaction committed in the namespace.
func (c *FakeConn) Generation() (uint32, error) {
	c.f.mu.Lock()
	defer c.f.mu.Unlock()
	return c.f.space(c.netns).gen, nil
}

// Read is a copy of the table, as Conn.Read returns it, or ErrNoTable.
func (c *FakeConn) Read(family, name string) (*rules.Table, error) {
	if _, err := tableFamily(family); err != nil {
		return nil, err
	}
	c.f.mu.Lock()
	defer c.f.mu.Unlock()
	t := find(c.f.space(c.netns).tables, family, name)
	if t == nil {
		return nil, ErrNoTable
	}
	return cloneTable(t), nil
}

// Tables are copies of the namespace's tables, in the order they were
// created.
func (c *FakeConn) Tables() []*rules.Table {
	c.f.mu.Lock()
	defer c.f.mu.Unlock()
	var out []*rules.Table
	for _, t := range c.f.space(c.netns).tables {
		out = append(out, cloneTable(t))
	}
	return out
}

// Dump is the namespace's ruleset as nft text, every table rendered by
// rules.WriteTable, in the order they were created; "" when there is none.
// Like `nft list` it leaves out the elements of dynamic sets: they are
// the datapath's state.
func (c *FakeConn) Dump() string {
	c.f.mu.Lock()
	defer c.f.mu.Unlock()
	var b strings.Builder
	for _, t := range c.f.space(c.netns).tables {
		rules.WriteTable(&b, t)
	}
	return b.String()
}

// Apply puts tx in force in the namespace, all of it or, when a message
// is refused, none of it.
func (c *FakeConn) Apply(tx *rules.Transaction) (Stats, error) {
	if err := tx.Err(); err != nil {
		return Stats{}, err
	}
	c.f.mu.Lock()
	defer c.f.mu.Unlock()
	n := c.f.space(c.netns)
	a := &fakeApply{f: c.f, live: n.tables, tables: make([]*rules.Table, len(n.tables))}
	for i, t := range n.tables {
		a.tables[i] = cloneTable(t)
	}
	for _, op := range tx.Ops {
		if err := a.op(op); err != nil {
			a.stats.Messages = a.msgs
			return a.stats, err
		}
	}
	a.stats.Messages = a.msgs
	if a.msgs > 0 {
		n.tables = a.tables
		n.gen++
	}
	return a.stats, nil
}

// fakeApply is one transaction on a copy of the namespace's tables.
type fakeApply struct {
	f      *Fake
	live   []*rules.Table // before the transaction: element operations describe their set from it, as Conn does
	tables []*rules.Table
	stats  Stats
	msgs   int
}

func (a *fakeApply) op(op rules.Op) error {
	switch {
	case op.Table != nil:
		t := op.Table
		fam, err := tableFamily(t.Family)
		if err != nil {
			return err
		}
		switch op.Verb {
		case rules.VerbAdd:
			if err := a.send(tableWhat(t.Ref()), nil); err != nil {
				return err
			}
			a.stats.Tables++
			cur := find(a.tables, t.Family, t.Name)
			if cur == nil {
				cur = &rules.Table{Family: t.Family, Name: t.Name}
				a.tables = append(a.tables, cur)
			}
			return a.fill(cur, t, &nftables.Table{Name: t.Name, Family: fam})
		case rules.VerbDelete:
			i := slices.IndexFunc(a.tables, func(x *rules.Table) bool { return x.Family == t.Family && x.Name == t.Name })
			if i < 0 {
				return a.refused(deleteWhat(t.Ref()), nil, nil, unix.ENOENT)
			}
			if err := a.send(deleteWhat(t.Ref()), nil); err != nil {
				return err
			}
			a.tables = slices.Delete(a.tables, i, i+1)
			return nil
		}
		return fmt.Errorf("%s table %s: not supported", op.Verb, t.Ref())
	case op.Set != "":
		fam, err := tableFamily(op.Family)
		if err != nil {
			return err
		}
		var live *rules.Set
		if t := find(a.live, op.Family, op.TableRef); t != nil {
			live = t.Set(op.Set)
		}
		if live == nil {
			return fmt.Errorf("table %s %s has no set %s", familyName(fam), op.TableRef, op.Set)
		}
		var set *rules.Set
		if t := find(a.tables, op.Family, op.TableRef); t != nil {
			set = t.Set(op.Set)
		}
		switch op.Verb {
		case rules.VerbFlush:
			if set == nil {
				return a.refused(flushWhat(op.Set), nil, nil, unix.ENOENT)
			}
			if err := a.send(flushWhat(op.Set), nil); err != nil {
				return err
			}
			set.Elements = nil
			return nil
		case rules.VerbAdd:
			return a.addElements(set, live, op.Set, op.Elements)
		}
		return fmt.Errorf("%s set %s: not supported", op.Verb, op.Set)
	}
	return errors.New("transaction operation names no object")
}

// fill adds t's content to cur in Conn's order: chains, sets with their
// elements, rules.
func (a *fakeApply) fill(cur, t *rules.Table, nt *nftables.Table) error {
	for _, c := range t.Chains {
		if _, err := chainObject(nt, c); err != nil {
			return err
		}
		if err := a.send(chainWhat(c.Name), nil); err != nil {
			return err
		}
		a.stats.Chains++
		if cur.Chain(c.Name) == nil {
			cur.Chains = append(cur.Chains, &rules.Chain{Name: c.Name, Hook: c.Hook, Priority: c.Priority, Policy: c.Policy})
		}
	}
	for _, s := range t.Sets {
		if _, err := setObject(nt, s); err != nil {
			return err
		}
		if err := a.send(setWhat(s.Name), nil); err != nil {
			return err
		}
		a.stats.Sets++
		set := cur.Set(s.Name)
		if set == nil {
			set = &rules.Set{Name: s.Name, Key: s.Key, Flags: s.Flags, Size: s.Size, Timeout: s.Timeout, Comment: s.Comment}
			cur.Sets = append(cur.Sets, set)
		}
		if s.Dynamic() {
			continue // state, never sent
		}
		if err := a.addElements(set, s, s.Name, s.Elements); err != nil {
			return err
		}
	}
	for _, c := range t.Chains {
		for _, r := range c.Rules {
			if err := a.addRule(cur, c.Name, r); err != nil {
				return err
			}
		}
	}
	return nil
}

// addElements puts elems into set (nil: not in the table) in messages of
// elemsPerMessage kernel elements, as Conn does; def describes the set as
// the encoder sees it.
func (a *fakeApply) addElements(set, def *rules.Set, name string, elems []rules.Element) error {
	ns, err := setObject(&nftables.Table{Family: nftables.TableFamilyINet}, def)
	if err != nil {
		return err
	}
	n := 0
	if err := eachElement(ns, elems, func(nftables.SetElement) error { n++; return nil }); err != nil {
		return fmt.Errorf("set %s: %w", name, err)
	}
	for range (n + elemsPerMessage - 1) / elemsPerMessage {
		if set == nil {
			return a.refused(elementsWhat(name), nil, nil, unix.ENOENT)
		}
		if err := a.send(elementsWhat(name), nil); err != nil {
			return err
		}
	}
	a.stats.Elements += len(elems)
	for _, e := range elems {
		if set.Flags&rules.FlagTimeout != 0 && e.Expires == 0 {
			e.Expires = set.Timeout
		}
		i := slices.IndexFunc(set.Elements, func(x rules.Element) bool { return x.From == e.From && x.To == e.To && x.Proto == e.Proto })
		if i < 0 {
			set.Elements = append(set.Elements, e)
		}
	}
	if set.Flags&rules.FlagInterval != 0 {
		slices.SortStableFunc(set.Elements, cmpFrom)
	}
	return nil
}

// addRule encodes r as Conn does and refuses it as the kernel would if a
// set it names is missing, or is updated from the rule without flags
// dynamic.
func (a *fakeApply) addRule(cur *rules.Table, chain string, r *rules.Rule) error {
	exprs, err := encodeStmts(r.Stmts, fakeLinks{}, nil)
	if err != nil {
		return fmt.Errorf("rule %q in chain %s: %w", r.Comment, chain, err)
	}
	if len(r.Comment) > maxComment {
		return fmt.Errorf("rule %q in chain %s: comment longer than %d bytes", r.Comment, chain, maxComment)
	}
	what := ruleName(r, chain)
	for _, e := range exprs {
		name := exprSet(e)
		if name == "" {
			continue
		}
		s := cur.Set(name)
		if s == nil {
			return a.refused(what, e, exprs, unix.ENOENT)
		}
		if _, ok := e.(*expr.Dynset); ok && !s.Dynamic() {
			return a.refused(what, e, exprs, unix.EOPNOTSUPP)
		}
	}
	if err := a.send(what, exprs); err != nil {
		return err
	}
	a.stats.Rules++
	a.f.handles++
	cp := cloneRule(r)
	cp.Handle = a.f.handles
	ch := cur.Chain(chain)
	ch.Rules = append(ch.Rules, cp)
	return nil
}

// send is one message of the batch: refused if a Refusal names it.
func (a *fakeApply) send(what string, exprs []expr.Any) error {
	a.msgs++
	for _, r := range a.f.refuse {
		if r.What != "" && r.What != what {
			continue
		}
		var at expr.Any
		if r.Expr != "" {
			i := slices.IndexFunc(exprs, func(e expr.Any) bool { return exprName(e) == r.Expr })
			if i < 0 {
				continue
			}
			at = exprs[i]
		}
		errno := r.Err
		if errno == nil {
			errno = unix.EOPNOTSUPP
		}
		return a.refused(what, at, exprs, errno)
	}
	return nil
}

// refused is the error Conn.Apply makes of the kernel's answer to the
// message what (a rule's when exprs is not nil).
func (a *fakeApply) refused(what string, at expr.Any, exprs []expr.Any, errno error) error {
	re := &RefusedError{What: what, Expr: at, Err: errno}
	if exprs != nil {
		re.Sets = ruleSets(exprs)
	}
	return re
}

// fakeLinks resolves every interface name: the fake has all of them.
type fakeLinks struct{}

func (fakeLinks) ifIndex(string) (uint32, error) { return 1, nil }

func find(ts []*rules.Table, family, name string) *rules.Table {
	for _, t := range ts {
		if t.Family == family && t.Name == name {
			return t
		}
	}
	return nil
}

// cloneTable copies t deep enough that neither the caller nor the fake
// sees the other's changes: statements are values, never changed in place.
func cloneTable(t *rules.Table) *rules.Table {
	c := &rules.Table{Family: t.Family, Name: t.Name}
	for _, s := range t.Sets {
		cs := *s
		cs.Elements = slices.Clone(s.Elements)
		c.Sets = append(c.Sets, &cs)
	}
	for _, ch := range t.Chains {
		cc := *ch
		cc.Rules = make([]*rules.Rule, len(ch.Rules))
		for i, r := range ch.Rules {
			cc.Rules[i] = cloneRule(r)
		}
		c.Chains = append(c.Chains, &cc)
	}
	return c
}

func cloneRule(r *rules.Rule) *rules.Rule {
	c := *r
	c.Stmts = slices.Clone(r.Stmts)
	return &c
}
