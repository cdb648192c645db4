package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/devfence/devfence/internal/golden"
)

// devfence runs the CLI in-process and returns its exit code and output.
func devfence(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(append([]string{"devfence"}, args...), &out, &errb)
	return code, out.String(), errb.String()
}

// The tests run in cmd/devfence; profiles are named from the repository root.
const root = "../../"

func TestCompileExitCodes(t *testing.T) {
	for _, tc := range []struct {
		name       string
		args       []string
		code       int
		stdout     string // a substring of stdout
		stderr     string // a substring of stderr
		stdoutNone bool
		policies   bool // only in a build with policies
	}{
		{name: "compiles", args: []string{"compile", root + "examples/baby-monitor.yaml"}, code: 0,
			stdout: "table inet devfence\ndelete table inet devfence\ntable inet devfence {"},
		{name: "table name", args: []string{"compile", "--table", "cam", root + "examples/smart-plug.yaml"}, code: 0,
			stdout: "delete table inet cam\n"},
		{name: "bad table name", args: []string{"compile", "--table", "a;b", root + "examples/smart-plug.yaml"}, code: 2,
			stderr: `table name "a;b"`},
		{name: "invalid profile", args: []string{"compile", root + "examples/invalid/bad-port.yaml"}, code: 1,
			stderr: "examples/invalid/bad-port.yaml:14:13: inbound.services[1].port: port 70000 is outside 1-65535", stdoutNone: true},
		{name: "denied by policy", args: []string{"compile", root + "examples/denied/inbound-no-telnet.yaml"}, code: 1,
			stderr: "(inbound-no-telnet)", stdoutNone: true, policies: true},
		{name: "no profile", args: []string{"compile"}, code: 2, stderr: "compile needs exactly one PROFILE"},
		{name: "unknown flag", args: []string{"compile", "--frobnicate", "x.yaml"}, code: 2, stderr: "flag provided but not defined"},
		{name: "missing file", args: []string{"compile", "nope.yaml"}, code: 2, stderr: "open nope.yaml: no such file or directory"},
		{name: "help teaches by example", args: []string{"compile", "--help"}, code: 0, stdout: "devfence compile examples/baby-monitor.yaml"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.policies && !hasPolicies {
				t.Skip("the device build has no policies")
			}
			code, stdout, stderr := devfence(t, tc.args...)
			if code != tc.code {
				t.Errorf("%s: exit %d, want %d\nstderr: %s", tc.name, code, tc.code, stderr)
			}
			if !strings.Contains(stdout, tc.stdout) {
				t.Errorf("%s: stdout lacks %q:\n%s", tc.name, tc.stdout, stdout)
			}
			if !strings.Contains(stderr, tc.stderr) {
				t.Errorf("%s: stderr lacks %q:\n%s", tc.name, tc.stderr, stderr)
			}
			if tc.stdoutNone && stdout != "" {
				t.Errorf("%s: a failed compile printed a ruleset:\n%s", tc.name, stdout)
			}
		})
	}
}

func TestCompileOutputFile(t *testing.T) {
	out := filepath.Join(t.TempDir(), "cam.nft")
	if code, _, stderr := devfence(t, "compile", "-o", out, root+"examples/baby-monitor.yaml"); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := os.ReadFile(root + "golden/baby-monitor.nft")
	if !bytes.Equal(got, want) {
		t.Errorf("-o wrote something other than the golden ruleset")
	}
	// A failing compile leaves the previous file alone.
	if code, _, _ := devfence(t, "compile", "-o", out, root+"examples/invalid/bad-port.yaml"); code != 1 {
		t.Errorf("bad profile: exit %d, want 1", code)
	}
	if again, _ := os.ReadFile(out); !bytes.Equal(again, want) {
		t.Errorf("a failed compile changed %s", out)
	}
}

func TestCompileBatch(t *testing.T) {
	dir := t.TempDir()
	code, _, stderr := devfence(t, "compile", "--out-dir", dir,
		root+"examples/baby-monitor.yaml", root+"examples/printer.yaml", root+"examples/invalid/bad-cidr.yaml")
	if code != 1 {
		t.Errorf("a batch with a bad profile: exit %d, want 1", code)
	}
	for _, want := range []string{"compiled 3 profiles (1 failed)", "profiles/s", "p99", "bad-cidr.yaml:5:9: networks.lan[0]"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if strings.Contains(stderr, "\r[") {
		t.Errorf("progress bar drawn when stderr is not a terminal")
	}
	for _, name := range []string{"baby-monitor.nft", "printer.nft"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Error(err)
		}
	}
}
