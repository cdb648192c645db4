package cli

import (
	"regexp"
	"testing"
)

// devfence: cutCommaWhitespace does what upstream's regexp did, on every
// string of up to 5 bytes over the bytes that matter.
func TestCutCommaWhitespaceAgreesWithRegexp(t *testing.T) {
	re := regexp.MustCompile("[, ]+.*")
	const alpha = "a, \n"
	var gen func(prefix string, n int)
	gen = func(prefix string, n int) {
		if got, want := cutCommaWhitespace(prefix), re.ReplaceAllString(prefix, ""); got != want {
			t.Errorf("%q: got %q, regexp gives %q", prefix, got, want)
		}
		if n == 0 {
			return
		}
		for i := 0; i < len(alpha); i++ {
			gen(prefix+alpha[i:i+1], n-1)
		}
	}
	gen("", 5)
	gen("name, n", 3)
}
