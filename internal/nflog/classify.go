package nflog

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"golang.org/x/sys/unix"

	"github.com/devfence/devfence/rules"
)

// Classifier says why a logged packet was dropped; see the package
// documentation for the method.
type Classifier struct {
	// Table is the compiled profile in force; nil: output drops are Unknown.
	Table *rules.Table
	// Sets reads the live quota sets of Table; nil: output drops that a
	// metered rule may have refused are Unknown.
	Sets SetReader
}

// Classify sets r.Reason and r.Detail.
func (c *Classifier) Classify(r *Record) {
	r.Reason, r.Detail = c.classify(r)
}

func (c *Classifier) classify(r *Record) (Reason, string) {
	if lp, ok := ParsePrefix(r.Prefix); !ok || lp.Tag != "drop" {
		return Unknown, "not a devfence drop log"
	}
	switch r.Direction {
	case "in":
		// Only what nothing accepted reaches the input chain's log rule.
		return Unsolicited, ""
	case "out":
	default:
		return Unknown, ""
	}
	if c.Table == nil {
		return Unknown, "not allowed, quota spent or table full: give the profile to tell"
	}
	if r.ParseError != "" {
		return Unknown, "payload not decoded"
	}
	chain := outputChain(c.Table)
	if chain == nil {
		return Unknown, "the profile's table has no output chain"
	}
	var cands []candidate
	for _, rule := range chain.Rules {
		if cd, ok := meteredRule(rule); ok && c.matches(rule, r.headers) != no {
			cands = append(cands, cd)
		}
	}
	if len(cands) == 0 {
		return NotAllowed, "no rule allows it"
	}
	if c.Sets == nil {
		return Unknown, fmt.Sprintf("%s may allow it; its meter cannot be read", cands[0].rule.Comment)
	}
	// A packet that one metered rule refuses goes on to the next, so a
	// dropped packet was refused by every candidate that matched it; the
	// first whose meter shows why is the answer.
	var errs []error
	for _, cd := range cands {
		reason, detail, err := c.meterSays(cd, r.headers)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if reason != "" {
			return reason, detail
		}
	}
	if len(errs) > 0 {
		return Unknown, fmt.Sprintf("%s may allow it; reading its meter: %v", cands[0].rule.Comment, errors.Join(errs...))
	}
	return NotAllowed, fmt.Sprintf("%s matches address and port, but its meter has room: another condition failed", cands[0].rule.Comment)
}

// meterSays reads the candidate's sets: the per-peer element spent, the set
// full without the peer, or the family's total spent. "" means the meter
// did not refuse the packet.
func (c *Classifier) meterSays(cd candidate, h Headers) (Reason, string, error) {
	key := setKey(cd.peer.Key, h)
	m, found, err := c.Sets.Element(cd.peer.Set, key)
	if err != nil {
		return "", "", err
	}
	peer := keyString(cd.peer.Key, h)
	switch {
	case found && m.Spent():
		return QuotaSpent, fmt.Sprintf("%s: %s has used its %s, window ends in %s",
			cd.rule.Comment, peer, iec(m.Budget), roundDuration(m.Expires)), nil
	case !found:
		n, err := c.Sets.Count(cd.peer.Set)
		if err != nil {
			return "", "", err
		}
		if size := c.setSize(cd.peer.Set); size > 0 && n >= size {
			return TableFull, fmt.Sprintf("%s: set %s already tracks %d of %d peers, a new peer is refused until a window ends",
				cd.rule.Comment, cd.peer.Set, n, size), nil
		}
	}
	// The total meter comes after the per-peer one in the rule, so it can
	// only have refused a packet whose peer has an element.
	if cd.total == nil || !found {
		return "", "", nil
	}
	t, found, err := c.Sets.Element(cd.total.Set, setKey(cd.total.Key, h))
	if err != nil {
		return "", "", err
	}
	if found && t.Spent() {
		return QuotaSpent, fmt.Sprintf("egress.total: metered ipv%d peers have used all %s, window ends in %s",
			h.Version, iec(t.Budget), roundDuration(t.Expires)), nil
	}
	return "", "", nil
}

func (c *Classifier) setSize(name string) int {
	if s := c.Table.Set(name); s != nil {
		return int(s.Size)
	}
	return 0
}

// candidate is a metered output rule: its per-peer meter and, if the
// profile has egress.total, the total meter in the same rule.
type candidate struct {
	rule  *rules.Rule
	peer  rules.DynsetUpdate
	total *rules.DynsetUpdate
}

