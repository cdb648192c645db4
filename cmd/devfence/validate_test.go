//go:build !nopolicy

package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	code, stdout, _ := devfence(t, "validate", root+"examples/denied/egress-any-needs-quota.yaml", root+"examples/thermostat.yaml", root+"examples/denied/inbound-no-telnet.yaml")
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	for _, want := range []string{
		"examples/denied/egress-any-needs-quota.yaml:32:5: waived egress-default-quota: every rule but firmware sets its own quota",
		"examples/denied/inbound-no-telnet.yaml:17:7: inbound.services[0].port: service \"console\" listens on port 23",
		"3 profile(s) checked: 1 passed, 2 failed",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}

	code, stdout, _ = devfence(t, "validate", "--format", "json", root+"examples/denied/consent-needs-tcp.yaml")
	var doc struct {
		Results []struct {
			File   string
			Passed bool
			Denies []struct {
				File, Path, Message, Policy string
				Line, Column                int
			}
		}
	}
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
		t.Fatalf("--format json: %v\n%s", err, stdout)
	}
	if code != 1 || len(doc.Results) != 1 || doc.Results[0].Passed || len(doc.Results[0].Denies) != 1 {
		t.Fatalf("unexpected json result (exit %d): %s", code, stdout)
	}
	if d := doc.Results[0].Denies[0]; d.Policy != "consent-needs-tcp" || d.Line == 0 || d.Path != "inbound.services[0].consent" {
		t.Errorf("json deny lacks its position or policy: %+v", d)
	}

	if code, _, stderr := devfence(t, "validate", "--format", "xml", root+"examples/thermostat.yaml"); code != 2 || !strings.Contains(stderr, `unknown format "xml"`) {
		t.Errorf("bad format: exit %d, %s", code, stderr)
	}
	if code, _, _ := devfence(t, "validate", "missing.yaml"); code != 2 {
		t.Errorf("missing file: exit %d, want 2", code)
	}
}

func TestValidateOrganisationPolicy(t *testing.T) {
	dir := t.TempDir()
	rego := `package main

import rego.v1

deny contains msg if {
	not input.device.description
	msg := {"msg": "device: every profile describes its device", "policy": "org-describe", "path": "device"}
}
`
	if err := os.WriteFile(filepath.Join(dir, "org.rego"), []byte(rego), 0o644); err != nil {
		t.Fatal(err)
	}
	prof := filepath.Join(dir, "p.yaml")
	os.WriteFile(prof, []byte("version: 1\ndevice: {name: cam}\negress: {quota: 1MiB/1h}\n"), 0o644)
	code, stdout, _ := devfence(t, "validate", "--policy", dir, prof)
	if code != 1 || !strings.Contains(stdout, "p.yaml:2:1: device: every profile describes its device (org-describe)") {
		t.Errorf("organisation policy: exit %d\n%s", code, stdout)
	}

	os.WriteFile(filepath.Join(dir, "org.rego"), []byte("package main\n\ndeny contains msg if {\n  msg := \n}\n"), 0o644)
	code, _, stderr := devfence(t, "validate", "--policy", dir, prof)
	if code != 2 || !strings.Contains(stderr, "org.rego:") {
		t.Errorf("malformed Rego: exit %d, %s", code, stderr)
	}

	code, _, stderr = devfence(t, "compile", "--no-policy", root+"examples/denied/inbound-no-telnet.yaml")
	if code != 0 || !strings.Contains(stderr, "warning: --no-policy") {
		t.Errorf("--no-policy: exit %d, %s", code, stderr)
	}
}

// TestPolicyWarnings checks conftest's warn rules in an organisation's
// policies: reported by validate (text, -q and json) and by compile, and
// never failing the profile.
func TestPolicyWarnings(t *testing.T) {
	dir := t.TempDir()
	rego := `package main

warn contains {"msg": "device.description: say what the device is for", "policy": "org-describe", "path": "device.description"} if {
	not contains(input.device.description, " for ")
}
`
	if err := os.WriteFile(filepath.Join(dir, "warn.rego"), []byte(rego), 0o644); err != nil {
		t.Fatal(err)
	}
	const warning = "examples/smart-plug.yaml:7:3: warning: device.description: say what the device is for (org-describe)"
	plug := root + "examples/smart-plug.yaml"
	for _, tc := range []struct {
		name           string
		args           []string
		stdout, stderr string // substrings
	}{
		{name: "validate", args: []string{"validate", "--policy", dir, plug}, stdout: warning},
		{name: "validate summary", args: []string{"validate", "--policy", dir, plug}, stdout: "1 profile(s) checked: 1 passed, 0 failed, 1 warning(s)"},
		{name: "validate -q keeps warnings", args: []string{"validate", "-q", "--policy", dir, plug}, stdout: warning},
		{name: "validate json", args: []string{"validate", "--format", "json", "--policy", dir, plug}, stdout: `"warnings": [`},
		{name: "compile", args: []string{"compile", "--policy", dir, plug}, stdout: "table inet devfence {", stderr: warning},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := devfence(t, tc.args...)
			if code != exitOK {
				t.Errorf("exit %d, want 0 (a warning never fails)\nstderr: %s", code, stderr)
			}
			if !strings.Contains(stdout, tc.stdout) {
				t.Errorf("stdout lacks %q:\n%s", tc.stdout, stdout)
			}
			if !strings.Contains(stderr, tc.stderr) {
				t.Errorf("stderr lacks %q:\n%s", tc.stderr, stderr)
			}
		})
	}
}
