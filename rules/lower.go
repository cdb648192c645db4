package rules

import (
	"errors"
	"slices"
)

// TCP data offsets: a TCP header is 5 to 15 32-bit words long.
const (
	minTCPDoff = 5
	maxTCPDoff = 15
)

// Lower fits t to a kernel: a rule that matches the transport payload with
// the inner-header base (`@ih`) on a kernel without it becomes one rule
// per TCP data offset, `tcp doff N` followed by the same bytes read with
// `@th` at N*4 bytes on. A segment has one data offset, so exactly one of
// them can match it, and it matches exactly when the `@ih` rule would:
// same bytes, and the same end of the rule (NFT_BREAK) when the segment has
// no byte there. Anything else the kernel lacks has no equivalent, and
// Lower returns one *MissingError per profile entry and feature, joined,
// before anything is sent. t itself is not changed; with a nil kernel it
// is returned as is.
func Lower(t *Table, k *Kernel) (*Table, error) {
	if k == nil {
		return t, nil
	}
	var errs []error
	seen := map[MissingError]bool{}
	missing := func(origin string, f Feature) {
		e := MissingError{Origin: origin, Release: k.Release, Feature: f}
		if !seen[e] {
			seen[e] = true
			errs = append(errs, &e)
		}
	}
	out := &Table{Family: t.Family, Name: t.Name, Sets: t.Sets}
	for _, s := range t.Sets {
		for _, f := range SetNeeds(s) {
			if k.Lacks(f) {
				missing(s.Comment, f)
			}
		}
	}
	for _, ch := range t.Chains {
		nc := *ch
		nc.Rules = nil
		for _, r := range ch.Rules {
			inner := false
			for _, s := range r.Stmts {
				for _, f := range StmtNeeds(s) {
					switch {
					case !k.Lacks(f):
					case f == FeatPayloadInner && !k.Lacks(FeatPayloadTransport) && isTCP(r):
						inner = true
					default:
						missing(r.Comment, f)
					}
				}
			}
			if !inner {
				nc.Rules = append(nc.Rules, r)
				continue
			}
			nc.Rules = append(nc.Rules, perDataOffset(r)...)
		}
		out.Chains = append(out.Chains, &nc)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

// isTCP reports whether the rule matches only TCP segments.
func isTCP(r *Rule) bool {
	for _, s := range r.Stmts {
		switch s := s.(type) {
		case PortMatch:
			if s.Proto == "tcp" {
				return true
			}
		case TCPFlags:
			return true
		case Meta:
			if s.Key == MetaL4Proto && s.Value == "tcp" {
				return true
			}
		}
	}
	return false
}

// perDataOffset is r once per TCP data offset, its @ih statements read
// with @th behind a `tcp doff` match placed where the first of them was.
func perDataOffset(r *Rule) []*Rule {
	var out []*Rule
	for doff := uint32(minTCPDoff); doff <= maxTCPDoff; doff++ {
		hdr := doff * 4
		nr := &Rule{Comment: r.Comment}
		placed := false
		for _, s := range r.Stmts {
			var lowered Stmt
			switch s := s.(type) {
			case InnerPayload:
				lowered = TransportPayload{Offset: hdr + s.Offset, Data: slices.Clone(s.Data)}
			case PayloadPresent:
				lowered = TransportPayloadPresent{Offset: hdr}
			default:
				nr.Stmts = append(nr.Stmts, s)
				continue
			}
			if !placed {
				nr.Stmts = append(nr.Stmts, TCPDataOffset{Words: uint8(doff)})
				placed = true
			}
			nr.Stmts = append(nr.Stmts, lowered)
		}
		out = append(out, nr)
	}
	return out
}
