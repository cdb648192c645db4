package compiler_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/devfence/devfence/compiler"
)

// TestParseFuzzFindings holds what FuzzParse found, as regular cases.
func TestParseFuzzFindings(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		// Panicked: the path of a network called "." is "networks..",
		// whose empty segment Source.Position indexed.
		{"network named dot", "networks:\n .:", `f.yaml:1:1: version: version is required; this devfence reads ` + "`version: 1`" + `
f.yaml:1:1: device.name: is required
f.yaml:2:2: networks..: network name "." must be lowercase letters, digits and '-', starting with a letter or digit, at most 63 characters
f.yaml:2:4: networks..: expected a list of addresses and CIDRs, got nothing`},
		// Was reported at line 2 of what the test took for a 1-line file:
		// YAML takes a lone CR for a line break.
		{"lone carriage return", "\r00", "f.yaml:2:1: expected a mapping, got the number 00"},
		// badText counts lines as YAML does, CR and NEL included.
		{"control character after CR and NEL", "a: 1\rb: 2\u0085c: \x01", "f.yaml:3:4: character U+0001 is not allowed in YAML; write it as an escape in a double-quoted string"},
		// Was reported at 2:1, past the end of the file.
		{"document marker alone", "---", "f.yaml:1:1: the YAML document is empty; a profile starts with `version: 1`"},
		{"document marker and a comment", "--- # nothing\n", "f.yaml:1:1: the YAML document is empty; a profile starts with `version: 1`"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := compiler.Parse("f.yaml", []byte(tc.in))
			if err == nil {
				t.Fatal("accepted")
			}
			if d := cmp.Diff(tc.want, err.Error()); d != "" {
				t.Errorf("diagnostics (-want +got):\n%s", d)
			}
			checkParse(t, []byte(tc.in))
		})
	}
}
