package yaml

import (
	"regexp"
	"testing"
)

// The hand-written matchers accept exactly what upstream's regular
// expressions accept: every string of up to 5 bytes over the bytes that
// matter, and a few longer ones.
func TestMatchersAgreeWithUpstreamRegexps(t *testing.T) {
	tests := []struct {
		name   string
		re     *regexp.Regexp
		match  func(string) bool
		alpha  string
		longer []string
	}{
		{
			name:   "yamlStyleFloat",
			re:     regexp.MustCompile(`^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`),
			match:  matchYAMLStyleFloat,
			alpha:  "09.eE+-x",
			longer: []string{"-12.50e+10", "+.5E-3", "1.e5", "123456789.123456789", "1.5e", "1e5.0", "..1"},
		},
		{
			name:   "base60float",
			re:     regexp.MustCompile(`^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$`),
			match:  matchBase60Float,
			alpha:  "0569_:.+",
			longer: []string{"190:20:30.15", "-1_000:59:00", "1:60", "1:5:7:9.", "1:567", "12:34:56.7_8", "1::2"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			check := func(s string) {
				if got, want := tt.match(s), tt.re.MatchString(s); got != want {
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
				for i := 0; i < len(tt.alpha); i++ {
					gen(prefix+tt.alpha[i:i+1], n-1)
				}
			}
			gen("", 5)
		})
	}
}