// meteredRule reports whether rule ends in a per-destination quota meter.
func meteredRule(rule *rules.Rule) (candidate, bool) {
	cd := candidate{rule: rule}
	found := false
	for _, s := range rule.Stmts {
		d, ok := s.(rules.DynsetUpdate)
		if !ok || d.Quota == 0 {
			continue
		}
		if d.Key.NFProto {
			cd.total = &d
		} else if !found {
			cd.peer, found = d, true
		}
	}
	return cd, found
}

func outputChain(t *rules.Table) *rules.Chain {
	for _, ch := range t.Chains {
		if ch.Hook == rules.HookOutput {
			return ch
		}
	}
	return nil
}

// tri is a match result on what a logged packet shows.
type tri int8

const (
	no    tri = iota
	maybe     // depends on state the packet does not show (conntrack, dynamic sets, fib)
	yes
)

// matches evaluates a rule's match statements against the headers.
func (c *Classifier) matches(rule *rules.Rule, h Headers) tri {
	res := yes
	for _, s := range rule.Stmts {
		switch c.match(s, h) {
		case no:
			return no
		case maybe:
			res = maybe
		}
	}
	return res
}

func (c *Classifier) match(s rules.Stmt, h Headers) tri {
	switch s := s.(type) {
	case rules.Meta:
		switch s.Key {
		case rules.MetaNFProto:
			return is(s.Value == fmt.Sprintf("ipv%d", h.Version))
		case rules.MetaL4Proto:
			return is(s.Value == h.ProtoName())
		}
		return maybe // interfaces: a logged drop never left via loopback anyway
	case rules.AddrMatch:
		return c.matchAddr(s, h)
	case rules.PortMatch:
		if !h.HasPorts {
			if h.Truncated || h.Fragment {
				return maybe
			}
			return no
		}
		if s.Proto != h.ProtoName() {
			return no
		}
		p := h.DstPort
		if s.Field == rules.Src {
			p = h.SrcPort
		}
		return is(s.Lo <= p && p <= s.Hi)
	case rules.ICMPType:
		want := uint8(ProtoICMP)
		if s.V6 {
			want = ProtoICMPv6
		}
		if h.Proto != want {
			return no
		}
		if !h.HasICMP {
			return maybe
		}
		return is(h.ICMPType == s.Type)
	case rules.HopLimit:
		return is(h.Version == 6 && h.HopLimit == s.Value)
	case rules.DynsetUpdate, rules.Limit, rules.Log, rules.Counter, rules.Verdict:
		return yes // not matches
	}
	// Conntrack state and direction, @ih payload, fib, and whatever the
	// model adds later: not visible in a logged header.
	return maybe
}

func (c *Classifier) matchAddr(s rules.AddrMatch, h Headers) tri {
	if int(s.Family) != h.Version {
		return no
	}
	a := h.Dst
	if s.Field == rules.Src {
		a = h.Src
	}
	var in bool
	switch {
	case s.Set == "":
		in = s.Prefix.Contains(a)
	default:
		set := c.Table.Set(s.Set)
		if set == nil || set.Dynamic() {
			return maybe // consent and the like live in the kernel only
		}
		for _, e := range set.Elements {
			if !a.Less(e.From) && !e.To.Less(a) {
				in = true
				break
			}
		}
	}
	return is(in != s.Neg)
}

func is(b bool) tri {
	if b {
		return yes
	}
	return no
}

// setKey is the key a dynset statement computes for the packet: the family
// for a per-family total, else the address, masked as the rule masks it.
func setKey(k rules.Key, h Headers) []byte {
	if k.NFProto {
		if h.Version == 6 {
			return []byte{unix.NFPROTO_IPV6}
		}
		return []byte{unix.NFPROTO_IPV4}
	}
	return maskedAddr(k, h).AsSlice()
}

func maskedAddr(k rules.Key, h Headers) netip.Addr {
	a := h.Dst
	if k.Field == rules.Src {
		a = h.Src
	}
	if k.Bits > 0 && k.Bits < a.BitLen() {
		a = netip.PrefixFrom(a, k.Bits).Masked().Addr()
	}
	return a
}

// keyString names the peer as the set sees it: "2001:db8:2::/64" for a
// masked IPv6 key.
func keyString(k rules.Key, h Headers) string {
	a := maskedAddr(k, h)
	if k.Bits > 0 && k.Bits < a.BitLen() {
		return netip.PrefixFrom(a, k.Bits).String()
	}
	return a.String()
}

// iec writes a byte count the way profiles do: 16KiB, 1MiB, else 1500B.
func iec(n uint64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	i := 0
	for i < len(units)-1 && n >= 1024 && n%1024 == 0 {
		n /= 1024
		i++
	}
	return fmt.Sprintf("%d%s", n, units[i])
}

func roundDuration(d time.Duration) time.Duration {
	if d > time.Minute {
		return d.Round(time.Second)
	}
	return d.Round(100 * time.Millisecond)
}
