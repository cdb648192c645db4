package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestCommandLineConventions: the habits of nft, ufw and conftest users.
// Usage errors are one line on stderr and nothing on stdout (stdout may be
// piped into `nft -f -`), with exit 2.
func TestCommandLineConventions(t *testing.T) {
	out := filepath.Join(t.TempDir(), "cam.nft")
	cases := []struct {
		name       string
		args       []string
		wantCode   int
		wantStderr string // substring; "" means stderr must be empty
		stdoutHas  string // substring; "" means stdout must be empty
	}{
		{"unknown command", []string{"bogus"}, exitUsage, `unknown command "bogus"`, ""},
		{"unknown flag", []string{"compile", "--bogus", "../../examples/baby-monitor.yaml"}, exitUsage, "flag provided but not defined: -bogus", ""},
		{"unknown flag after the profile", []string{"compile", "../../examples/baby-monitor.yaml", "--bogus"}, exitUsage, "flag provided but not defined: -bogus", ""},
		{"flag after the profile", []string{"compile", "../../examples/baby-monitor.yaml", "-o", out}, exitOK, "", ""},
		{"flag=value after the profile", []string{"compile", "../../examples/baby-monitor.yaml", "--table=cam"}, exitOK, "", "table inet cam"},
		{"version", []string{"--version"}, exitOK, "", "devfence version "},
		{"no command shows help", nil, exitOK, "", "USAGE:"},
		{"-- keeps a dash argument positional", []string{"compile", "--", "-o"}, exitUsage, "-o", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := devfence(t, tc.args...)
			if code != tc.wantCode {
				t.Errorf("exit code %d, want %d (stderr %q)", code, tc.wantCode, stderr)
			}
			if tc.wantStderr == "" && stderr != "" || !strings.Contains(stderr, tc.wantStderr) {
				t.Errorf("stderr %q, want it to contain %q", stderr, tc.wantStderr)
			}
			if tc.wantCode == exitUsage && strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
				t.Errorf("usage error takes %d lines, want one:\n%s", strings.Count(stderr, "\n"), stderr)
			}
			if tc.stdoutHas == "" && stdout != "" || !strings.Contains(stdout, tc.stdoutHas) {
				t.Errorf("stdout %.200q, want it to contain %q", stdout, tc.stdoutHas)
			}
		})
	}
	if _, err := os.Stat(out); err != nil {
		t.Errorf("compile PROFILE -o FILE wrote nothing: %v", err)
	}
}

func TestInterspersedArguments(t *testing.T) {
	cases := []struct {
		name string
		in   []string
		want []string
	}{
		{"flags already first", []string{"devfence", "compile", "-o", "f", "p.yaml"}, []string{"devfence", "compile", "-o", "f", "p.yaml"}},
		{"value flag after", []string{"devfence", "diff", "p.yaml", "--netns", "lab"}, []string{"devfence", "diff", "--netns", "lab", "p.yaml"}},
		{"bool flag after keeps the next argument positional", []string{"devfence", "validate", "a.yaml", "--no-policy", "b.yaml"}, []string{"devfence", "validate", "--no-policy", "a.yaml", "b.yaml"}},
		{"dash is stdin, not a flag", []string{"devfence", "compile", "-", "-o", "f"}, []string{"devfence", "compile", "-o", "f", "-"}},
		{"after -- everything is positional", []string{"devfence", "compile", "--", "-o"}, []string{"devfence", "compile", "--", "-o"}},
		{"unknown command untouched", []string{"devfence", "bogus", "x", "--y"}, []string{"devfence", "bogus", "x", "--y"}},
		{"global flag only", []string{"devfence", "--version"}, []string{"devfence", "--version"}},
	}
	app := newApp(nil, nil)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if d := cmp.Diff(tc.want, interspersed(app, tc.in)); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
}
