package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/urfave/cli/v2"

	"github.com/devfence/devfence/internal/golden"
)

// jsonGolden is where a command's JSON shape is kept (docs/JSON.md).
func jsonGolden(name string) string { return filepath.Join(root, "golden", "json", name+".json") }

// normalise replaces, in out, the values that differ from run to run and
// nothing else: each pattern must match exactly want times (so a key that
// went missing, or appeared twice, fails the test rather than hiding), and
// the matched text becomes repl. The patterns are documented in
// docs/JSON.md ("Golden files").
func normalise(t *testing.T, name, out string, patterns ...normalRule) string {
	t.Helper()
	for _, r := range patterns {
		n := len(r.re.FindAllStringIndex(out, -1))
		if n != r.want {
			t.Fatalf("%s: %s matches %d times, want %d:\n%s", name, r.re, n, r.want, out)
		}
		out = r.re.ReplaceAllString(out, r.repl)
	}
	return out
}

type normalRule struct {
	re   *regexp.Regexp
	want int
	repl string
}

// measured matches a measured time, "key": 0.012, on a line of its own.
func measured(key string) normalRule {
	return normalRule{regexp.MustCompile(`(?m)^(\s*"` + key + `": )[0-9.e-]+(,?)$`), 1, "${1}0${2}"}
}

// appliedAt is when apply ran, in status.
var appliedAt = normalRule{regexp.MustCompile(`"at": "[0-9T:.-]+Z"`), 1, `"at": "APPLIED_AT"`}

// profileSum replaces the SHA-256 of path's bytes, computed here: a
// wrong digest in the output does not match and fails the test.
func profileSum(t *testing.T, path string) normalRule {
	sum, err := fileSHA256(path)
	if err != nil {
		t.Fatal(err)
	}
	return normalRule{regexp.MustCompile(`"profile_sha256": "` + sum + `"`), 1, `"profile_sha256": "PROFILE_SHA256"`}
}

// netnsName replaces the test namespace's random name.
func netnsName(ns string, times int) normalRule {
	return normalRule{regexp.MustCompile(regexp.QuoteMeta(ns)), times, "NETNS"}
}

