package sortby_test

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"testing"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/devfence/devfence/internal/sortby"
)

type pair struct{ Key, Seq int }

func byKey(a, b pair) int { return cmp.Compare(a.Key, b.Key) }

// Func and StableFunc order like slices.SortFunc and slices.SortStableFunc;
// keys repeat, so StableFunc must keep Seq ascending among equal keys.
func TestSortLikeSlices(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{0, 1, 2, 12, 13, 100, 5000} {
		in := make([]pair, n)
		for i := range in {
			in[i] = pair{Key: r.IntN(n/3 + 1), Seq: i}
		}
		want, got := slices.Clone(in), slices.Clone(in)
		slices.SortStableFunc(want, byKey)
		sortby.StableFunc(got, byKey)
		if diff := gocmp.Diff(want, got); diff != "" {
			t.Errorf("StableFunc, n=%d (-want +got):\n%s", n, diff)
		}
		got = slices.Clone(in)
		sortby.Func(got, byKey)
		if !slices.IsSortedFunc(got, byKey) {
			t.Errorf("Func, n=%d: not sorted: %v", n, got)
		}
		slices.SortFunc(got, func(a, b pair) int { return cmp.Compare(a.Seq, b.Seq) })
		if diff := gocmp.Diff(in, got); diff != "" {
			t.Errorf("Func, n=%d, lost or duplicated elements (-want +got):\n%s", n, diff)
		}
	}
}
