package netlink

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/devfence/devfence/rules"
)

// Probe finds out which features of rules.Features the kernel has. Each
// feature is tried with the very statements devfence emits for it, in a
// table of its own with a name no one else uses, which one batch creates
// (table, sets, a base chain, the rule) and deletes again, then fails on
// purpose: the kernel checks every expression when the batch adds it, so
// a batch refused only at its deliberate last step proves the feature.
// The kernel commits no probe batch, and no other table is named, the
// real one included.
func (c *Conn) Probe() (*rules.Kernel, error) {
	var uts unix.Utsname
	if err := unix.Uname(&uts); err != nil {
		return nil, fmt.Errorf("kernel release: %w", err)
	}
	k := &rules.Kernel{Release: unix.ByteSliceToString(uts.Release[:]), Has: map[rules.Feature]bool{}}
	// Usually the kernel has everything: one batch with every probe then
	// answers for all of them. Only when it refuses is each one tried on
	// its own, to find which.
	all := probe{feature: "all"}
	for _, p := range probes {
		all.sets = append(all.sets, p.sets...)
		all.checks = append(all.checks, p.checks...)
	}
	everything, err := c.try(all)
	if err != nil {
		return nil, fmt.Errorf("probe: %w", err)
	}
	for _, p := range probes {
		has := everything
		if !has {
			if has, err = c.try(p); err != nil {
				return nil, fmt.Errorf("probe %s: %w", p.feature, err)
			}
		}
		k.Has[p.feature] = has
	}
	// Taken is not safe here: see ElementQuotaNote.
	if note := rules.ElementQuotaNote(unix.ByteSliceToString(uts.Machine[:])); note != "" {
		k.Has[rules.FeatDynsetQuota] = false
		k.Notes = map[rules.Feature]string{rules.FeatDynsetQuota: note}
	}
	return k, nil
}

var probeSeq atomic.Uint32

// try reports whether the kernel takes the probe's table; an error is a
// failure that says nothing about the feature (no privilege, no socket).
func (c *Conn) try(p probe) (bool, error) {
	name := fmt.Sprintf("devfence-probe-%d-%d-%d", os.Getpid(), time.Now().UnixNano(), probeSeq.Add(1))
	t := &rules.Table{Family: "inet", Name: name, Sets: p.sets,
		Chains: []*rules.Chain{{Name: "probe", Hook: rules.HookOutput, Priority: rules.PriorityFilter, Policy: rules.Accept,
			Rules: p.checks}}}
	// The second delete of the table must fail (it is gone by then), so
	// the kernel aborts the batch after checking everything before it:
	// nothing is committed and the ruleset generation does not move, so
	// a probe is invisible to `apply --dry-run`, to `nft monitor` and to
	// apply's own check that nothing changed the ruleset while it read it.
	gone := &rules.Table{Family: t.Family, Name: name}
	tx := &rules.Transaction{Ops: []rules.Op{{Verb: rules.VerbAdd, Table: t}, {Verb: rules.VerbDelete, Table: gone}, {Verb: rules.VerbDelete, Table: gone}}}
	_, err := c.Apply(tx)
	var re *RefusedError
	switch {
	case err == nil:
		return false, fmt.Errorf("the kernel committed probe table %s, deleting it twice", name)
	case errors.Is(err, ErrPermission):
		return false, err
	case errors.As(err, &re):
		// Only the deliberate failure: everything before it was taken.
		return re.What == "delete of table "+gone.Ref() && errors.Is(re.Err, unix.ENOENT) && re.Expr == nil, nil
	}
	return false, err
}

// probe is what one feature is tried with: sets and the rules using them.
type probe struct {
	feature rules.Feature
	sets    []*rules.Set
	checks  []*rules.Rule
}

// try1 is the probe of f: one rule of stmts, using sets.
func try1(f rules.Feature, sets []*rules.Set, stmts ...rules.Stmt) probe {
	return probe{feature: f, sets: sets, checks: []*rules.Rule{{Stmts: stmts, Comment: "devfence probe " + string(f)}}}
}

var (
	probeV4  = rules.Meta{Key: rules.MetaNFProto, Value: "ipv4"}
	probeTCP = rules.PortMatch{Proto: "tcp", Field: rules.Dst, Lo: 9, Hi: 9}
	probeKey = rules.Key{Family: rules.IPv4, Field: rules.Dst}
)

