package rules

import (
	"errors"
	"math"
	"slices"
)

// TCP data offsets: a TCP header is 5 to 15 32-bit words long.
const (
	minTCPDoff = 5
	maxTCPDoff = 15
)

// Lower fits t to a kernel. A set element's quota on a kernel where it is
// unsafe (see Kernel.Notes) becomes a byte token bucket (QuotaBucket). A
// rule that matches the transport payload with
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
			inner, quota := false, false
			for _, s := range r.Stmts {
				for _, f := range StmtNeeds(s) {
					switch {
					case !k.Lacks(f):
					case f == FeatPayloadInner && !k.Lacks(FeatPayloadTransport) && isTCP(r):
						inner = true
					case f == FeatDynsetQuota && !k.Lacks(FeatDynsetLimit) && bucketable(s):
						quota = true
					default:
						missing(r.Comment, f)
					}
				}
			}
			if quota {
				r = quotaAsBucket(r)
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

// bucketable reports whether s is a set element's quota QuotaBucket can
// stand for.
func bucketable(s Stmt) bool {
	d, ok := s.(DynsetUpdate)
	_, fits := QuotaBucket(d.Quota)
	return ok && fits
}

// quotaAsBucket is r with each set element's quota made a QuotaBucket.
func quotaAsBucket(r *Rule) *Rule {
	nr := &Rule{Comment: r.Comment, Stmts: slices.Clone(r.Stmts)}
	for i, s := range nr.Stmts {
		if d, ok := s.(DynsetUpdate); ok && d.Quota > 0 {
			b, _ := QuotaBucket(d.Quota)
			d.Quota, d.Limit = 0, &b
			nr.Stmts[i] = d
		}
	}
	return nr
}

// bucketUnits are the limit units, longest first, in seconds.
var bucketUnits = []struct {
	name string
	secs uint64
}{{"week", 604800}, {"day", 86400}, {"hour", 3600}, {"minute", 60}, {"second", 1}}

// QuotaBucket is a byte token bucket that meters like a quota of n bytes
// for as long as its set element lives: the kernel counts a bucket of
// (rate+burst) bytes, here 1+(n-2) = n-1, and passes a packet only while
// the bytes it passed, this one included, fit, just as a quota passes one
// while they stay below n. The refill, 1 byte per unit, is the least the
// kernel takes; the unit is the longest whose bucket, in nanoseconds
// (unit × 10⁹ × (n-1)), stays below 2⁶², clear of the kernel's signed
// arithmetic. The element's timeout still ends the window, and the next
// packet adds an element with a full bucket, as with the quota. Two
// differences remain, both within the budget: a packet too big for what
// is left is dropped while a smaller one that fits still passes (a quota
// drops everything after the first packet over), and the refill adds a
// byte per unit (1 per hour for a 1 MiB budget). No bucket stands for a
// quota below 2 bytes or above 4 GiB (the burst is 32 bits).
func QuotaBucket(n uint64) (Limit, bool) {
	if n < 2 || n-2 > math.MaxUint32 {
		return Limit{}, false
	}
	for _, u := range bucketUnits {
		if u.secs*1e9 <= (1<<62)/(n-1) {
			return Limit{Rate: 1, Unit: u.name, Burst: uint32(n - 2), Bytes: true}, true
		}
	}
	return Limit{}, false
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
