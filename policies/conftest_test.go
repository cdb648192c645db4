package policies

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/devfence/devfence/compiler"
	"github.com/google/go-cmp/cmp"
)

// conftestInstall is the command that puts the conftest this test was
// written against on PATH (as $(go env GOPATH)/bin/conftest).
const conftestInstall = "go install github.com/open-policy-agent/conftest@v0.71.1"

func conftest(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("conftest")
	if err != nil {
		if os.Getenv("DEVFENCE_CONFTEST") == "require" {
			t.Fatalf("DEVFENCE_CONFTEST=require but conftest is not on PATH; install it with %s", conftestInstall)
		}
		t.Skipf("conftest is not on PATH, so parity with it is not checked; install it with %s (DEVFENCE_CONFTEST=require makes this a failure)", conftestInstall)
	}
	return path
}

type conftestResult struct {
	Msg      string         `json:"msg"`
	Metadata map[string]any `json:"metadata"`
}

type conftestFile struct {
	Filename string           `json:"filename"`
	Failures []conftestResult `json:"failures"`
	Warnings []conftestResult `json:"warnings"`
}

// key is a result as verdicts writes it: "msg (policy)".
func (r conftestResult) key() string {
	if id, ok := r.Metadata["policy"].(string); ok {
		return r.Msg + " (" + id + ")"
	}
	return r.Msg
}

// runConftest runs `conftest test ARGS FILES --output json` from the
// repository root and returns each file's failures and warnings as
// "msg (policy)".
func runConftest(t *testing.T, bin string, args, files []string) (failures, warnings map[string][]string) {
	t.Helper()
	cmd := exec.Command(bin, slices.Concat([]string{"test", "--no-color", "--output", "json"}, args, files)...)
	cmd.Dir = repoRoot
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	// conftest exits 1 when a file fails a policy; anything else is trouble.
	if err != nil && !(errors.As(err, &exit) && exit.ExitCode() == 1) {
		t.Fatalf("%s: %v\n%s%s", cmd, err, stderr.String(), stdout.String())
	}
	var out []conftestFile
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("%s: reading its JSON: %v\n%s", cmd, err, stdout.String())
	}
	failures, warnings = map[string][]string{}, map[string][]string{}
	for _, f := range out {
		for _, r := range f.Failures {
			failures[f.Filename] = append(failures[f.Filename], r.key())
		}
		for _, r := range f.Warnings {
			warnings[f.Filename] = append(warnings[f.Filename], r.key())
		}
	}
	if (len(failures) > 0) != (err != nil) {
		t.Errorf("%s: exit status %v does not match its failures %v", cmd, err, failures)
	}
	return failures, warnings
}

// verdicts is what Engine.Check says in conftest's terms: the msg the policy
// returned and, where the result named one, its policy id.
func verdicts(r *Report, structured bool) []string { return conftestTerms(r.Denies, structured) }

func conftestTerms(ds compiler.Diagnostics, structured bool) []string {
	var out []string
	for _, d := range ds {
		msg := d.Message
		if d.Path != "" {
			msg = d.Path + ": " + msg
		}
		if structured {
			msg += " (" + d.Policy + ")"
		}
		out = append(out, msg)
	}
	return out
}

func sameVerdicts(t *testing.T, file string, want, got []string) {
	t.Helper()
	want, got = slices.Sorted(slices.Values(want)), slices.Sorted(slices.Values(got))
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("%s: conftest disagrees with Engine.Check (-engine +conftest):\n%s", file, diff)
	}
}

// TestConftestParity runs the documented command,
// `conftest test --policy policies/ PROFILE`, on every denied and valid
// example and checks that it fails exactly what Engine.Check denies.
func TestConftestParity(t *testing.T) {
	bin := conftest(t)
	var files []string
	for _, pattern := range []string{"examples/*.yaml", "examples/denied/*.yaml", "policies/testdata/*.yaml"} {
		m, err := filepath.Glob(filepath.Join(repoRoot, pattern))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range m {
			rel, err := filepath.Rel(repoRoot, f)
			if err != nil {
				t.Fatal(err)
			}
			files = append(files, filepath.ToSlash(rel))
		}
	}
	got, _ := runConftest(t, bin, []string{"--policy", "policies/"}, files)
	e := newEngine(t)
	for _, f := range files {
		sameVerdicts(t, f, verdicts(check(t, e, load(t, f)), true), got[f])
	}
}

// TestConftestParityOrganisation adds organisation policies in two packages;
// conftest needs --all-namespaces to evaluate a package other than main,
// which Engine always does.
func TestConftestParityOrganisation(t *testing.T) {
	bin := conftest(t)
	files := map[string]string{}
	for name, src := range orgPolicies {
		// conftest loads Rego tests as policy, so it needs them to parse.
		if !strings.HasSuffix(name, "_test.rego") {
			files[name] = src
		}
	}
	dir := writeTree(t, files)
	example, err := os.ReadFile(filepath.Join(repoRoot, "examples", "baby-monitor.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var kept []string
	for line := range strings.Lines(string(example)) {
		if !strings.HasPrefix(line, "  description:") {
			kept = append(kept, line)
		}
	}
	profile := filepath.Join(t.TempDir(), "no-description.yaml")
	if err := os.WriteFile(profile, []byte(strings.Join(kept, "")), 0o644); err != nil {
		t.Fatal(err)
	}

	got, _ := runConftest(t, bin, []string{"--all-namespaces", "--policy", "policies/", "--policy", dir}, []string{profile})
	p, err := compiler.Load(profile, compiler.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r := check(t, newEngine(t, dir), p)
	if len(r.Denies) != 2 {
		t.Errorf("want the two organisation denies, got:\n%s", lines(r.Denies))
	}
	// Plain-string results carry no policy id for conftest to show.
	var want []string
	for _, v := range verdicts(r, true) {
		if strings.HasSuffix(v, " (acme.cameras)") {
			v = strings.TrimSuffix(v, " (acme.cameras)")
		}
		want = append(want, v)
	}
	sameVerdicts(t, profile, want, got[profile])
}

// TestConftestParityWarnings checks that warn rules warn, and deny rules
// fail, alike in conftest and Engine.Check.
func TestConftestParityWarnings(t *testing.T) {
	bin := conftest(t)
	dir := writeTree(t, warnPolicies)
	const profile = "examples/baby-monitor.yaml"
	failures, warnings := runConftest(t, bin, []string{"--policy", "policies/", "--policy", dir}, []string{profile})
	r := check(t, newEngine(t, dir), load(t, profile))
	// A plain-string result carries no policy id for conftest to show.
	plain := func(vs []string) []string {
		for i, v := range vs {
			vs[i] = strings.TrimSuffix(v, " (user)")
		}
		return vs
	}
	sameVerdicts(t, profile, plain(conftestTerms(r.Denies, true)), failures[profile])
	sameVerdicts(t, profile+" warnings", plain(conftestTerms(r.Warnings, true)), warnings[profile])
	if len(r.Warnings) != 2 {
		t.Errorf("want two warnings, got:\n%s", lines(r.Warnings))
	}
}
