package mud_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/devfence/devfence/policies"
)

// TestPolicies runs the built-in policies over every import, bound. The
// importer adds the default quota so that rules to any pass; what remains
// is the MUD file's own doing, which the policies are there to point out:
// the examples that open a port range with telnet in it or accept the whole
// internet say so on purpose, and every NIST file passes.
func TestPolicies(t *testing.T) {
	eng, err := policies.New(context.Background(), policies.Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{ // file -> policy ids of the denies, in order
		"inbound.json":  {"inbound-no-telnet"},
		"networks.json": {"inbound-from-internet", "inbound-from-internet", "inbound-from-internet"},
	}
	files, _ := filepath.Glob(filepath.Join(examplesDir, "*.json"))
	more, _ := filepath.Glob(filepath.Join(nistDir, "*.json"))
	files = append(files, more...)
	for _, f := range files {
		name := filepath.Base(f)
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		_, p, _ := loadBound(t, name, data)
		if p == nil {
			// Rules of protocols the loader does not know yet; loadBound
			// checked that nothing else is wrong.
			t.Logf("%s: the loader does not know some of its protocols yet; policies not run", name)
			continue
		}
		rep, err := eng.Check(context.Background(), p)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var got []string
		for _, d := range rep.Denies {
			got = append(got, d.Policy)
		}
		if diff := cmp.Diff(want[name], got); diff != "" {
			t.Errorf("%s: policy denies (-want +got):\n%s\n%s", name, diff, strings.Join(denies(rep), "\n"))
		}
	}
}

func denies(r *policies.Report) []string {
	var s []string
	for _, d := range r.Denies {
		s = append(s, d.String())
	}
	return s
}
