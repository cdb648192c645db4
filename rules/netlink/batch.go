package netlink

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	mnl "github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/devfence/devfence/rules"
)

// Stats counts what a batch carried.
type Stats struct {
	Messages                              int
	Tables, Sets, Elements, Chains, Rules int
}

// batch collects the messages of one transaction on the nftables.Conn and,
// in the same order, what each message is about.
type batch struct {
	c     *Conn
	nft   *nftables.Conn
	nl    *mnl.Conn // nft's socket
	ref   string
	msgs  []msgNote
	sets  map[string]*nftables.Set
	stats Stats
}

type msgNote struct {
	what string
	rule *ruleMsg
}

func (b *batch) note(what string, r *ruleMsg) { b.msgs = append(b.msgs, msgNote{what, r}) }

// Apply sends the transaction to the kernel as one batch, which the kernel
// commits whole or not at all. A refusal comes back as a *RefusedError
// naming the object (a rule by its comment) and, where the kernel says, the
// expression it refused.
func (c *Conn) Apply(tx *rules.Transaction) (Stats, error) {
	if err := tx.Err(); err != nil {
		return Stats{}, err
	}
	nft, nl, err := c.batchConn()
	if err != nil {
		return Stats{}, err
	}
	defer nft.CloseLasting()
	b := &batch{c: c, nft: nft, nl: nl, sets: map[string]*nftables.Set{}}
	for _, op := range tx.Ops {
		if err := b.op(op); err != nil {
			return Stats{}, err
		}
	}
	b.stats.Messages = len(b.msgs)
	if len(b.msgs) == 0 {
		return b.stats, nil
	}
	return b.stats, b.flush()
}

func (b *batch) op(op rules.Op) error {
	switch {
	case op.Table != nil:
		t := op.Table
		fam, err := tableFamily(t.Family)
		if err != nil {
			return err
		}
		b.ref = t.Ref()
		nt := &nftables.Table{Name: t.Name, Family: fam}
		switch op.Verb {
		case rules.VerbAdd:
			b.addTable(nt)
			return b.fill(nt, t)
		case rules.VerbDelete:
			b.delTable(nt)
			return nil
		}
		return fmt.Errorf("%s table %s: not supported", op.Verb, t.Ref())
	case op.Set != "":
		fam, err := tableFamily(op.Family)
		if err != nil {
			return err
		}
		b.ref = op.Family + " " + op.TableRef
		nt := &nftables.Table{Name: op.TableRef, Family: fam}
		ns, ok := b.sets[op.Set]
		if !ok {
			if ns, err = b.c.liveSet(nt, op.Set); err != nil {
				return err
			}
			b.sets[op.Set] = ns
		}
		switch op.Verb {
		case rules.VerbFlush:
			b.nft.FlushSet(ns)
			b.note(flushWhat(op.Set), nil)
			return nil
		case rules.VerbAdd:
			return b.addElements(ns, op.Elements)
		}
		return fmt.Errorf("%s set %s: not supported", op.Verb, op.Set)
	}
	return errors.New("transaction operation names no object")
}

// fill queues the table's content in the order nft sends it (chains, then
// sets with their elements, then rules), so even the handles the kernel
// allocates match a table loaded with `nft -f`.
func (b *batch) fill(nt *nftables.Table, t *rules.Table) error {
	chains := make(map[string]*nftables.Chain, len(t.Chains))
	for _, c := range t.Chains {
		nc, err := b.addChain(nt, c)
		if err != nil {
			return err
		}
		chains[c.Name] = nc
	}
	for _, s := range t.Sets {
		if err := b.addSet(nt, s); err != nil {
			return err
		}
	}
	for _, c := range t.Chains {
		for _, r := range c.Rules {
			if err := b.addRule(nt, chains[c.Name], r); err != nil {
				return err
			}
		}
	}
	return nil
}

func (b *batch) flush() error {
	// Learn the sequence number the batch will start at: the probe takes
	// the socket's next number, batch begin the one after, then one per
	// message in queue order. google/nftables reports only the sequence of
	// a refused message.
	probe, err := b.nl.Execute(genRequest())
	if err != nil {
		return fmt.Errorf("nf_tables: %w", permission(err))
	}
	first := probe[0].Header.Sequence + 2
	// google/nftables sizes the socket buffers itself unless socket options
	// are set, as they are here; a batch is sent in one sendmsg.
	size := 1 << 20
	for _, m := range b.msgs {
		size += 1024
		if m.rule != nil {
			size += 4096
		}
	}
	size += 64 * b.stats.Elements
	_ = b.nl.SetWriteBuffer(size)
	_ = b.nl.SetReadBuffer(max(size, 8<<20))

	err = b.nft.Flush()
	if err == nil {
		return nil
	}
	var oe *mnl.OpError
	if !errors.As(err, &oe) || oe.Sequence < first || int(oe.Sequence-first) >= len(b.msgs) {
		return fmt.Errorf("nf_tables batch: %w", permission(err))
	}
	n := b.msgs[oe.Sequence-first]
	re := &RefusedError{What: n.what, Err: oe.Err, Message: oe.Message}
	if errors.Is(oe.Err, unix.EPERM) && !hasNetAdmin() {
		re.Err = fmt.Errorf("%w: %w", ErrPermission, oe.Err)
	}
	if n.rule != nil {
		if i, ok := n.rule.exprAt(byte(nftables.TableFamilyINet), oe.Offset); ok && oe.Offset > 0 {
			re.Expr = n.rule.exprs[i]
		}
		re.Sets = ruleSets(n.rule.exprs)
	}
	return re
}

