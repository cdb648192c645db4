package policies

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/open-policy-agent/opa/v1/rego"
)

// TestIntArithmeticPast32Bits checks the results OPA gets wrong on 32-bit
// CPUs without arith32.go; run it with GOARCH=386 (CI does) to exercise the
// wrappers, on 64-bit hosts it checks that they change nothing.
func TestIntArithmeticPast32Bits(t *testing.T) {
	tests := []struct {
		expr string
		want string
	}{
		{"1048576 * 3600", "3774873600"},   // the egress quota comparison of 1MiB/1h
		{"10485760 * 3600", "37748736000"}, // and of its 10MiB/1h bound
		{"-2147483648 * 2147483647", "-4611686016279904256"},
		{"2147483647 + 1", "2147483648"},
		{"-2147483648 - 1", "-2147483649"},
		{"-2147483648 / -1", "2147483648"},
		{"abs(-2147483648)", "2147483648"},
		{"7 / 2", "3.5"}, // inexact: OPA's float path
		{"6 / 3", "2"},
		{"4294967296 * 2", "8589934592"}, // already past the window: OPA's big.Int path
		{"1048576 * 3600 > 10485760 * 3600", "false"},
		{"{1, 2} - {2}", "[1]"}, // minus on sets still reaches OPA
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			rs, err := rego.New(rego.Query("x := " + tt.expr)).Eval(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if len(rs) != 1 {
				t.Fatalf("%d results, want 1", len(rs))
			}
			b, err := json.Marshal(rs[0].Bindings["x"])
			if err != nil {
				t.Fatal(err)
			}
			got := string(b)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("%s (-want +got):\n%s", tt.expr, diff)
			}
		})
	}
}
