// Package sortby sorts slices by a comparison function, as slices.SortFunc
// and slices.SortStableFunc do, through package sort's one non-generic
// pdqsort. Each slices.SortFunc over a struct type of its own compiles a
// copy of the whole sort (about 12 KB of MIPS code and its tables); here
// each type costs three small methods. devfence's device build sorts eight
// struct types, which is why it uses this and not package slices.
package sortby

import "sort"

// Func sorts s in ascending order as cmp says (negative: a before b). Like
// slices.SortFunc it is not stable.
func Func[T any](s []T, cmp func(a, b T) int) { sort.Sort(adapter[T]{s, cmp}) }

// StableFunc sorts s as cmp says, keeping the order of equal elements.
func StableFunc[T any](s []T, cmp func(a, b T) int) { sort.Stable(adapter[T]{s, cmp}) }

type adapter[T any] struct {
	s   []T
	cmp func(a, b T) int
}

func (a adapter[T]) Len() int           { return len(a.s) }
func (a adapter[T]) Less(i, j int) bool { return a.cmp(a.s[i], a.s[j]) < 0 }
func (a adapter[T]) Swap(i, j int)      { a.s[i], a.s[j] = a.s[j], a.s[i] }
