package policies

import (
	"context"
	"io/fs"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/format"
	"github.com/open-policy-agent/opa/v1/tester"
)

// TestRego runs the Rego unit tests (*_test.rego) beside the policies, as
// `opa test policies/` or `conftest verify --policy policies/` would.
func TestRego(t *testing.T) {
	modules := map[string]*ast.Module{}
	want := 0
	err := fs.WalkDir(builtin, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		src, err := builtin.ReadFile(name)
		if err != nil {
			return err
		}
		m, err := ast.ParseModuleWithOpts(name, string(src), ast.ParserOptions{RegoVersion: ast.RegoV1})
		if err != nil {
			return err
		}
		modules[name] = m
		for _, r := range m.Rules {
			if strings.HasPrefix(ruleName(r), "test_") {
				want++
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if want == 0 {
		t.Fatal("no Rego tests (test_* rules) found beside the policies")
	}

	ch, err := tester.NewRunner().SetModules(modules).CapturePrintOutput(true).RunTests(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ran := 0
	for r := range ch {
		ran++
		name := r.Package + "." + r.Name
		switch {
		case r.Error != nil:
			t.Errorf("%s (%s): error: %v\n%s", name, r.Location, r.Error, r.Output)
		case r.Fail:
			t.Errorf("%s (%s): FAIL\n%s", name, r.Location, r.Output)
		case r.Skip:
			t.Errorf("%s (%s): skipped; devfence does not skip policy tests", name, r.Location)
		}
	}
	if ran != want {
		t.Errorf("ran %d Rego tests, want %d (every test_* rule)", ran, want)
	}
	t.Logf("%d Rego tests ran", ran)
}

// TestRegoFormatted keeps the policies as `opa fmt` writes them, so that a
// reformat never hides a change in review.
func TestRegoFormatted(t *testing.T) {
	err := fs.WalkDir(builtin, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		src, err := builtin.ReadFile(name)
		if err != nil {
			return err
		}
		got, err := format.SourceWithOpts(name, src, format.Opts{RegoVersion: ast.RegoV1})
		if err != nil {
			return err
		}
		if diff := cmp.Diff(string(src), string(got)); diff != "" {
			t.Errorf("%s is not as opa fmt writes it (-have +formatted):\n%s", name, diff)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
