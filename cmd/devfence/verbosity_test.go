package main

import (
	"strings"
	"testing"
)

func TestQuietAndVerbose(t *testing.T) {
	const plug = root + "examples/smart-plug.yaml"
	const mudFile = root + "examples/mud/inbound.json"
	outDir := t.TempDir()
	for _, tc := range []struct {
		name      string
		args      []string
		code      int
		policies  bool     // only in a build with policies
		stdout    string   // a substring of stdout
		stdoutNot string   // not in stdout
		stderr    []string // substrings of stderr
		stderrNot []string // not in stderr
		noStderr  bool     // stderr is empty
	}{
		{name: "compile: -v after the command times each step", args: []string{"compile", plug, "-v"},
			stdout: "table inet devfence {", stderr: []string{": loaded, checked and compiled in ", "rendered "}},
		{name: "compile: -v before the command", args: []string{"-v", "compile", plug},
			stderr: []string{": loaded, checked and compiled in "}},
		{name: "compile: quiet by default", args: []string{"compile", plug}, noStderr: true},
		{name: "compile: -q keeps warnings", args: []string{"compile", "-q", "--no-policy", plug}, policies: true,
			stdout: "table inet devfence {", stderr: []string{"devfence: warning: --no-policy"}},
		{name: "compile: -q keeps errors", args: []string{"-q", "compile", "nope.yaml"}, code: exitUsage,
			stderr: []string{"open nope.yaml: no such file or directory"}},
		{name: "compile: -q keeps diagnostics", args: []string{"compile", root + "examples/invalid/bad-port.yaml", "--quiet"}, code: exitProfile,
			stderr: []string{"bad-port.yaml:14:13: inbound.services[1].port"}},
		{name: "compile --out-dir: summary", args: []string{"compile", "--out-dir", outDir, plug},
			stderr: []string{"profiles/s"}},
		{name: "compile --out-dir: -q drops the summary", args: []string{"compile", "--out-dir", outDir, "-q", plug}, noStderr: true},
		{name: "-q and -v exclude each other", args: []string{"-q", "compile", "-v", plug}, code: exitUsage,
			stderr: []string{"-q and -v exclude each other"}, stdoutNot: "table"},
		{name: "validate: summary", args: []string{"validate", plug}, policies: true, stdout: "1 profile(s) checked: 1 passed"},
		{name: "validate: -q prints nothing when all pass", args: []string{"validate", "-q", plug}, policies: true,
			stdoutNot: "checked", noStderr: true},
		{name: "validate: -q prints the failures only", args: []string{"-q", "validate", plug, root + "examples/denied/inbound-no-telnet.yaml"},
			policies: true, code: exitProfile, stdout: "(inbound-no-telnet)", stdoutNot: "checked"},
		{name: "validate: -v times each profile", args: []string{"validate", "-v", plug}, policies: true,
			stderr: []string{"policies compiled and query prepared in ", "smart-plug.yaml: loaded and checked in "}},
		{name: "import-mud: notes on stderr", args: []string{"import-mud", mudFile}, policies: true,
			stderr: []string{"not imported: mud.cache-validity", "networks left empty"}},
		{name: "import-mud: -q leaves them in the profile only", args: []string{"import-mud", "-q", mudFile}, policies: true,
			stdout: "# Not imported (2)", noStderr: true},
		{name: "import-mud: -q before the command", args: []string{"-q", "import-mud", mudFile}, policies: true, noStderr: true},
		{name: "import-mud: -q keeps the --strict error", args: []string{"import-mud", "-q", "--strict", mudFile}, policies: true, code: exitProfile,
			stderr: []string{"--strict: 2 not imported, 0 skipped as defective, 2 networks left empty"}, stderrNot: []string{"not imported: mud."}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.policies && !hasPolicies {
				t.Skip("the device build has no policies")
			}
			code, stdout, stderr := devfence(t, tc.args...)
			if code != tc.code {
				t.Errorf("exit %d, want %d\nstderr: %s", code, tc.code, stderr)
			}
			if !strings.Contains(stdout, tc.stdout) {
				t.Errorf("stdout lacks %q:\n%s", tc.stdout, stdout)
			}
			if tc.stdoutNot != "" && strings.Contains(stdout, tc.stdoutNot) {
				t.Errorf("stdout has %q:\n%s", tc.stdoutNot, stdout)
			}
			for _, want := range tc.stderr {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr lacks %q:\n%s", want, stderr)
				}
			}
			for _, not := range tc.stderrNot {
				if strings.Contains(stderr, not) {
					t.Errorf("stderr has %q:\n%s", not, stderr)
				}
			}
			if tc.noStderr && stderr != "" {
				t.Errorf("stderr is not empty:\n%s", stderr)
			}
		})
	}
}

// TestVerbosityFlagsEverywhere checks that every command takes -q and -v
// after its name, as the global flags do before it.
func TestVerbosityFlagsEverywhere(t *testing.T) {
	app := newApp(nil, nil)
	for _, c := range app.Commands {
		names := map[string]bool{}
		for _, f := range c.Flags {
			for _, n := range f.Names() {
				names[n] = true
			}
		}
		for _, want := range []string{"q", "quiet", "v", "verbose"} {
			if !names[want] {
				t.Errorf("command %s has no -%s", c.Name, want)
			}
		}
	}
}
