package compiler

import (
	"fmt"
	"time"

	"github.com/devfence/devfence/rules"
)

// declareSets adds every set the chains use, in a fixed order: the address
// sets of services, handshakes and allow rules, then the consent sets, then
// the quota meters, then the rate meters of unassured service replies.
func (c *compilation) declareSets() {
	p := c.p
	for _, s := range p.Inbound.Services {
		c.services = append(c.services, c.addrSets(kindService, s.Name, entryOrigin("inbound.services", s.Name), s.From))
	}
	for _, h := range p.Consent.Handshakes {
		c.handshakes = append(c.handshakes, c.addrSets(kindHandshake, h.Name, entryOrigin("consent.handshakes", h.Name), h.To))
	}
	for _, r := range p.Egress.Allow {
		c.allow = append(c.allow, c.addrSets(kindAllow, r.Name, entryOrigin("egress.allow", r.Name), r.To))
	}
	c.consent = map[rules.Family]string{}
	for _, f := range families {
		c.consent[f] = familySet(consentBase, f)
		c.t.Sets = append(c.t.Sets, &rules.Set{
			Name: c.consent[f], Key: keyType(f), Flags: rules.FlagDynamic | rules.FlagTimeout,
			Size: uint32(p.Consent.Peers), Timeout: p.Consent.Idle.Std(), Comment: "consenting peers",
		})
	}
	c.quotas = map[string]map[rules.Family]string{}
	if q := p.Egress.Quota; q != nil {
		c.quotaSets(defaultQuota, "egress.quota", *q)
	}
	for _, r := range p.Egress.Allow {
		if r.Quota != nil {
			c.quotaSets(r.Name, entryOrigin("egress.allow", r.Name)+" quota", *r.Quota)
		}
	}
	if q := p.Egress.Total; q != nil {
		// One element per family, but room for four: the kernel counts an
		// expired element against the size until its garbage collection
		// (about a second later) frees it, and a set at its size refuses
		// the add, so with room for two a family's metered traffic was
		// dropped for up to a second after its window ended (found by the
		// differential test, internal/differential).
		c.t.Sets = append(c.t.Sets, &rules.Set{
			Name: totalSet, Key: rules.KeyNFProto, Flags: rules.FlagDynamic | rules.FlagTimeout,
			Size: 4, Timeout: q.Window, Comment: "egress.total " + q.String(),
		})
	}
	// Pruned again when no service reply rule uses them.
	c.unassured = map[rules.Family]string{}
	for _, f := range families {
		c.unassured[f] = familySet(unassuredBase, f)
		c.t.Sets = append(c.t.Sets, &rules.Set{
			Name: c.unassured[f], Key: keyType(f), Flags: rules.FlagDynamic | rules.FlagTimeout,
			Size: uint32(p.Limits.Peers), Timeout: unassuredWindow,
			Comment: fmt.Sprintf("inbound.services replies before assured, %d/%s burst %d", unassuredLimit.Rate, unassuredLimit.Unit, unassuredLimit.Burst),
		})
	}
}

// defaultQuota is the quotas key of egress.quota; the others are allow
// rule names, which cannot hold a '.'.
const defaultQuota = "egress.quota"

// unassuredLimit bounds, per destination, what the device sends on
// inbound connections conntrack has not marked assured: SYN-ACKs and their
// retransmissions, the first replies of a UDP flow. Anyone can forge the
// SYN or datagram that provokes them, so they are kept off the
// destination's byte budget (finding C) and limited by rate instead. A
// handshake needs one SYN-ACK; the burst leaves room for several at once.
// Its elements live unassuredWindow from a destination's first such reply
// (`add`), then start over with a full burst.
var unassuredLimit = rules.Limit{Rate: 10, Unit: "second", Burst: 20}

const unassuredWindow = time.Minute

func keyType(f rules.Family) rules.KeyType {
	if f == rules.IPv6 {
		return rules.KeyIPv6
	}
	return rules.KeyIPv4
}

// quotaSets declares the per-destination meters of one quota, key
// defaultQuota or an allow rule's name: the element timeout is the window,
// and each element carries the budget.
func (c *compilation) quotaSets(key, comment string, q Quota) {
	c.quotas[key] = map[rules.Family]string{}
	for _, f := range families {
		set := familySet(defaultQuotaBase, f)
		if key != defaultQuota {
			set = namedSet(kindAllowQuota, key, f)
		}
		c.quotas[key][f] = set
		c.t.Sets = append(c.t.Sets, &rules.Set{
			Name: set, Key: keyType(f), Flags: rules.FlagDynamic | rules.FlagTimeout,
			Size: uint32(c.p.Limits.Peers), Timeout: q.Window, Comment: comment + " " + q.String(),
		})
	}
}

// Std is the duration as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }
