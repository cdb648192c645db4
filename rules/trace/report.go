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

// WriteText writes the chain walk of one packet. With rulesText, every
// rule's statements are shown too.
func (r *Result) WriteText(b *strings.Builder, rulesText bool) {
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
		outcome := "no"
		if rt.Matched {
			outcome = "match"
			if r.Decided != nil && rt.Index == r.Decided.Index {
				outcome = string(r.Verdict)
			}
		}
		fmt.Fprintf(b, "  %3d  %-6s %s\n", rt.Index, outcome, rt.Comment)
		if rulesText {
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
func WriteRun(b *strings.Builder, rs []*Result, rulesText bool) {
	if len(rs) > 1 {
		s := Summarize(rs)
		fmt.Fprintf(b, "%d packets, %d bytes of payload: %d accepted (%d bytes), %d dropped\n",
			s.Packets, s.Bytes, s.Accepted, s.Delivered, s.Packets-s.Accepted)
	}
	for _, g := range Groups(rs) {
		if len(rs) > 1 {
			fmt.Fprintf(b, "\npackets %d-%d: %s by %s\n", g.First, g.Last, g.Trace.Verdict, g.Trace.Entry())
		}
		g.Trace.WriteText(b, rulesText)
	}
}

// Verdict of a whole run: accept when every packet was accepted.
func Verdict(rs []*Result) rules.VerdictKind {
	for _, r := range rs {
		if r.Verdict != rules.Accept {
			return r.Verdict
		}
	}
	return rules.Accept
}
