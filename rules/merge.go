package rules

import (
	"net/netip"
	"slices"

	"github.com/devfence/devfence/internal/sortby"
)

// Merge turns prefixes of one family into the sorted, non-overlapping
// elements of an interval set: the kernel refuses overlapping intervals, and
// profiles often list an address inside a network they also list.
func Merge(prefixes []netip.Prefix) []Element {
	elems := make([]Element, len(prefixes))
	for i, p := range prefixes {
		elems[i] = Range(p)
	}
	sortby.Func(elems, func(a, b Element) int {
		if c := a.From.Compare(b.From); c != 0 {
			return c
		}
		return b.To.Compare(a.To)
	})
	out := elems[:0]
	for _, e := range elems {
		if n := len(out); n > 0 {
			last := &out[n-1]
			// Adjacent or overlapping: extend the last range.
			if next := last.To.Next(); !next.IsValid() || e.From.Compare(next) <= 0 {
				if last.To.Less(e.To) {
					last.To = e.To
				}
				continue
			}
		}
		out = append(out, e)
	}
	return slices.Clip(out)
}
