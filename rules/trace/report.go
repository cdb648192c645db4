package trace

import (
	"fmt"
	"strings"

	"github.com/devfence/devfence/rules"
)

// Group is a run of consecutive packets that met the same end: the same
// verdict from the same rule. A burst of many packets reads as a few
// groups (accepted while the quota lasted, then dropped).
type Group struct {
	First, Last int     // packet numbers, from 1
	Trace       *Result // the group's first packet
}

// Groups splits a run into groups.
func Groups(rs []*Result) []Group {
	var out []Group
	for i, r := range rs {
		if n := len(out); n > 0 && sameEnd(out[n-1].Trace, r) {
			out[n-1].Last = i + 1
			continue
		}
		out = append(out, Group{First: i + 1, Last: i + 1, Trace: r})
	}
	return out
}

func sameEnd(a, b *Result) bool {
	if a.Verdict != b.Verdict || (a.Decided == nil) != (b.Decided == nil) {
		return false
	}
	return a.Decided == nil || a.Decided.Index == b.Decided.Index
}

// Entry is the profile entry that decided: the deciding rule's comment,
// or the chain's policy.
func (r *Result) Entry() string {
	if r.Decided == nil {
		return "policy " + string(r.Verdict) + " of chain " + r.Chain
	}
	return r.Decided.Comment
}

// Detail is how much of a chain walk WriteText shows.
type Detail int

const (
	// Decisive shows only the rules that matched, changed something, or
	// stopped at a quota, limit or full set.
	Decisive Detail = iota
	// Walk shows every rule the packet met, and why each did not match.
	Walk
	// Statements also shows each rule's statements.
	Statements
)

// WriteText writes the chain walk of one packet.
func (r *Result) WriteText(b *strings.Builder, detail Detail) {
	fmt.Fprintf(b, "packet: %s\n", r.Packet.String())
	c := r.Ct
	ct := "conntrack: " + c.State
	if c.Direction != "" {
		ct += ", " + c.Direction
		if len(c.Status) > 0 {
			ct += ", " + strings.Join(c.Status, ",")
		}
		ct += fmt.Sprintf(", mark 0x%x", c.Mark)
	}
	b.WriteString(ct + "\n")
	fmt.Fprintf(b, "chain %s:\n", r.Chain)
	for _, rt := range r.Rules {
		if detail == Decisive && !rt.Matched && !rt.Metered && len(rt.Effects) == 0 {
			continue
		}
		outcome := "no"
		if rt.Matched {
			outcome = "match"
			if r.Decided != nil && rt.Index == r.Decided.Index {
				outcome = string(r.Verdict)
			}
		}
		fmt.Fprintf(b, "  %3d  %-6s %s\n", rt.Index, outcome, rt.Comment)
		if detail == Statements {
			fmt.Fprintf(b, "              rule: %s\n", rt.Rule)
		}
		if rt.Stop != "" {
			fmt.Fprintf(b, "              %s\n", rt.Stop)
		}
		for _, e := range rt.Effects {
			fmt.Fprintf(b, "              + %s\n", e)
		}
	}
	if r.Decided == nil {
		fmt.Fprintf(b, "verdict: %s, by the policy of chain %s\n", r.Verdict, r.Chain)
		return
	}
	fmt.Fprintf(b, "verdict: %s, by rule %d: %s\n", r.Verdict, r.Decided.Index, r.Decided.Comment)
}

// WriteRun writes a run: its summary when it has more than one packet,
// then the chain walk of each group's first packet.
func WriteRun(b *strings.Builder, rs []*Result, detail Detail) {
	if len(rs) > 1 {
		s := Summarize(rs)
		fmt.Fprintf(b, "%d packets, %d bytes of payload: %d accepted (%d bytes), %d dropped\n",
			s.Packets, s.Bytes, s.Accepted, s.Delivered, s.Packets-s.Accepted)
	}
	for _, g := range Groups(rs) {
		if len(rs) > 1 {
			fmt.Fprintf(b, "\npackets %d-%d: %s by %s\n", g.First, g.Last, g.Trace.Verdict, g.Trace.Entry())
		}
		g.Trace.WriteText(b, detail)
	}
}

// Partial is the verdict of a run whose packets met different verdicts.
const Partial = "partial"

// Verdict of a whole run: the verdict all its packets met, or Partial.
func Verdict(rs []*Result) rules.VerdictKind {
	v := rs[0].Verdict
	for _, r := range rs[1:] {
		if r.Verdict != v {
			return Partial
		}
	}
	return v
}
