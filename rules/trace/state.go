package trace

import (
	"fmt"
	"net/netip"
	"sort"
	"time"

	"github.com/devfence/devfence/rules"
)

// elemKey is a dynamic set's key: an address (masked as the rule masks
// it) or, in a set keyed on `meta nfproto`, the family.
type elemKey struct {
	addr  netip.Addr
	proto byte
}

func (k elemKey) String() string {
	if k.addr.IsValid() {
		return k.addr.String()
	}
	if k.proto == nfprotoIPv6 {
		return "ipv6"
	}
	return "ipv4"
}

// NFPROTO_IPV4 and NFPROTO_IPV6: the keys of a set keyed on `meta nfproto`.
const (
	nfprotoIPv4 = 2
	nfprotoIPv6 = 10
)

// element is a dynamic set element and the state its statement keeps:
// the quota's consumed bytes, or the limit's token bucket.
type element struct {
	expires time.Duration // 0: never
	used    uint64
	bucket  *bucket
}

// dynSet holds the elements the datapath added to one dynamic set.
// Expired elements are dropped when the set is next read, as if the
// kernel's garbage collection ran at once (it runs about every second).
type dynSet struct {
	set   *rules.Set
	elems map[elemKey]*element
}

func (d *dynSet) prune(now time.Duration) {
	for k, e := range d.elems {
		if e.expires != 0 && e.expires <= now {
			delete(d.elems, k)
		}
	}
}

// Element is one live element of a dynamic set, for reports.
type Element struct {
	Set       string        `json:"set"`
	Key       string        `json:"key"`
	ExpiresIn time.Duration `json:"-"`
	Used      uint64        `json:"used_bytes,omitempty"`
}

// bucket is nft_limit's token bucket in packets: it holds at most burst
// packets' worth of time, starts full, and each packet costs one period
// (unit / rate).
type bucket struct {
	tokens, max, cost time.Duration
	last              time.Duration
}

func newBucket(l rules.Limit, now time.Duration) (*bucket, error) {
	if l.Bytes {
		// Only a table fitted to a 32-bit ARM kernel has one (rules.QuotaBucket).
		return nil, fmt.Errorf("%s: byte limits are not modelled; trace the table as compiled", l)
	}
	unit, ok := limitUnits[l.Unit]
	if !ok || l.Rate == 0 {
		return nil, fmt.Errorf("limit rate %d/%s: unknown unit or zero rate", l.Rate, l.Unit)
	}
	burst := l.Burst
	if burst == 0 {
		burst = rules.DefaultBurst
	}
	cost := unit / time.Duration(l.Rate)
	return &bucket{tokens: cost * time.Duration(burst), max: cost * time.Duration(burst), cost: cost, last: now}, nil
}

var limitUnits = map[string]time.Duration{
	"second": time.Second, "minute": time.Minute, "hour": time.Hour,
	"day": 24 * time.Hour, "week": 7 * 24 * time.Hour,
}

// take reports whether a packet fits the rate, spending its cost if so.
func (b *bucket) take(now time.Duration) bool {
	tokens := min(b.tokens+now-b.last, b.max)
	b.last = now
	if tokens >= b.cost {
		b.tokens = tokens - b.cost
		return true
	}
	b.tokens = tokens
	return false
}

// Elements lists the live elements of every dynamic set, sorted, for
// reports and golden traces.
func (t *Tracer) Elements() []Element {
	var out []Element
	for _, d := range t.sets {
		d.prune(t.now)
		for k, e := range d.elems {
			el := Element{Set: d.set.Name, Key: k.String(), Used: e.used}
			if e.expires != 0 {
				el.ExpiresIn = e.expires - t.now
			}
			out = append(out, el)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Set != out[j].Set {
			return out[i].Set < out[j].Set
		}
		return out[i].Key < out[j].Key
	})
	return out
}
