package mud

import (
	"bytes"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"
)

// The profile is written by hand rather than marshalled: the comments (what
// was not imported, where each rule came from) have to sit in fixed places,
// and the layout should match the examples in PROFILE.md.

// defaultQuota is always set, so that rules to `any` pass the built-in
// policies; it is the per-peer budget PROFILE.md shows.
const defaultQuota = "1MiB/1h"

func (c *converter) result() *Result {
	c.nameRules()
	res := &Result{Unmapped: c.unmapped, Notes: c.notes, Warnings: c.warnings, Skipped: c.skipped, Report: c.makeReport()}
	for _, n := range c.netList {
		if len(n.addrs) == 0 {
			res.Unbound = append(res.Unbound, n.name)
		}
	}
	var b bytes.Buffer
	c.writeHeader(&b, res.Unbound)
	c.writeBody(&b)
	res.YAML = b.Bytes()
	return res
}

func (c *converter) writeHeader(b *bytes.Buffer, unbound []string) {
	src := "a MUD file"
	if c.opt.Source != "" {
		// The base name only: the bytes should not depend on where the file was.
		src = "the MUD file " + oneLine(filepath.Base(c.opt.Source))
	}
	fmt.Fprintf(b, "# Imported by devfence import-mud from %s (RFC 8520).\n", src)
	in := c.info
	for _, f := range []struct{ k, v string }{
		{"mud-url", in.url}, {"mud-signature", in.signature}, {"last-update", in.lastUpdate},
		{"documentation", in.documentation}, {"firmware-rev", in.firmwareRev},
		{"software-rev", in.softwareRev}, {"extensions", strings.Join(in.extensions, ", ")},
	} {
		if f.v != "" {
			fmt.Fprintf(b, "# %s: %s\n", f.k, oneLine(f.v))
		}
	}
	b.WriteString("#\n")
	switch {
	case len(c.unmapped) == 0 && len(c.skipped) == 0:
		b.WriteString("# Every construct of the MUD file was imported.\n")
	case len(c.unmapped) == 0:
		b.WriteString("# Every construct of the MUD file but the defective ones below was imported.\n")
	default:
		fmt.Fprintf(b, "# Not imported (%d); review each: devfence drops what no rule below allows:\n", len(c.unmapped))
		for _, u := range c.unmapped {
			fmt.Fprintf(b, "#   - %s\n", oneLine(u))
		}
	}
	if len(c.skipped) > 0 {
		fmt.Fprintf(b, "#\n# Skipped as defective (%d); the rest of the file was imported:\n", len(c.skipped))
		for _, e := range c.skipped {
			fmt.Fprintf(b, "#   - %d:%d: %s: %s\n", e.Line, e.Column, e.Path, oneLine(e.Message))
		}
	}
	if len(c.warnings) > 0 {
		fmt.Fprintf(b, "#\n# Read as meant, though the RFCs write it otherwise (%d):\n", len(c.warnings))
		for _, e := range c.warnings {
			fmt.Fprintf(b, "#   - %d:%d: %s: %s\n", e.Line, e.Column, e.Path, oneLine(e.Message))
		}
	}
	if len(c.notes) > 0 {
		fmt.Fprintf(b, "#\n# Imported with a note (%d):\n", len(c.notes))
		for _, n := range c.notes {
			fmt.Fprintf(b, "#   - %s\n", n)
		}
	}
	if len(c.essential) > 0 {
		b.WriteString("#\n# DHCP client, allowed by essentials.dhcp (on by default; no rule needed):\n")
		wrap(b, "#   ", c.essential)
	}
	if len(c.replies) > 0 {
		b.WriteString("#\n# Replies only, let through by inbound.policy established-only (no rule needed):\n")
		wrap(b, "#   ", c.replies)
	}
	if len(unbound) > 0 {
		fmt.Fprintf(b, "#\n# Unbound networks (%d); give each addresses with --bind NAME=CIDR[,CIDR...],\n", len(unbound))
		b.WriteString("# the profile does not load while one is empty:\n")
		for _, n := range c.netList {
			if len(n.addrs) == 0 {
				fmt.Fprintf(b, "#   - %s (%s)\n", n.name, oneLine(n.comment))
			}
		}
	}
	for _, n := range c.netList {
		if strings.HasPrefix(n.key, "dns:") {
			b.WriteString("#\n# DNS names stay names: devfence apply resolves them (and refresh keeps\n")
			b.WriteString("# them current) on the device, which therefore needs an egress rule to its\n")
			b.WriteString("# DNS resolver; MUD leaves name resolution to the network.\n")
			break
		}
	}
	b.WriteString("\n")
}

