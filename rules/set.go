package rules

import (
	"net/netip"
	"time"
)

// KeyType is the datatype of a set's keys.
type KeyType string

const (
	KeyIPv4    KeyType = "ipv4_addr"
	KeyIPv6    KeyType = "ipv6_addr"
	KeyNFProto KeyType = "nf_proto" // one key per IP family, for per-family budgets
)

// SetFlags are the nftables set flags devfence uses.
type SetFlags uint8

const (
	FlagInterval SetFlags = 1 << iota // elements are address ranges
	FlagDynamic                       // rules add elements at run time
	FlagTimeout                       // elements expire
)

// Set is a named set. Static sets hold addresses from the profile; dynamic
// sets are filled by the datapath (consent, quotas), so their elements are
// state, not configuration, and are never rendered or compared.
type Set struct {
	Name     string
	Key      KeyType
	Flags    SetFlags
	Size     uint32        // most elements; 0 is unbounded (static sets only)
	Timeout  time.Duration // default element lifetime of a timeout set
	Elements []Element
	Comment  string
}

// Dynamic reports whether the datapath fills this set.
func (s *Set) Dynamic() bool { return s.Flags&FlagDynamic != 0 }

// Element is a set element: a single key (From == To) or, in an interval set,
// the inclusive range From-To. Dynamic elements also carry their state as read
// back from the kernel.
type Element struct {
	From, To netip.Addr
	Proto    byte // the key of a KeyNFProto set

	Expires   time.Duration // time left before a timeout element goes
	QuotaUsed uint64        // bytes consumed of the element's quota
	QuotaMax  uint64        // the element's quota budget
}

// Addr is a single-address element.
func Addr(a netip.Addr) Element { return Element{From: a, To: a} }

// Range is an interval element covering the whole prefix p.
func Range(p netip.Prefix) Element {
	p = p.Masked()
	return Element{From: p.Addr(), To: lastAddr(p)}
}

// Prefix returns the prefix that the element covers exactly, if there is one.
func (e Element) Prefix() (netip.Prefix, bool) {
	for bits := e.From.BitLen(); bits >= 0; bits-- {
		p := netip.PrefixFrom(e.From, bits)
		if p.Masked().Addr() != e.From {
			break
		}
		if last := lastAddr(p); last == e.To {
			return p, true
		} else if e.To.Less(last) {
			break
		}
	}
	return netip.Prefix{}, false
}

func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}