// RefusedError is a batch the kernel refused, mapped back to the message
// that failed.
type RefusedError struct {
	What    string   // e.g. `rule "egress.allow dns" in chain output`
	Expr    expr.Any // the expression the kernel pointed at, if it did
	Sets    []string // sets the refused rule uses
	Message string   // the kernel's extended ack text, if any
	Err     error    // the errno
}

func (e *RefusedError) Error() string {
	var b strings.Builder
	b.WriteString("kernel refused " + e.What)
	var detail []string
	if e.Expr != nil {
		name := exprName(e.Expr)
		detail = append(detail, "expression "+name)
		if set := exprSet(e.Expr); set != "" {
			detail = append(detail, "set "+set)
		}
	} else if len(e.Sets) == 1 {
		detail = append(detail, "set "+e.Sets[0])
	} else if len(e.Sets) > 1 {
		detail = append(detail, "sets "+strings.Join(e.Sets, ", "))
	}
	if len(detail) > 0 {
		b.WriteString(" (" + strings.Join(detail, ", ") + ")")
	}
	b.WriteString(": ")
	b.WriteString(e.Err.Error())
	if e.Message != "" {
		b.WriteString(" (" + e.Message + ")")
	}
	if hint := e.featureHint(); hint != "" {
		b.WriteString("; " + hint)
	}
	return b.String()
}

func (e *RefusedError) Unwrap() error { return e.Err }

// featureHint names the kernel feature behind a refused expression: a
// kernel without a module answers ENOENT (no such expression type) or
// EOPNOTSUPP (the expression exists but not in this use).
func (e *RefusedError) featureHint() string {
	if e.Expr == nil || !(errors.Is(e.Err, unix.ENOENT) || errors.Is(e.Err, unix.EOPNOTSUPP)) {
		return ""
	}
	name := exprName(e.Expr)
	if d, ok := e.Expr.(*expr.Dynset); ok && errors.Is(e.Err, unix.EOPNOTSUPP) {
		hint := fmt.Sprintf("set %s cannot be updated from the datapath (it needs flags dynamic", d.SetName)
		if len(d.Exprs) > 0 {
			hint += fmt.Sprintf(", and a kernel with %s expressions in set elements", exprName(d.Exprs[0]))
		}
		return hint + ")"
	}
	if errors.Is(e.Err, unix.ENOENT) && exprSet(e.Expr) != "" {
		return "" // a missing set, not a missing feature
	}
	if mod, ok := exprModules[name]; ok {
		return fmt.Sprintf("the kernel lacks the %s expression (module %s)", name, mod)
	}
	return fmt.Sprintf("the kernel lacks the %s expression", name)
}

var exprModules = map[string]string{
	"ct": "nft_ct", "fib": "nft_fib_inet", "limit": "nft_limit", "log": "nft_log", "quota": "nft_quota",
	"counter": "nf_tables", "dynset": "nf_tables", "lookup": "nf_tables", "payload": "nf_tables",
	"meta": "nf_tables", "cmp": "nf_tables", "bitwise": "nf_tables", "immediate": "nf_tables",
}

func exprName(e expr.Any) string {
	switch e.(type) {
	case *expr.Meta:
		return "meta"
	case *expr.Cmp:
		return "cmp"
	case *expr.Payload:
		return "payload"
	case *expr.Bitwise:
		return "bitwise"
	case *expr.Lookup:
		return "lookup"
	case *expr.Ct:
		return "ct"
	case *expr.Verdict, *expr.Immediate:
		return "immediate"
	case *expr.Counter:
		return "counter"
	case *expr.Dynset:
		return "dynset"
	case *expr.Quota:
		return "quota"
	case *expr.Limit:
		return "limit"
	case *expr.Log:
		return "log"
	case *expr.Fib:
		return "fib"
	}
	return fmt.Sprintf("%T", e)
}

func exprSet(e expr.Any) string {
	switch e := e.(type) {
	case *expr.Lookup:
		return e.SetName
	case *expr.Dynset:
		return e.SetName
	}
	return ""
}

func ruleSets(exprs []expr.Any) []string {
	var out []string
	for _, e := range exprs {
		if s := exprSet(e); s != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

func familyName(f nftables.TableFamily) string {
	for name, v := range families {
		if v == f {
			return name
		}
	}
	return fmt.Sprintf("family-%d", f)
}
