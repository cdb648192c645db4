package rules

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// elementsInline is the most elements written on one line; longer lists get
// one element per line so that a diff shows exactly which changed.
const elementsInline = 4

// WriteTable writes the table as an nft block, the way `nft list` shows it.
func WriteTable(w io.Writer, t *Table) {
	b := &strings.Builder{}
	fmt.Fprintf(b, "table %s {\n", t.Ref())
	for i, s := range t.Sets {
		if i > 0 {
			b.WriteString("\n")
		}
		writeSet(b, s)
	}
	for i, c := range t.Chains {
		if i > 0 || len(t.Sets) > 0 {
			b.WriteString("\n")
		}
		writeChain(b, c)
	}
	b.WriteString("}\n")
	io.WriteString(w, b.String())
}

// String renders the table block.
func (t *Table) String() string {
	b := &strings.Builder{}
	WriteTable(b, t)
	return b.String()
}

func writeSet(b *strings.Builder, s *Set) {
	fmt.Fprintf(b, "\tset %s {\n\t\ttype %s\n", s.Name, s.Key)
	if s.Size > 0 {
		fmt.Fprintf(b, "\t\tsize %d\n", s.Size)
	}
	var flags []string
	for _, f := range []struct {
		bit  SetFlags
		name string
	}{{FlagInterval, "interval"}, {FlagDynamic, "dynamic"}, {FlagTimeout, "timeout"}} {
		if s.Flags&f.bit != 0 {
			flags = append(flags, f.name)
		}
	}
	if len(flags) > 0 {
		fmt.Fprintf(b, "\t\tflags %s\n", strings.Join(flags, ","))
	}
	if s.Timeout > 0 {
		fmt.Fprintf(b, "\t\ttimeout %s\n", nftDuration(s.Timeout))
	}
	if s.Comment != "" {
		fmt.Fprintf(b, "\t\tcomment %s\n", quote(s.Comment))
	}
	if !s.Dynamic() && len(s.Elements) > 0 {
		elems := make([]string, len(s.Elements))
		for i, e := range s.Elements {
			elems[i] = e.String()
		}
		if len(elems) <= elementsInline {
			fmt.Fprintf(b, "\t\telements = { %s }\n", strings.Join(elems, ", "))
		} else {
			fmt.Fprintf(b, "\t\telements = {\n\t\t\t%s\n\t\t}\n", strings.Join(elems, ",\n\t\t\t"))
		}
	}
	b.WriteString("\t}\n")
}

func writeChain(b *strings.Builder, c *Chain) {
	fmt.Fprintf(b, "\tchain %s {\n", c.Name)
	// A chain without a hook is a regular chain (one read back from the
	// kernel, made by hand); it has no type line.
	if c.Hook != "" {
		fmt.Fprintf(b, "\t\ttype filter hook %s priority %s; policy %s;\n", c.Hook, priority(c.Priority), c.Policy)
	}
	for _, r := range c.Rules {
		b.WriteString("\t\t")
		r.write(b)
		b.WriteByte('\n')
	}
	b.WriteString("\t}\n")
}

// String renders the rule's statements and comment on one line.
func (r *Rule) String() string {
	var b strings.Builder
	r.write(&b)
	return b.String()
}

// write appends the rule to b: rendering is the hot path of fleet compiles.
func (r *Rule) write(b *strings.Builder) {
	for i, s := range r.Stmts {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(s.String())
	}
	if r.Comment != "" {
		if len(r.Stmts) > 0 {
			b.WriteByte(' ')
		}
		b.WriteString("comment ")
		b.WriteString(quote(r.Comment))
	}
}

// String renders an element as nft writes it: an address, a CIDR, or a range.
func (e Element) String() string {
	if !e.From.IsValid() {
		return fmt.Sprint(e.Proto)
	}
	if e.From == e.To {
		return e.From.String()
	}
	if p, ok := e.Prefix(); ok {
		return p.String()
	}
	return e.From.String() + "-" + e.To.String()
}

func priority(p int) string {
	switch {
	case p == PriorityFilter:
		return "filter"
	case p > 0:
		return fmt.Sprintf("filter + %d", p)
	default:
		return fmt.Sprintf("filter - %d", -p)
	}
}

// nftDuration writes a duration the way nft does: "1h", "10m", "1h30m".
func nftDuration(d time.Duration) string {
	var b strings.Builder
	for _, u := range []struct {
		unit time.Duration
		name string
	}{{24 * time.Hour, "d"}, {time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}, {time.Millisecond, "ms"}} {
		if n := d / u.unit; n > 0 {
			fmt.Fprintf(&b, "%d%s", n, u.name)
			d -= n * u.unit
		}
	}
	if b.Len() == 0 {
		return "0s"
	}
	return b.String()
}
