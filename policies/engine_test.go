package policies

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/devfence/devfence/internal/golden"

	"github.com/devfence/devfence/compiler"
	"github.com/google/go-cmp/cmp"
)

// repoRoot is where example paths are relative to, so that diagnostics and
// golden files name examples/denied/x.yaml whatever the test's directory.
const repoRoot = ".."

func newEngine(t testing.TB, dirs ...string) *Engine {
	t.Helper()
	e, err := New(context.Background(), Options{Dirs: dirs})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return e
}

// load reads a profile by its path from the repository root.
func load(t testing.TB, rel string) *compiler.Profile {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, rel))
	if err != nil {
		t.Fatal(err)
	}
	p, err := compiler.Parse(rel, data)
	if err != nil {
		t.Fatalf("%s does not load, so it cannot test a policy:\n%v", rel, err)
	}
	return p
}

func check(t testing.TB, e *Engine, p *compiler.Profile) *Report {
	t.Helper()
	r, err := e.Check(context.Background(), p)
	if err != nil {
		t.Fatalf("Check(%s): %v", p.Source.File, err)
	}
	return r
}

func lines(ds compiler.Diagnostics) string {
	var b strings.Builder
	for _, d := range ds {
		b.WriteString(d.String())
		b.WriteByte('\n')
	}
	return b.String()
}

// builtinIDs are the ids of the policies embedded in this package.
func builtinIDs(t *testing.T) []string {
	t.Helper()
	return newEngine(t).PolicyIDs()
}

