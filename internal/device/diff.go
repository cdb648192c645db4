package device

import (
	"fmt"
	"strings"

	"github.com/devfence/devfence/rules"
)

// contextLines is the unchanged lines a hunk shows around a change.
const contextLines = 3

// Diff is the unified diff from the live table (−) to the compiled one
// (+), line by line over their nft renderings; "" when they render the
// same. A nil live table (none in the kernel) diffs as empty. The labels
// name the two sides in the header.
func Diff(live, compiled *rules.Table, liveLabel, compiledLabel string) string {
	a, b := render(live), render(compiled)
	if a == b {
		return ""
	}
	return unified(lines(a), lines(b), liveLabel, compiledLabel)
}

func render(t *rules.Table) string {
	if t == nil {
		return ""
	}
	return t.String()
}

func lines(s string) []string {
	if s == "" {
		return nil
	}
	l := strings.SplitAfter(s, "\n")
	if l[len(l)-1] == "" {
		l = l[:len(l)-1]
	}
	return l
}

// unified writes the hunks of a line diff.
func unified(a, b []string, aLabel, bLabel string) string {
	del, ins := diffLines(a, b)
	var out strings.Builder
	fmt.Fprintf(&out, "--- %s\n+++ %s\n", aLabel, bLabel)
	// Walk both sides, collecting hunks: runs of changes with up to
	// contextLines of equal lines around them (closer changes share one).
	type line struct {
		op   byte
		text string
		ai   int // index in a of this or the next a-line
		bi   int
	}
	var script []line
	for i, j := 0, 0; i < len(a) || j < len(b); {
		switch {
		case i < len(a) && del[i]:
			script = append(script, line{'-', a[i], i, j})
			i++
		case j < len(b) && ins[j]:
			script = append(script, line{'+', b[j], i, j})
			j++
		default:
			script = append(script, line{' ', a[i], i, j})
			i++
			j++
		}
	}
	for k := 0; k < len(script); {
		if script[k].op == ' ' {
			k++
			continue
		}
		start := max(0, k-contextLines)
		end := k
		for end < len(script) {
			if script[end].op != ' ' {
				end++
				continue
			}
			run := end
			for run < len(script) && script[run].op == ' ' {
				run++
			}
			if run == len(script) || run-end > 2*contextLines {
				end = min(end+contextLines, len(script))
				break
			}
			end = run
		}
		var an, bn int
		for _, l := range script[start:end] {
			if l.op != '+' {
				an++
			}
			if l.op != '-' {
				bn++
			}
		}
		fmt.Fprintf(&out, "@@ -%s +%s @@\n", hunkRange(script[start].ai, an), hunkRange(script[start].bi, bn))
		for _, l := range script[start:end] {
			out.WriteByte(l.op)
			out.WriteString(l.text)
			if !strings.HasSuffix(l.text, "\n") {
				out.WriteString("\n\\ No newline at end of file\n")
			}
		}
		k = end
	}
	return out.String()
}

// hunkRange is a unified diff range: 1-based start and length, with the
// start of an empty range being the line before it.
func hunkRange(start, n int) string {
	if n == 0 {
		return fmt.Sprintf("%d,0", start)
	}
	if n == 1 {
		return fmt.Sprintf("%d", start+1)
	}
	return fmt.Sprintf("%d,%d", start+1, n)
}

// maxCost bounds the edit distance the diff searches for a minimal
// script. Past it (e.g. a 100,000-element set replaced by another), it
// reports the rest of the region as replaced: still a correct diff, only
// not the shortest, and the time stays linear.
const maxCost = 4096

// diffLines marks the lines of a deleted and of b inserted, by Myers'
// O(ND) algorithm in linear space (divide and conquer on the middle
// snake).
func diffLines(a, b []string) (del, ins []bool) {
	d := &differ{a: a, b: b, del: make([]bool, len(a)), ins: make([]bool, len(b))}
	n := len(a) + len(b) + 2
	d.fwd, d.bwd = make([]int, 2*n+1), make([]int, 2*n+1)
	d.off = n
	d.compare(0, len(a), 0, len(b))
	return d.del, d.ins
}

type differ struct {
	a, b     []string
	del, ins []bool
	fwd, bwd []int
	off      int
}

func (d *differ) compare(x0, x1, y0, y1 int) {
	for x0 < x1 && y0 < y1 && d.a[x0] == d.b[y0] {
		x0++
		y0++
	}
	for x1 > x0 && y1 > y0 && d.a[x1-1] == d.b[y1-1] {
		x1--
		y1--
	}
	switch {
	case x0 == x1:
		for y := y0; y < y1; y++ {
			d.ins[y] = true
		}
	case y0 == y1:
		for x := x0; x < x1; x++ {
			d.del[x] = true
		}
	default:
		x, y, ok := d.middle(x0, x1, y0, y1)
		if !ok || (x == x0 && y == y0) || (x == x1 && y == y1) {
			for i := x0; i < x1; i++ {
				d.del[i] = true
			}
			for j := y0; j < y1; j++ {
				d.ins[j] = true
			}
			return
		}
		d.compare(x0, x, y0, y)
		d.compare(x, x1, y, y1)
	}
}

// middle finds a point on the middle snake of the shortest edit script
// of a[x0:x1] to b[y0:y1]; ok is false when the cost exceeds maxCost.
func (d *differ) middle(x0, x1, y0, y1 int) (int, int, bool) {
	n, m := x1-x0, y1-y0
	delta := n - m
	odd := delta%2 != 0
	fwd, bwd, off := d.fwd, d.bwd, d.off
	fwd[off+1] = 0
	bwd[off+1] = 0
	for D := 0; D <= (n+m+1)/2; D++ {
		if D > maxCost {
			return 0, 0, false
		}
		for k := -D; k <= D; k += 2 {
			var x int
			if k == -D || (k != D && fwd[off+k-1] < fwd[off+k+1]) {
				x = fwd[off+k+1]
			} else {
				x = fwd[off+k-1] + 1
			}
			y := x - k
			for x < n && y < m && d.a[x0+x] == d.b[y0+y] {
				x++
				y++
			}
			fwd[off+k] = x
			if odd && k-delta >= -(D-1) && k-delta <= D-1 && x+bwd[off+delta-k] >= n {
				return x0 + x, y0 + y, true
			}
		}
		for k := -D; k <= D; k += 2 {
			var x int
			if k == -D || (k != D && bwd[off+k-1] < bwd[off+k+1]) {
				x = bwd[off+k+1]
			} else {
				x = bwd[off+k-1] + 1
			}
			y := x - k
			for x < n && y < m && d.a[x1-1-x] == d.b[y1-1-y] {
				x++
				y++
			}
			bwd[off+k] = x
			if !odd && delta-k >= -D && delta-k <= D && x+fwd[off+delta-k] >= n {
				return x1 - x, y1 - y, true
			}
		}
	}
	return 0, 0, false
}