func probeSet(name string, flags rules.SetFlags, key rules.KeyType, elems ...rules.Element) *rules.Set {
	s := &rules.Set{Name: name, Key: key, Flags: flags, Elements: elems}
	if flags&rules.FlagTimeout != 0 {
		s.Size, s.Timeout = 2, time.Second
	}
	return s
}

// probes are what Probe tries, one table each, in rules.Features order.
// Set names differ between probes, so that all of them fit one table.
var probes = func() []probe {
	dyn := rules.FlagDynamic | rules.FlagTimeout
	timeout := func(name string) []*rules.Set { return []*rules.Set{probeSet(name, dyn, rules.KeyIPv4)} }
	key := func(set string) rules.AddrMatch {
		return rules.AddrMatch{Family: rules.IPv4, Field: rules.Dst, Set: set}
	}
	return []probe{
		try1(rules.FeatMeta, nil, probeV4, rules.Meta{Key: rules.MetaL4Proto, Value: "tcp"},
			rules.Meta{Key: rules.MetaIIF, Value: "lo"}, rules.Meta{Key: rules.MetaOIF, Value: "lo"}),
		try1(rules.FeatPayloadNetwork, nil,
			rules.AddrMatch{Family: rules.IPv6, Field: rules.Src, Prefix: netip.MustParsePrefix("fe80::/10")}, rules.HopLimit{Value: 255}),
		try1(rules.FeatPayloadTransport, nil, probeTCP, rules.TCPFlags{Bits: rules.TCPSyn | rules.TCPRst, Neg: true},
			rules.TCPDataOffset{Words: 15}, rules.TransportPayload{Offset: 60, Data: []byte("220")}, rules.TransportPayloadPresent{Offset: 60}),
		try1(rules.FeatPayloadInner, nil, probeTCP, rules.InnerPayload{Data: []byte("220")}, rules.PayloadPresent{}),
		try1(rules.FeatCtState, nil, rules.CtState{States: rules.CtEstablished | rules.CtRelated}),
		try1(rules.FeatCtDirection, nil, rules.CtDirection{Reply: true}),
		try1(rules.FeatCtStatus, nil, rules.CtStatus{Bits: rules.CtAssured, Neg: true}),
		try1(rules.FeatCtMark, nil, rules.CtMark{Mask: 1 << 31, Value: 0}),
		try1(rules.FeatCtMarkSet, nil, rules.CtMarkOr{Bits: 1 << 31}),
		try1(rules.FeatFibSaddrType, nil, probeV4, rules.FibSaddrLocal{Neg: true}),
		try1(rules.FeatLimit, nil, rules.Limit{Rate: 10, Unit: "minute", Burst: rules.DefaultBurst}),
		try1(rules.FeatLogGroup, nil, rules.Log{Prefix: "devfence probe: ", Group: 0}),
		try1(rules.FeatCounter, nil, rules.Counter{}),
		try1(rules.FeatSetInterval,
			[]*rules.Set{probeSet("interval", rules.FlagInterval, rules.KeyIPv4, rules.Range(netip.MustParsePrefix("192.0.2.0/24")))},
			key("interval")),
		try1(rules.FeatSetTimeout, timeout("timeout"), key("timeout")),
		try1(rules.FeatDynsetUpdate, timeout("update"), rules.DynsetUpdate{Op: rules.SetUpdate, Set: "update", Key: probeKey}),
		try1(rules.FeatDynsetQuota, []*rules.Set{probeSet("quota", dyn, rules.KeyIPv4), probeSet("total", dyn, rules.KeyNFProto)},
			rules.DynsetUpdate{Op: rules.SetAdd, Set: "quota", Key: probeKey, Quota: 1 << 20},
			rules.DynsetUpdate{Op: rules.SetAdd, Set: "total", Key: rules.Key{NFProto: true}, Quota: 1 << 20}),
		try1(rules.FeatDynsetLimit, timeout("limit"),
			rules.DynsetUpdate{Op: rules.SetAdd, Set: "limit", Key: probeKey, Limit: &rules.Limit{Rate: 10, Unit: "second", Burst: 20}}),
	}
}()
