package device

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestUnifiedDiff(t *testing.T) {
	a := "table inet devfence {\n\tchain input {\n\t\tct state invalid drop\n\t\tcounter drop\n\t}\n}\n"
	b := "table inet devfence {\n\tchain input {\n\t\tct state invalid drop\n\t\ttcp dport 22 accept\n\t\tcounter drop\n\t}\n}\n"
	got := unified(lines(a), lines(b), "live", "profile")
	want := `--- live
+++ profile
@@ -1,6 +1,7 @@
 table inet devfence {
 	chain input {
 		ct state invalid drop
+		tcp dport 22 accept
 		counter drop
 	}
 }
`
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
	if got := unified(nil, lines("x\n"), "live (no table)", "p"); got != "--- live (no table)\n+++ p\n@@ -0,0 +1 @@\n+x\n" {
		t.Errorf("diff against nothing:\n%s", got)
	}
}

// TestDiffLinesMinimal checks the Myers diff against a quadratic LCS on
// random inputs: the script must turn a into b and be as short.
func TestDiffLinesMinimal(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 500 {
		a, b := randLines(r), randLines(r)
		del, ins := diffLines(a, b)
		var kept []string
		var dels, inss int
		for i, l := range a {
			if del[i] {
				dels++
			} else {
				kept = append(kept, l)
			}
		}
		var keptB []string
		for j, l := range b {
			if ins[j] {
				inss++
			} else {
				keptB = append(keptB, l)
			}
		}
		if strings.Join(kept, "") != strings.Join(keptB, "") {
			t.Fatalf("kept lines differ for %q -> %q", a, b)
		}
		if l := lcs(a, b); dels != len(a)-l || inss != len(b)-l {
			t.Fatalf("%q -> %q: %d deletions, %d insertions; the LCS is %d", a, b, dels, inss, l)
		}
	}
}

func randLines(r *rand.Rand) []string {
	n := r.IntN(12)
	out := make([]string, n)
	for i := range out {
		out[i] = string(rune('a'+r.IntN(4))) + "\n"
	}
	return out
}

func lcs(a, b []string) int {
	m := make([][]int, len(a)+1)
	for i := range m {
		m[i] = make([]int, len(b)+1)
	}
	for i := len(a) - 1; i >= 0; i-- {
		for j := len(b) - 1; j >= 0; j-- {
			if a[i] == b[j] {
				m[i][j] = m[i+1][j+1] + 1
			} else {
				m[i][j] = max(m[i+1][j], m[i][j+1])
			}
		}
	}
	return m[0][0]
}

// TestDiffLargeIsLinear: two unrelated 100,000-line inputs give up on
// minimality past maxCost instead of taking quadratic time.
func TestDiffLargeIsLinear(t *testing.T) {
	a, b := make([]string, 100000), make([]string, 100000)
	for i := range a {
		a[i] = "a" + strings.Repeat("x", i%7) + "\n"
		b[i] = "b" + strings.Repeat("y", i%5) + "\n"
	}
	del, ins := diffLines(a, b)
	for i := range del {
		if !del[i] || !ins[i] {
			t.Fatal("unrelated inputs must be all replaced")
		}
	}
}
