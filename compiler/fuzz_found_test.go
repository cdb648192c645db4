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
