package compiler

import (
	"regexp"
	"strings"
	"testing"
)

// The hand-written matchers accept what the regular expressions they
// replaced accepted: every string of up to 5 bytes over the bytes that
// matter, and longer cases at the limits.
func TestMatchersAgreeWithRegexps(t *testing.T) {
	label63 := strings.Repeat("a", 63)
	tests := []struct {
		name   string
		re     string
		match  func(string) bool
		alpha  []string
		longer []string
	}{
		{
			name:   "name",
			re:     namePattern,
			match:  isName,
			alpha:  []string{"a", "z", "0", "9", "-", "A", "_"},
			longer: []string{label63, label63 + "a", "-" + label63[1:], "cam-1", "Cam"},
		},
		{
			name:   "host",
			re:     `^(?i)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]([a-z0-9-]{0,61}[a-z0-9])?\.?$`,
			match:  isHostLabels,
			alpha:  []string{"a", "Z", "1", "-", ".", "_"},
			longer: []string{"api.example.com", "api.example.com.", "api.example.com..", label63 + ".com", label63 + "a.com", "a." + label63, "a.1com", "x-.com", "a.b-", "A.B."},
		},
		{
			name:   "duration",
			re:     `^[-+]?([0-9]*(\.[0-9]*)?(ns|us|µs|μs|ms|s|m|h))+$`,
			match:  isDurationSyntax,
			alpha:  []string{"1", ".", "-", "+", "n", "u", "µ", "μ", "m", "s", "h", "x"},
			longer: []string{"1h30m", "2562047h47m16.854775807s", "99999999999h", "1.5.5s", "1hh", "+.s"},
		},
		{
			name: "yaml line",
			re:   `^yaml: line (\d+): (.*)$`,
			match: func(s string) bool {
				_, _, ok := yamlLine(s)
				return ok
			},
			alpha:  []string{"yaml: line ", "1", ": ", "x", "\n"},
			longer: []string{"yaml: line 12: did not find expected key", "yaml: line 3: a: b", "yaml: line x: y", "yaml: line : y", "yaml: line 1: a\nb", "yaml: control characters are not allowed"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			re := regexp.MustCompile(tt.re)
			check := func(s string) {
				if got, want := tt.match(s), re.MatchString(s); got != want {
					t.Errorf("%q: got %v, regexp says %v", s, got, want)
				}
			}
			for _, s := range tt.longer {
				check(s)
			}
			var gen func(prefix string, n int)
			gen = func(prefix string, n int) {
				check(prefix)
				if n == 0 {
					return
				}
				for _, a := range tt.alpha {
					gen(prefix+a, n-1)
				}
			}
			gen("", 5)
		})
	}
}

// The yaml line split gives what the regexp's groups gave.
func TestYAMLLineGroups(t *testing.T) {
	re := regexp.MustCompile(`^yaml: line (\d+): (.*)$`)
	for _, msg := range []string{"yaml: line 12: did not find expected key", "yaml: line 3: a: b"} {
		line, rest, _ := yamlLine(msg)
		if m := re.FindStringSubmatch(msg); line != m[1] || rest != m[2] {
			t.Errorf("%q: got %q, %q; regexp %q, %q", msg, line, rest, m[1], m[2])
		}
	}
}