// TestJSONGoldens runs every command that has --format with --format json
// on fixed inputs, in a namespace of its own for the kernel commands, and
// compares each output, valid JSON, with golden/json/<case>.json. Every
// command with a --format flag must have a case here.
func TestJSONGoldens(t *testing.T) {
	onEachKernel(t, func(t *testing.T, ns string) {
		state := t.TempDir()
		mudOut := filepath.Join(t.TempDir(), "bulb.yaml")
		sensorOut := filepath.Join(t.TempDir(), "sensor.yaml")
		type jsonCase struct {
			name    string // the golden file's
			command string
			args    []string
			code    int
			normal  []normalRule
			lines   bool // JSON lines (watch): golden elsewhere
			policy  bool // full build only: the device build has no policies, import-mud, explain or test
		}
		cases := []jsonCase{
			{name: "validate", command: "validate", args: []string{babyMonitor, root + "examples/invalid/bad-port.yaml"}, code: exitProfile, policy: true},
			{name: "import-mud", command: "import-mud", args: []string{"--bind", "local-networks=192.168.1.0/24", root + "examples/mud/classes.json"}, policy: true},
			{name: "import-mud-output", command: "import-mud", args: []string{"-o", mudOut, root + "examples/mud/classes.json"}, policy: true,
				normal: []normalRule{{regexp.MustCompile(regexp.QuoteMeta(mudOut)), 1, "OUTPUT"}}},
			// A file with a defective ACE, input read despite the RFCs, replies
			// and rules: every part of the report.
			{name: "import-mud-report", command: "import-mud", args: []string{"-o", sensorOut, root + "compiler/mud/testdata/thirdparty/osmud-sensor.json"}, policy: true,
				normal: []normalRule{{regexp.MustCompile(regexp.QuoteMeta(sensorOut)), 1, "OUTPUT"}}},
			{name: "compile", command: "compile", args: []string{smartPlug}},
			{name: "diff", command: "diff", args: []string{"--netns", ns, babyMonitor}, code: exitProfile,
				normal: []normalRule{netnsName(ns, 2)}},
			{name: "apply-dry-run", command: "apply", args: []string{"--dry-run", "--netns", ns, "--state-dir", state, babyMonitor}, code: exitProfile,
				normal: []normalRule{netnsName(ns, 2)}},
			{name: "apply", command: "apply", args: []string{"--netns", ns, "--state-dir", state, babyMonitor},
				normal: []normalRule{netnsName(ns, 1), measured("compile_s"), measured("apply_s")}},
			{name: "status", command: "status", args: []string{"--netns", ns, "--state-dir", state, babyMonitor},
				normal: []normalRule{netnsName(ns, 1), appliedAt, profileSum(t, babyMonitor)}},
			// Without PROFILE: the one apply recorded, read back and checked.
			{name: "status-applied", command: "status", args: []string{"--netns", ns, "--state-dir", state},
				normal: []normalRule{netnsName(ns, 1), appliedAt, profileSum(t, babyMonitor)}},
			{name: "refresh", command: "refresh", args: []string{"--netns", ns, "--state-dir", state, babyMonitor},
				normal: []normalRule{netnsName(ns, 1)}},
			{name: "confirm", command: "confirm", args: []string{"--netns", ns, "--state-dir", state},
				normal: []normalRule{netnsName(ns, 1)}},
			{name: "rollback", command: "rollback", args: []string{"--netns", ns, "--state-dir", state},
				normal: []normalRule{netnsName(ns, 1),
					{regexp.MustCompile(`"saved_at": "[0-9T:-]+Z"`), 1, `"saved_at": "SAVED"`}}},
			{name: "watch", command: "watch", lines: true}, // TestWatchCLI
			{name: "explain", command: "explain", args: []string{"--addr", "192.168.1.50", babyMonitor,
				"in tcp 192.168.1.20 > 8443", "wait 1s", "out udp > 198.51.100.9:123 count 20 size 1000"}, policy: true},
			{name: "test", command: "test", args: []string{root + "examples/tests/smart-plug.test.yaml"}, policy: true},
			// The features are this kernel's; a kernel lacking one changes
			// the golden, which is the point.
			{name: "probe", command: "probe", args: []string{"--netns", ns},
				normal: []normalRule{{regexp.MustCompile(`"kernel": "[^"]+"`), 1, `"kernel": "RELEASE"`}}},
		}
		var covered []string
		for _, tc := range cases {
			covered = append(covered, tc.command)
		}
		for _, c := range commands {
			if hasFormatFlag(c) && !slices.Contains(covered, c.Name) {
				t.Errorf("%s has --format but no case in TestJSONGoldens", c.Name)
			}
		}
		for _, tc := range cases {
			if tc.lines || (tc.policy && !hasPolicies) {
				continue
			}
			var waiting *proc
			if tc.name == "confirm" {
				// Something must wait for confirmation: an apply --confirm of
				// another profile, in a process of its own.
				waiting = startBinary(t, nil, "apply", "--netns", ns, "--state-dir", state, "--confirm", "1m", smartPlug)
				waiting.waitStderr(t, "waiting 1m0s for `devfence confirm`")
			}
			args := append([]string{tc.command, "--format", "json"}, tc.args...)
			code, out, errs := devfence(t, args...)
			if code != tc.code {
				t.Fatalf("%s: exit %d, want %d; stderr: %s", tc.name, code, tc.code, errs)
			}
			if !json.Valid([]byte(out)) {
				t.Fatalf("%s: not valid JSON:\n%s", tc.name, out)
			}
			if strings.Contains(out, "\x1b[") {
				t.Errorf("%s: colour in JSON:\n%s", tc.name, out)
			}
			golden.Compare(t, jsonGolden(tc.name), []byte(normalise(t, tc.name, out, tc.normal...)))
			if tc.name == "status" {
				// The deprecated --json still works, saying so on stderr.
				code, old, errs := devfence(t, append([]string{"status", "--json"}, tc.args...)...)
				if d := cmp.Diff(out, old); code != exitOK || d != "" || !strings.Contains(errs, "--json is deprecated, use --format json") {
					t.Errorf("status --json: exit %d, stderr %q, stdout (-want +got):\n%s", code, errs, d)
				}
			}
			if waiting != nil && (!waiting.wait(t, watchWait) || waiting.cmd.ProcessState.ExitCode() != exitOK) {
				t.Fatalf("apply --confirm after confirm: %s", waiting.errb.String())
			}
		}
		if _, err := os.Stat(mudOut); hasPolicies && err != nil {
			t.Errorf("import-mud -o with --format json wrote no profile: %v", err)
		}
	})
}

func TestFormatUsage(t *testing.T) {
	for _, tc := range []struct {
		name   string
		args   []string
		stderr string
	}{
		{"unknown format", []string{"status", "--format", "yaml"}, `--format "yaml": use text or json`},
		{"unknown format, diff", []string{"diff", "--format", "xml", smartPlug}, `--format "xml": use text or json`},
		{"json and text", []string{"status", "--json", "--format", "text"}, "--json and --format text disagree"},
		{"watch", []string{"watch", "--format", "csv"}, `--format "csv": use text or json`},
		// import-mud is an authoring command: the device build has none.
		{"import-mud", []string{"import-mud", "--format", "yaml", root + "examples/mud/classes.json"}, map[bool]string{
			true: `--format "yaml": use text or json`, false: `import-mud is an authoring command: this device build`}[hasPolicies]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := devfence(t, tc.args...)
			if code != exitUsage || out != "" || !strings.Contains(errs, tc.stderr) {
				t.Errorf("%s: exit %d, stdout %q, stderr %q; want exit 2 and %q", tc.name, code, out, errs, tc.stderr)
			}
		})
	}
}

func hasFormatFlag(c *cli.Command) bool { return hasFlag(c, "format") }

func hasFlag(c *cli.Command, name string) bool {
	for _, f := range c.Flags {
		if slices.Contains(f.Names(), name) {
			return true
		}
	}
	return false
}
