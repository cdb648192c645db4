// Package trace evaluates packets against a rules.Table, the model that
// devfence renders to `nft -f` text and encodes to netlink, by
// interpreting its statements one by one. It keeps the state the rules
// read and write over a sequence of packets: a conntrack flow table, the
// dynamic sets with their timeouts, quotas and rate limits, standalone
// limits, and a simulated clock. Any statement it cannot interpret is an
// error, never a silent match or miss.
package trace

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/devfence/devfence/rules"
)

// Tracer holds a table and the state a running kernel would hold for it.
type Tracer struct {
	table  *rules.Table
	local  []netip.Addr
	now    time.Duration
	ct     *conntrack
	sets   map[string]*dynSet
	limits map[limitKey]*bucket
	text   map[*rules.Rule]string // each rule's statements as nft text, rendered once
}

type limitKey struct {
	chain      string
	rule, stmt int
}

// New returns a tracer for table on a device with the addresses local
// (what `fib saddr type local` finds besides loopback), at time 0 with no
// connections and empty dynamic sets.
func New(table *rules.Table, local []netip.Addr) *Tracer {
	t := &Tracer{table: table, local: local, ct: newConntrack(), sets: map[string]*dynSet{}, limits: map[limitKey]*bucket{}, text: map[*rules.Rule]string{}}
	for _, s := range table.Sets {
		if s.Dynamic() {
			t.sets[s.Name] = &dynSet{set: s, elems: map[elemKey]*element{}}
		}
	}
	return t
}

// Now is the simulated time since the tracer started.
func (t *Tracer) Now() time.Duration { return t.now }

// Advance moves the clock on: timeouts run out, limits refill.
func (t *Tracer) Advance(d time.Duration) {
	if d > 0 {
		t.now += d
	}
}

// Local is the device's addresses.
func (t *Tracer) Local() []netip.Addr { return t.local }

// Result is what one packet met in its chain.
type Result struct {
	Packet  Packet
	Chain   string
	Ct      CtInfo
	Rules   []RuleTrace // every rule the packet was evaluated against, in order
	Verdict rules.VerdictKind
	// Decided is the rule whose verdict ended the chain (the last of
	// Rules), or nil when the chain's policy did.
	Decided *RuleTrace
}

// CtInfo is the packet's conntrack view at the filter hook.
type CtInfo struct {
	State     string   // new, established, related, invalid, untracked
	Direction string   // original or reply; "" without a connection
	Status    []string // seen-reply, assured
	Mark      uint32
}

// RuleTrace is one rule and how far the packet got in it.
type RuleTrace struct {
	Index   int    // position in the chain, from 1
	Rule    string // the statements, as nft text
	Comment string // the profile entry the rule came from
	Matched bool   // every statement passed
	// Stop is why evaluation stopped short: the statement and what the
	// packet had instead.
	Stop string
	// Metered: the rule stopped at a quota, a rate limit or a full set,
	// not at a match; the packet fitted it otherwise.
	Metered bool
	Effects []string // what the rule changed: sets, marks, logs
}

// Send evaluates p at the current time in the chain for its hook, and
// keeps what it changed (conntrack, sets, limits) for the packets after.
func (t *Tracer) Send(p Packet) (*Result, error) {
	chain := t.chainFor(p.Hook)
	if chain == nil {
		return nil, fmt.Errorf("table %s has no base chain for hook %s", t.table.Ref(), p.Hook)
	}
	if p.Iface == "" {
		p.Iface = "eth0"
	}
	if p.HopLimit == 0 {
		p.HopLimit = 64
	}
	v := t.ct.track(&p, t.now)
	v.override(&p)
	res := &Result{Packet: p, Chain: chain.Name, Ct: v.info()}
	// Statements write to the dynamic sets as they run; a packet whose
	// later statement fails keeps those writes, as in the kernel.
	for i, r := range chain.Rules {
		text, ok := t.text[r]
		if !ok {
			text = stmtsText(r)
			t.text[r] = text
		}
		rt := RuleTrace{Index: i + 1, Rule: text, Comment: r.Comment}
		e := evaluation{t: t, p: &p, ct: &v, chain: chain.Name, ruleIdx: i}
		verdict, err := e.run(r, &rt)
		if err != nil {
			return nil, fmt.Errorf("%s rule %d (%s): %w", chain.Name, i+1, r.Comment, err)
		}
		res.Rules = append(res.Rules, rt)
		if verdict != "" {
			res.Verdict = verdict
			res.Decided = &res.Rules[len(res.Rules)-1]
			break
		}
	}
	if res.Verdict == "" {
		res.Verdict = chain.Policy
	}
	t.ct.commit(v, res.Verdict == rules.Accept)
	return res, nil
}

func (t *Tracer) chainFor(h rules.Hook) *rules.Chain {
	for _, c := range t.table.Chains {
		if c.Hook == h {
			return c
		}
	}
	return nil
}

func stmtsText(r *rules.Rule) string {
	s := make([]string, len(r.Stmts))
	for i, st := range r.Stmts {
		s[i] = st.String()
	}
	return strings.Join(s, " ")
}

func (v *ctView) info() CtInfo {
	var c CtInfo
	switch v.state {
	case rules.CtNew:
		c.State = "new"
	case rules.CtEstablished:
		c.State = "established"
	case rules.CtRelated:
		c.State = "related"
	case rules.CtInvalid:
		c.State = "invalid"
	case ctUntracked:
		c.State = "untracked"
	}
	if v.flow != nil {
		c.Direction = "original"
		if v.reply {
			c.Direction = "reply"
		}
		c.Mark = v.mark
	}
	c.Status = []string{}
	if v.status&rules.CtSeenReply != 0 {
		c.Status = append(c.Status, "seen-reply")
	}
	if v.status&rules.CtAssured != 0 {
		c.Status = append(c.Status, "assured")
	}
	return c
}
