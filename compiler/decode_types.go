package compiler

import (
	"fmt"
	"net/netip"
	"strings"

	"gopkg.in/yaml.v3"
)

// The YAML forms of the profile's value types. Each reports its own errors
// against the node that holds the bad value.

func (p *PortRange) decodeYAML(d *decoder, n *yaml.Node, path string) {
	if n.Kind != yaml.ScalarNode || (n.Tag != "!!int" && n.Tag != "!!str") {
		d.errorf(n, path, "expected a port or a range \"lo-hi\", got %s", describe(n))
		return
	}
	parse := ParsePortRange
	if n.Tag == "!!int" {
		// A YAML number is one port, however it is signed: -1 is out of
		// range, not a range missing its start.
		parse = func(s string) (PortRange, error) {
			p, err := parsePort(s)
			return PortRange{p, p}, err
		}
	}
	r, err := parse(n.Value)
	if err != nil {
		d.errorf(n, path, "%v", err)
		return
	}
	*p = r
}

func (t *Duration) decodeYAML(d *decoder, n *yaml.Node, path string) {
	s, ok := d.scalar(n, path, "!!str", "a duration such as 30s")
	if !ok {
		return
	}
	v, err := ParseDuration(s)
	if err != nil {
		d.errorf(n, path, "%v", err)
		return
	}
	*t = Duration(v)
}

func (q *Quota) decodeYAML(d *decoder, n *yaml.Node, path string) {
	s, ok := d.scalar(n, path, "!!str", "a quota such as 1MiB/1h")
	if !ok {
		return
	}
	v, err := ParseQuota(s)
	if err != nil {
		d.errorf(n, path, "%v", err)
		return
	}
	*q = v
}

func (r *Rate) decodeYAML(d *decoder, n *yaml.Node, path string) {
	if n.Kind != yaml.ScalarNode || (n.Tag != "!!int" && n.Tag != "!!str") {
		d.errorf(n, path, "expected a rate such as 10/minute, or 0, got %s", describe(n))
		return
	}
	v, err := ParseRate(n.Value)
	if err != nil {
		d.errorf(n, path, "%v", err)
		return
	}
	*r = v
}

// ParseAddress reads a CIDR or a single IPv4 or IPv6 address. A CIDR with
// host bits set is refused: it usually means a typo in the prefix length.
func ParseAddress(s string) (Address, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return Address{}, fmt.Errorf("%q is not a valid CIDR", s)
		}
		if p.Masked() != p {
			return Address{}, fmt.Errorf("%q has host bits set (did you mean %s?)", s, p.Masked())
		}
		return unmapPrefix(s, p)
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return Address{}, fmt.Errorf("%q is not an IPv4 or IPv6 address or CIDR", s)
	}
	a = a.Unmap()
	return Address{Prefix: netip.PrefixFrom(a, a.BitLen())}, nil
}

// mapped4 is where IPv6 writes IPv4 addresses (::ffff:a.b.c.d). No IPv6
// packet carries them, so a v6 set entry there never matches.
var mapped4 = netip.MustParsePrefix("::ffff:0.0.0.0/96")

// unmapPrefix applies one rule to IPv4-mapped IPv6, as ParseAddress does
// to single addresses: a prefix inside ::ffff:0:0/96 is the IPv4 prefix it
// maps (::ffff:0.0.0.0/96 is 0.0.0.0/0, the whole IPv4 internet). A wider
// IPv6 prefix that holds the mapped range but is not ::/0 would be half
// IPv6 and half IPv4 in disguise, so it is refused.
func unmapPrefix(s string, p netip.Prefix) (Address, error) {
	switch {
	case p.Addr().Is4In6() && p.Bits() >= mapped4.Bits():
		return Address{Prefix: netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-mapped4.Bits())}, nil
	case p.Addr().Is6() && p.Bits() > 0 && p.Overlaps(mapped4):
		return Address{}, fmt.Errorf("%q holds the IPv4-mapped range %s; write IPv4 networks as IPv4 CIDRs and IPv6 ones without that range", s, mapped4)
	}
	return Address{Prefix: p}, nil
}

