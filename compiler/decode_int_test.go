package compiler

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	"gopkg.in/yaml.v3"
)

// TestScalarValueWholeNumbers: the plain-data document policies read holds
// whole numbers exactly; on 32-bit CPUs int(4294967296) was 0.
func TestScalarValueWholeNumbers(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"42", "42"},
		{"2147483647", "2147483647"},
		{"2147483648", "2147483648"},
		{"-2147483649", "-2147483649"},
		{"4294967296", "4294967296"},
		{"10_485_760", "10485760"},
		{"9223372036854775807", "9223372036854775807"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got := fmt.Sprint(scalarValue(&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: tc.in}))
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("scalarValue(%s) (-want +got):\n%s", tc.in, diff)
			}
		})
	}
}
