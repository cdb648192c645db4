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
	c := &compilation{p: p, t: &rules.Table{Family: "inet", Name: name}}
	in := &rules.Chain{Name: "input", Hook: rules.HookInput, Priority: rules.PriorityFilter, Policy: rules.Drop}
	out := &rules.Chain{Name: "output", Hook: rules.HookOutput, Priority: rules.PriorityFilter, Policy: rules.Drop}
	fwd := &rules.Chain{Name: "forward", Hook: rules.HookForward, Priority: rules.PriorityFilter, Policy: rules.Drop}
	c.declareSets()
	c.input(in)
	c.output(out)
	c.t.Chains = []*rules.Chain{in, out, fwd}
	c.pruneSets()
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
	p *Profile
	t *rules.Table

	// Set names per family, by the index of the profile entry they serve.
	services   []map[rules.Family]string
	handshakes []map[rules.Family]string
	allow      []map[rules.Family]string
	consent    map[rules.Family]string
	quotas     map[string]map[rules.Family]string // by quotaKey
}

var families = []rules.Family{rules.IPv4, rules.IPv6}

// ident turns a profile name into a part of an nft identifier. Names are
// already [a-z0-9-]; mapping '-' to '_' keeps identifiers to [a-z0-9_], which
// no nft parser reads as anything but a name.
func ident(name string) string { return strings.ReplaceAll(name, "-", "_") }

// addrSets declares the static sets holding the addresses of targets, one
// per family that has any, named prefix_v4 / prefix_v6. It returns the set
// name per family; a family without addresses is absent.
func (c *compilation) addrSets(prefix, comment string, t Targets) map[rules.Family]string {
	byFamily := map[rules.Family][]netip.Prefix{}
	for _, ref := range t.Refs {
		var entries []Address
		if ref.Address != nil {
			entries = []Address{*ref.Address}
		} else {
			nw, _ := c.p.Networks.Lookup(ref.Network)
			entries = nw.Entries
		}
		for _, e := range entries {
			f := rules.IPv4
			if e.Prefix.Addr().Is6() {
				f = rules.IPv6
			}
			byFamily[f] = append(byFamily[f], e.Prefix)
		}
	}
	names := map[rules.Family]string{}
	for _, f := range families {
		if len(byFamily[f]) == 0 {
			continue
		}
		key := rules.KeyIPv4
		if f == rules.IPv6 {
			key = rules.KeyIPv6
		}
		name := prefix + "_" + f.Suffix()
		c.t.Sets = append(c.t.Sets, &rules.Set{
			Name: name, Key: key, Flags: rules.FlagInterval,
			Elements: rules.Merge(byFamily[f]), Comment: comment,
		})
		names[f] = name
	}
	return names
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