// looksLikeAddress tells a mistyped address from a network name, so that
// "192.168.1.300" is reported as a bad address, not an undefined network.
func looksLikeAddress(s string) bool {
	return strings.ContainsAny(s, ":/") || strings.Trim(s, "0123456789.") == ""
}

// isHostLabels matches a DNS host name with at least two labels (a single
// word is more likely a mistyped network name than a host), as
// `^(?i)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]([a-z0-9-]{0,61}[a-z0-9])?\.?$`
// does for ASCII: labels of letters, digits and inner '-', at most 63
// bytes, the last starting with a letter, and one optional final '.'.
func isHostLabels(s string) bool {
	s = strings.TrimSuffix(s, ".")
	labels := 0
	for s != "" || labels == 0 {
		label, rest, more := strings.Cut(s, ".")
		if !isHostLabel(label) {
			return false
		}
		labels++
		if !more {
			return labels >= 2 && isLetter(label[0])
		}
		s = rest
		if s == "" {
			return false
		}
	}
	return false
}

func isHostLabel(l string) bool {
	if len(l) == 0 || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
		return false
	}
	for i := 0; i < len(l); i++ {
		if c := l[i]; !isLetter(c) && !('0' <= c && c <= '9') && c != '-' {
			return false
		}
	}
	return true
}

func isLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

// IsHostName reports whether a network entry is read as a DNS host name
// (resolved at apply) rather than an address or CIDR.
func IsHostName(s string) bool {
	return !looksLikeAddress(s) && len(s) <= 253 && isHostLabels(s)
}

// decodeYAML reads a network entry: an address, a CIDR or a host name.
func (a *Address) decodeYAML(d *decoder, n *yaml.Node, path string) {
	s, ok := d.scalar(n, path, "!!str", "an address, CIDR or host name")
	if !ok {
		return
	}
	if IsHostName(s) {
		*a = Address{Host: strings.ToLower(strings.TrimSuffix(s, "."))}
		return
	}
	v, err := ParseAddress(s)
	if err != nil {
		d.errorf(n, path, "%v", err)
		return
	}
	*a = v
}

func (ns *Networks) decodeYAML(d *decoder, n *yaml.Node, path string) {
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, "expected a mapping of network names to address lists, got %s", describe(n))
		return
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		key, val := n.Content[i], n.Content[i+1]
		npath := path + "." + key.Value
		if seen[key.Value] {
			d.errorf(key, npath, "network %q is defined twice", key.Value)
			continue
		}
		seen[key.Value] = true
		if err := checkName(key.Value); err != nil {
			d.errorf(key, npath, "network name %v", err)
		}
		// A network is kept even when its value is bad, so that references to
		// it are not reported as undefined on top of the real error.
		nw := Network{Name: key.Value}
		val = d.visit(val, npath)
		if val.Kind == yaml.SequenceNode {
			nw.Entries = make([]Address, len(val.Content))
			for j, item := range val.Content {
				d.decode(item, reflectValue(&nw.Entries[j]), index(npath, j))
			}
		} else {
			d.errorf(val, npath, "expected a list of addresses and CIDRs, got %s", describe(val))
		}
		*ns = append(*ns, nw)
	}
}

func (t *Targets) decodeYAML(d *decoder, n *yaml.Node, path string) {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!str" && n.Value == "any" {
		t.Any = true
		return
	}
	if n.Kind != yaml.SequenceNode {
		d.errorf(n, path, "expected a list of network names and CIDRs, or the word any, got %s", describe(n))
		return
	}
	for i, item := range n.Content {
		ipath := index(path, i)
		item = d.visit(item, ipath)
		s, ok := d.scalar(item, ipath, "!!str", "a network name or CIDR")
		if !ok {
			continue
		}
		if s == "any" {
			d.errorf(item, ipath, "the word any stands alone (write `%s: any`), not inside a list", path[strings.LastIndex(path, ".")+1:])
			continue
		}
		if looksLikeAddress(s) {
			a, err := ParseAddress(s)
			if err != nil {
				d.errorf(item, ipath, "%v", err)
				continue
			}
			t.Refs = append(t.Refs, Ref{Address: &a, Index: i})
			continue
		}
		t.Refs = append(t.Refs, Ref{Network: s, Index: i})
	}
}
