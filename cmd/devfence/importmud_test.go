//go:build !nopolicy

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestImportMUD(t *testing.T) {
	const inbound = root + "examples/mud/inbound.json"
	bound := []string{"--bind", "local-networks=192.168.1.0/24,fd00:1::/64", "--bind", "my-controller=192.168.1.2"}
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stdout []string // substrings of stdout
		stderr string   // a substring of stderr
		empty  bool     // nothing on stdout
	}{
		{name: "bind takes a comma-separated list, as its help shows",
			args:   append([]string{"import-mud", inbound}, bound...),
			stdout: []string{`local-networks: [192.168.1.0/24, "fd00:1::/64"]`, "my-controller: [192.168.1.2]"}},
		{name: "bind repeated for one network adds up",
			args: []string{"import-mud", inbound, "--bind", "local-networks=192.168.1.0/24", "--bind", "local-networks=fd00:1::/64",
				"--bind", "my-controller=192.168.1.2"},
			stdout: []string{`local-networks: [192.168.1.0/24, "fd00:1::/64"]`}},
		{name: "bad address in a list", args: []string{"import-mud", inbound, "--bind", "local-networks=192.168.1.0/24,nope"},
			code: exitUsage, stderr: `--bind local-networks: "nope" is not an IPv4 or IPv6 address or CIDR`, empty: true},
		{name: "without strict, what is not imported is reported", args: []string{"import-mud", root + "examples/mud/unmapped.json"},
			stdout: []string{"# Not imported ("}, stderr: "not imported: acls.acl[0].aces.ace[1] (odd-fr/no-telnet): action drop"},
		{name: "strict: something not imported", args: []string{"import-mud", "--strict", root + "examples/mud/unmapped.json"},
			code: exitProfile, stderr: "unmapped.json: --strict: 26 not imported, 0 skipped as defective, 0 networks left empty; nothing written", empty: true},
		{name: "strict: a network left empty", args: []string{"import-mud", "--strict", root + "examples/mud/names.json"},
			code: exitProfile, stderr: "names.json: --strict: 0 not imported, 0 skipped as defective, 1 networks left empty; nothing written", empty: true},
		{name: "strict: everything imported", args: []string{"import-mud", "--strict", root + "examples/mud/minimal.json"},
			stdout: []string{"version: 1\n"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := devfence(t, tc.args...)
			if code != tc.code {
				t.Errorf("exit %d, want %d\nstderr: %s", code, tc.code, stderr)
			}
			for _, want := range tc.stdout {
				if !strings.Contains(stdout, want) {
					t.Errorf("stdout lacks %q:\n%s", want, stdout)
				}
			}
			if !strings.Contains(stderr, tc.stderr) {
				t.Errorf("stderr lacks %q:\n%s", tc.stderr, stderr)
			}
			if tc.empty && stdout != "" {
				t.Errorf("stdout is not empty:\n%s", stdout)
			}
		})
	}
}

// TestImportMUDBoundLoads checks that a fully bound import is a profile
// that compiles, and that --strict writes no file when it fails.
func TestImportMUDBoundLoads(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "inbound.yaml")
	code, _, stderr := devfence(t, "import-mud", "-o", out, root+"examples/mud/inbound.json",
		"--bind", "local-networks=192.168.1.0/24,fd00:1::/64", "--bind", "my-controller=192.168.1.2")
	if code != exitOK {
		t.Fatalf("import-mud: exit %d: %s", code, stderr)
	}
	if code, _, stderr := devfence(t, "compile", "--no-policy", out); code != exitOK {
		t.Errorf("compile of the import: exit %d: %s", code, stderr)
	}
	strictOut := filepath.Join(dir, "strict.yaml")
	if code, _, _ := devfence(t, "import-mud", "--strict", "-o", strictOut, root+"examples/mud/inbound.json"); code != exitProfile {
		t.Errorf("import-mud --strict of an unbound import: exit %d, want %d", code, exitProfile)
	}
	if _, err := os.Stat(strictOut); !os.IsNotExist(err) {
		t.Errorf("a failed --strict import wrote %s (stat: %v)", strictOut, err)
	}
}