// TestDeniedGolden checks that each built-in policy has a profile that breaks
// it and no other policy, and that the diagnostics match the golden file.
func TestDeniedGolden(t *testing.T) {
	e := newEngine(t)
	ids := builtinIDs(t)

	files, err := filepath.Glob(filepath.Join(repoRoot, "examples", "denied", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var have []string
	for _, f := range files {
		have = append(have, strings.TrimSuffix(filepath.Base(f), ".yaml"))
	}
	if diff := cmp.Diff(ids, have); diff != "" {
		t.Errorf("examples/denied/ should hold one profile per built-in policy (-policies +files):\n%s", diff)
	}

	for _, id := range have {
		t.Run(id, func(t *testing.T) {
			rel := "examples/denied/" + id + ".yaml"
			r := check(t, e, load(t, rel))
			if len(r.Denies) == 0 {
				t.Fatalf("%s passes; it should break policy %s", rel, id)
			}
			for _, d := range r.Denies {
				if d.Policy != id {
					t.Errorf("%s should break only %s, but also: %s", rel, id, d)
				}
			}
			got := lines(r.Denies)
			golden.Compare(t, filepath.Join(repoRoot, "golden", "denied", id+".txt"), []byte(got))
		})
	}
}

// TestExamplesPass checks every top-level example against the built-in
// policies: examples are what users copy.
func TestExamplesPass(t *testing.T) {
	e := newEngine(t)
	files, err := filepath.Glob(filepath.Join(repoRoot, "examples", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no examples/*.yaml found")
	}
	for _, f := range files {
		rel := "examples/" + filepath.Base(f)
		t.Run(filepath.Base(f), func(t *testing.T) {
			r := check(t, e, load(t, rel))
			if len(r.Denies) > 0 {
				t.Errorf("%s should pass the built-in policies:\n%s", rel, lines(r.Denies))
			}
		})
	}
}

func TestWaiverSilencesAndIsReported(t *testing.T) {
	e := newEngine(t)
	p := load(t, "policies/testdata/waived.yaml")
	r := check(t, e, p)
	if len(r.Denies) > 0 {
		t.Errorf("waived profile should pass:\n%s", lines(r.Denies))
	}
	want := []Waived{{Policy: "inbound-no-telnet", Reason: "the bootloader console speaks telnet only", Path: "waivers[1]"}}
	if diff := cmp.Diff(want, r.Waived); diff != "" {
		t.Errorf("Waived (-want +got):\n%s", diff)
	}

	// Without its waivers, the same profile is denied.
	delete(p.Source.Document(), "waivers")
	p.Waivers = nil
	r = check(t, e, p)
	got := lines(r.Denies)
	wantDenies := `policies/testdata/waived.yaml:16:7: inbound.services[0].port: service "console" listens on port 23 (telnet, Mirai's way in); serve a console over SSH on another port, or not at all (inbound-no-telnet)` + "\n"
	if diff := cmp.Diff(wantDenies, got); diff != "" {
		t.Errorf("unwaived (-want +got):\n%s", diff)
	}
	if len(r.Waived) != 0 {
		t.Errorf("unwaived profile reports waivers: %v", r.Waived)
	}
}

// orgPolicies are an organisation's extra policies: one structured and
// waivable in package main, one in its own package returning a plain string.
var orgPolicies = map[string]string{
	"main.rego": `package main

policy_ids contains "acme-description"

finding contains make_finding("acme-description", "device.description", "every device needs a description for the asset register") if {
	not input.device.description
}
`,
	"cameras/ports.rego": `package acme.cameras

deny contains "the asset register allows no service on port 8443" if {
	some s in input.inbound.services
	s.port == 8443
}
`,
	// Rego tests never become policy, so a broken one cannot stop a check.
	"cameras/ports_test.rego": `package acme.cameras_test
this is not Rego
`,
}

func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, src := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestOrganisationPolicies(t *testing.T) {
	dir := writeTree(t, orgPolicies)
	e := newEngine(t, dir)
	if !slices.Contains(e.PolicyIDs(), "acme-description") {
		t.Errorf("PolicyIDs() = %v, want acme-description among them", e.PolicyIDs())
	}

	p := load(t, "examples/baby-monitor.yaml")
	delete(p.Source.Document()["device"].(map[string]any), "description")
	r := check(t, e, p)
	want := "examples/baby-monitor.yaml:1:1: the asset register allows no service on port 8443 (acme.cameras)\n" +
		"examples/baby-monitor.yaml:7:3: device.description: every device needs a description for the asset register (acme-description)\n"
	if diff := cmp.Diff(want, lines(r.Denies)); diff != "" {
		t.Errorf("denies (-want +got):\n%s", diff)
	}

	// An organisation's id can be waived like a built-in one.
	p.Source.Document()["waivers"] = []any{map[string]any{"policy": "acme-description", "reason": "described in the vendor's datasheet"}}
	p.Waivers = []compiler.Waiver{{Policy: "acme-description", Reason: "described in the vendor's datasheet"}}
	r = check(t, e, p)
	want = "examples/baby-monitor.yaml:1:1: the asset register allows no service on port 8443 (acme.cameras)\n"
	if diff := cmp.Diff(want, lines(r.Denies)); diff != "" {
		t.Errorf("denies with waiver (-want +got):\n%s", diff)
	}
	if len(r.Waived) != 1 || r.Waived[0].Policy != "acme-description" {
		t.Errorf("Waived = %v, want the acme-description waiver", r.Waived)
	}
}

func TestBadOrganisationPolicies(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files map[string]string
		want  string // the error's first line, with DIR for the directory
	}{{
		name:  "parse error",
		files: map[string]string{"bad.rego": "package main\n\ndeny contains msg if {\n\tmsg = = \"x\"\n}\n"},
		want:  "DIR/bad.rego:4:8: rego parse error: ",
	}, {
		name:  "compile error",
		files: map[string]string{"undefined.rego": "package main\n\ndeny contains msg if {\n\tmsg := no_such_function(input)\n}\n"},
		want:  "DIR/undefined.rego:4:9: rego type error: undefined function no_such_function",
	}, {
		name:  "if without contains",
		files: map[string]string{"bool.rego": "package main\n\n# a boolean deny never fails a profile\ndeny if {\n\tinput.version == 2\n}\n"},
		want:  "DIR/bool.rego:4:1: rego compile error: rule deny uses if without contains",
	}, {
		name:  "rego v0",
		files: map[string]string{"v0.rego": "package main\n\ndeny[msg] {\n\tnot input.device.description\n\tmsg := \"describe the device\"\n}\n"},
		want:  "DIR/v0.rego:1:1: rego version: this file is Rego v0 (OPA before 1.0); devfence reads Rego v1, as conftest does by default: convert it with `opa fmt --v0-v1 -w DIR/v0.rego`",
	}, {
		name:  "no policies",
		files: map[string]string{"README.md": "policies live elsewhere\n"},
		want:  "policy directory DIR holds no .rego files",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeTree(t, tc.files)
			_, err := New(context.Background(), Options{Dirs: []string{dir}})
			if err == nil {
				t.Fatal("New accepted broken policies")
			}
			first, _, _ := strings.Cut(err.Error(), "\n")
			want := strings.ReplaceAll(tc.want, "DIR", dir)
			if !strings.HasPrefix(first, want) {
				t.Errorf("error = %q\nwant it to start with %q", err, want)
			}
		})
	}

	_, err := New(context.Background(), Options{Dirs: []string{filepath.Join(t.TempDir(), "missing")}})
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing directory: error = %v, want one wrapping os.ErrNotExist", err)
	}
}

func TestRegoErrorsArePositioned(t *testing.T) {
	dir := writeTree(t, map[string]string{"bad.rego": "package main\n\ndeny contains msg if {\n\tmsg := \"x\"\n"})
	_, err := New(context.Background(), Options{Dirs: []string{dir}})
	var re RegoErrors
	if !errors.As(err, &re) || len(re) == 0 {
		t.Fatalf("error %v is not RegoErrors", err)
	}
	if re[0].File != filepath.Join(dir, "bad.rego") || re[0].Line == 0 {
		t.Errorf("first error at %s:%d, want in %s/bad.rego", re[0].File, re[0].Line, dir)
	}
}

func TestCheckNeedsSource(t *testing.T) {
	if _, err := newEngine(t).Check(context.Background(), &compiler.Profile{}); err == nil {
		t.Error("Check of a profile without source succeeded")
	}
}

// warnPolicies fail on one thing and warn on two, conftest's way: warn
// rules in any package, with a plain string or a structured result.
var warnPolicies = map[string]string{
	"warn.rego": `package main

warn contains {"msg": "device.description: say what the device is for", "policy": "org-describe", "path": "device.description"} if {
	not contains(input.device.description, "for")
}

warn_quota contains "the total egress budget is over 1MiB an hour" if {
	input.egress.total != "1MiB/1h"
}

deny contains {"msg": "device.name: names start with acme-", "policy": "org-name", "path": "device.name"} if {
	not startswith(input.device.name, "acme-")
}
`,
}

func TestWarnRules(t *testing.T) {
	e := newEngine(t, writeTree(t, warnPolicies))
	r := check(t, e, load(t, "examples/baby-monitor.yaml"))
	for _, tc := range []struct {
		what string
		got  compiler.Diagnostics
		want string
	}{
		{"Denies", r.Denies, "examples/baby-monitor.yaml:6:3: device.name: names start with acme- (org-name)\n"},
		{"Warnings", r.Warnings, "examples/baby-monitor.yaml:1:1: the total egress budget is over 1MiB an hour (user)\n" +
			"examples/baby-monitor.yaml:7:3: device.description: say what the device is for (org-describe)\n"},
	} {
		if diff := cmp.Diff(tc.want, lines(tc.got)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tc.what, diff)
		}
	}
	denies, err := e.Denies(context.Background(), load(t, "examples/baby-monitor.yaml"))
	if err != nil || len(denies) != 1 {
		t.Errorf("Denies = %v, %v; want the one deny, warnings apart", denies, err)
	}
}
