// Package golden compares test output with files under golden/, byte for
// byte, and rewrites them under `go test ./... -update`.
//
// Every test package of the module imports this package (at least with a
// blank import), because `go test ./... -update` hands -update to every test
// binary and one that does not define it fails.
package golden

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Update is set by -update: tests rewrite their golden files instead of
// comparing.
var Update = flag.Bool("update", false, "rewrite golden files instead of comparing with them")

// Compare checks got against the golden file at path (relative to the test's
// package directory), or rewrites the file under -update. The diff is
// (-want +got); nothing is normalised, so whitespace changes count.
func Compare(t testing.TB, path string, got []byte) {
	t.Helper()
	if *Update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run `go test ./... -update` to create it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s differs from the golden file (-want +got):\n%s", path, diff)
	}
}
