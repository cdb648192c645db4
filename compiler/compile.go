package compiler

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/devfence/devfence/rules"
)

// DefaultTable is the table devfence owns unless told otherwise.
const DefaultTable = "devfence"

// Options tune compilation.
type Options struct {
	Table string // table name in family inet; "" is DefaultTable
	// Resolved holds the addresses of the host names in networks. A host
	// missing here compiles to an empty place in its sets, named in the
	// sets' comments, for apply or refresh to fill.
	Resolved map[string][]netip.Addr
}

// Compile turns a loaded profile into the devfence table. It assumes a
// profile that Load accepted.
func Compile(p *Profile, opt Options) (*rules.Table, error) {
	if p.Inbound.Policy != "established-only" {
		return nil, fmt.Errorf("inbound.policy %q: devfence only compiles established-only", p.Inbound.Policy)
	}
	name := opt.Table
	if name == "" {
		name = DefaultTable
	}
	if err := checkTableName(name); err != nil {
		return nil, err
	}
	c := &compilation{p: p, t: &rules.Table{Family: "inet", Name: name}, resolved: opt.Resolved}
	in := &rules.Chain{Name: "input", Hook: rules.HookInput, Priority: rules.PriorityFilter, Policy: rules.Drop}
	out := &rules.Chain{Name: "output", Hook: rules.HookOutput, Priority: rules.PriorityFilter, Policy: rules.Drop}
	fwd := &rules.Chain{Name: "forward", Hook: rules.HookForward, Priority: rules.PriorityFilter, Policy: rules.Drop}
	c.declareSets()
	c.input(in)
	c.output(out)
	c.t.Chains = []*rules.Chain{in, out, fwd}
	c.pruneSets()
	if err := checkSetNames(c.t); err != nil {
		return nil, err
	}
	return c.t, nil
}

func checkTableName(name string) error {
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') {
			return fmt.Errorf("table name %q: use lowercase letters, digits and _", name)
		}
	}
	if name == "" || len(name) > 64 {
		return fmt.Errorf("table name %q must be 1-64 characters", name)
	}
	return nil
}

type compilation struct {
	p        *Profile
	t        *rules.Table
	resolved map[string][]netip.Addr

	// Set names per family, by the index of the profile entry they serve.
	services   []map[rules.Family]string
	handshakes []map[rules.Family]string
	allow      []map[rules.Family]string
	consent    map[rules.Family]string
	quotas     map[string]map[rules.Family]string // by allow rule name, or defaultQuota
	unassured  map[rules.Family]string            // rate meters of unassured service replies
}

var families = []rules.Family{rules.IPv4, rules.IPv6}

// addrSets declares the static sets holding the addresses of targets, one
// per family that has any, named by kind and the entry's name. It returns
// the set name per family; a family without addresses is absent.
func (c *compilation) addrSets(kind, entry, comment string, t Targets) map[rules.Family]string {
	byFamily := map[rules.Family][]netip.Prefix{}
	var hosts []string
	for _, ref := range t.Refs {
		var entries []Address
		if ref.Address != nil {
			entries = []Address{*ref.Address}
		} else {
			nw, _ := c.p.Networks.Lookup(ref.Network)
			entries = nw.Entries
		}
		for _, e := range entries {
			if e.Host != "" {
				hosts = append(hosts, e.Host)
				for _, a := range c.resolved[e.Host] {
					a = a.Unmap()
					byFamily[family(a)] = append(byFamily[family(a)], netip.PrefixFrom(a, a.BitLen()))
				}
				continue
			}
			byFamily[family(e.Prefix.Addr())] = append(byFamily[family(e.Prefix.Addr())], e.Prefix)
		}
	}
	if len(hosts) > 0 {
		slices.Sort(hosts)
		comment += "; hosts " + strings.Join(slices.Compact(hosts), " ")
	}
	names := map[rules.Family]string{}
	for _, f := range families {
		// A host may resolve to either family, so its sets exist in both.
		if len(byFamily[f]) == 0 && len(hosts) == 0 {
			continue
		}
		name := namedSet(kind, entry, f)
		c.t.Sets = append(c.t.Sets, &rules.Set{
			Name: name, Key: keyType(f), Flags: rules.FlagInterval,
			Elements: rules.Merge(byFamily[f]), Comment: comment,
		})
		names[f] = name
	}
	return names
}

func family(a netip.Addr) rules.Family {
	if a.Is4() {
		return rules.IPv4
	}
	return rules.IPv6
}

// rule builds a rule for family f from statements, putting the family guard
// first: in an inet table every address match needs `meta nfproto`, and
// writing it out keeps the text and netlink forms identical.
func rule(f rules.Family, comment string, stmts ...rules.Stmt) *rules.Rule {
	all := make([]rules.Stmt, 0, len(stmts)+1)
	if f != 0 {
		all = append(all, rules.Meta{Key: rules.MetaNFProto, Value: f.NFProto()})
	}
	return &rules.Rule{Stmts: append(all, stmts...), Comment: comment}
}

func port(proto string, field rules.AddrField, p PortRange) rules.Stmt {
	return rules.PortMatch{Proto: proto, Field: field, Lo: p.Lo, Hi: p.Hi}
}

func accept() rules.Stmt { return rules.Verdict{Kind: rules.Accept} }
func drop() rules.Stmt   { return rules.Verdict{Kind: rules.Drop} }

// sortedFamilies lists the families present in a per-family name map in a
// fixed order, so output is deterministic.
func sortedFamilies(m map[rules.Family]string) []rules.Family {
	var fs []rules.Family
	for _, f := range families {
		if _, ok := m[f]; ok {
			fs = append(fs, f)
		}
	}
	return slices.Clip(fs)
}

// pruneSets drops the sets no rule uses, such as the IPv6 meter of a quota
// whose rule reaches only IPv4 peers: an unused set is only kernel memory.
func (c *compilation) pruneSets() {
	used := map[string]bool{}
	for _, ch := range c.t.Chains {
		for _, r := range ch.Rules {
			for _, s := range r.Stmts {
				switch s := s.(type) {
				case rules.AddrMatch:
					used[s.Set] = true
				case rules.DynsetUpdate:
					used[s.Set] = true
				}
			}
		}
	}
	c.t.Sets = slices.DeleteFunc(c.t.Sets, func(s *rules.Set) bool { return !used[s.Name] })
}