// wrap writes items comma-separated on comment lines of about 80 columns.
func wrap(b *bytes.Buffer, prefix string, items []string) {
	line := prefix
	for i, it := range items {
		it = oneLine(it)
		if i < len(items)-1 {
			it += ","
		}
		if line != prefix && len(line)+1+len(it) > 80 {
			b.WriteString(line + "\n")
			line = prefix
		}
		if line != prefix {
			line += " "
		}
		line += it
	}
	b.WriteString(line + "\n")
}

func (c *converter) writeBody(b *bytes.Buffer) {
	b.WriteString("version: 1\ndevice:\n")
	fmt.Fprintf(b, "  name: %s\n", scalar(c.deviceName()))
	fmt.Fprintf(b, "  description: %s\n", text(c.description()))

	b.WriteString("\nnetworks:")
	if len(c.netList) == 0 {
		b.WriteString(" {}\n")
	} else {
		b.WriteString("\n")
		for _, n := range c.netList {
			fmt.Fprintf(b, "  %s: %s  # %s\n", scalar(n.name), flow(n.addrs), oneLine(n.comment))
		}
	}

	b.WriteString("\ninbound:\n  policy: established-only\n  services:")
	c.writeRules(b, true)

	fmt.Fprintf(b, "\negress:\n  quota: %s\n  allow:", defaultQuota)
	c.writeRules(b, false)
}

func (c *converter) writeRules(b *bytes.Buffer, inbound bool) {
	n := 0
	for _, r := range c.rules {
		if r.inbound != inbound {
			continue
		}
		if n == 0 {
			b.WriteString("\n")
		}
		n++
		fmt.Fprintf(b, "    - name: %s  # %s\n", scalar(r.name), oneLine(strings.Join(r.origins, ", ")))
		if !inbound {
			fmt.Fprintf(b, "      to: %s\n", c.targets(r))
		}
		fmt.Fprintf(b, "      proto: %s\n", r.proto)
		switch {
		case !hasPorts(r.proto):
		case r.port.lo == r.port.hi:
			fmt.Fprintf(b, "      port: %d\n", r.port.lo)
		default:
			fmt.Fprintf(b, "      port: %q\n", r.port.String())
		}
		if len(r.types) > 0 {
			fmt.Fprintf(b, "      types: %s\n", flow(r.types))
		}
		if inbound {
			fmt.Fprintf(b, "      from: %s\n", c.targets(r))
		}
	}
	if n == 0 {
		b.WriteString(" []\n")
	}
}

// targets renders a rule's peer. A rule whose ACE names no peer may reach
// every address, but only of the IP family the ACE matched: an IPv4 ACE
// becomes 0.0.0.0/0, not any, which would let IPv6 through as well. Inbound
// services cannot say any at all, so theirs is spelt as both prefixes.
func (c *converter) targets(r *rule) string {
	switch {
	case !r.any && r.peer.key != "":
		return flow([]string{c.nets[r.peer.key].name})
	case !r.any:
		return flow([]string{r.peer.lit})
	case r.anyFamily == 4:
		return flow([]string{"0.0.0.0/0"})
	case r.anyFamily == 6:
		return flow([]string{"::/0"})
	case r.inbound:
		return flow([]string{"0.0.0.0/0", "::/0"})
	}
	return "any"
}

func flow(items []string) string {
	q := make([]string, len(items))
	for i, it := range items {
		q[i] = scalar(it)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

var (
	plainRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9./-]*$`)
	// textRE leaves out what YAML could read as syntax in a block scalar
	// (": ", " #", quotes, indicators); the round trip below catches the rest.
	textRE = regexp.MustCompile("^[A-Za-z0-9][^\\x00-\\x1f\\x7f#:\"'{}\\[\\]&*!|>%@`]*$")
)

// scalar writes s plain when YAML reads it back as that same string, and
// double-quoted otherwise: a rule named "1" or "true", or an IPv6 address.
// Its plain form is also safe inside a flow list.
func scalar(s string) string {
	if plainRE.MatchString(s) && readsBack(s) {
		return s
	}
	return jsonQuote(s)
}

// text is scalar for a value of its own line, such as a description, where
// spaces and commas need no quotes.
func text(s string) string {
	if textRE.MatchString(s) && !strings.HasSuffix(s, " ") && readsBack(s) {
		return s
	}
	return jsonQuote(s)
}

func readsBack(s string) bool {
	var n yaml.Node
	return yaml.Unmarshal([]byte("v: "+s), &n) == nil && len(n.Content) == 1 &&
		len(n.Content[0].Content) == 2 && n.Content[0].Content[1].Tag == "!!str" &&
		n.Content[0].Content[1].Value == s
}
