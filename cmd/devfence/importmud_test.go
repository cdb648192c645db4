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
	const corpus = root + "compiler/mud/testdata/thirdparty/"
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
		{name: "a defective ACE is skipped with a positioned warning", args: []string{"import-mud", corpus + "osmud-sensor.json"},
			stdout: []string{"# Skipped as defective (1)"},
			stderr: "devfence: warning: " + corpus + `osmud-sensor.json:77:47: acls.acl[2].aces.ace[0].matches.ipv6.destination-ipv6-network: "192.168.10.20" is not an IPv6 prefix; ACE acls.acl[2].aces.ace[0] (mud-76100-v6fr/col0-frdev) skipped`},
		{name: "strict: a defective ACE", args: []string{"import-mud", "--strict", corpus + "osmud-sensor.json"},
			code: exitProfile, stderr: "osmud-sensor.json: --strict: 2 not imported, 1 skipped as defective, 0 networks left empty; nothing written", empty: true},
		{name: "the report line", args: []string{"import-mud", corpus + "mudgee-supplicant.json"},
			stdout: []string{"version: 1\n"},
			stderr: "mudgee-supplicant.json: 3 ACEs in, 0 rules out, 0 replies, 0 DHCP (essentials), 0 drops, 3 ACEs not imported (3 ethernet)"},
		{name: "ACLs inside the policies are refused", args: []string{"import-mud", corpus + "vendor-inlined-acls.json"},
			code: exitProfile, stderr: "vendor-inlined-acls.json:15:21: mud.from-device-policy.access-lists.access-list[0].aces: an ACL written inside the policy; RFC 8520 expects", empty: true},
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
