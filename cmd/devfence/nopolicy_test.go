//go:build nopolicy

package main

import (
	"strings"
	"testing"
)

// The device build keeps structural checks and explains its missing policies.
func TestDeviceBuild(t *testing.T) {
	code, _, stderr := devfence(t, "validate", root+"examples/thermostat.yaml")
	if code != 2 || !strings.Contains(stderr, "device build of devfence (-tags nopolicy): it has no security policies") {
		t.Errorf("validate: exit %d, %s", code, stderr)
	}
	if code, stdout, _ := devfence(t, "compile", root+"examples/denied/inbound-no-telnet.yaml"); code != 0 || !strings.Contains(stdout, "table inet devfence {") {
		t.Errorf("compile (structural checks only): exit %d", code)
	}
	if code, _, stderr := devfence(t, "compile", root+"examples/invalid/bad-port.yaml"); code != 1 || !strings.Contains(stderr, "port 70000 is outside 1-65535") {
		t.Errorf("structural checks must still run: exit %d, %s", code, stderr)
	}
	if code, _, _ := devfence(t, "compile", "--policy", "x", root+"examples/thermostat.yaml"); code != 2 {
		t.Errorf("--policy in the device build: exit %d, want 2", code)
	}
	for _, name := range fullBuildOnly {
		for _, c := range commands {
			if c.Name == name {
				t.Errorf("%s is listed in fullBuildOnly but the device build has it", name)
			}
		}
		code, _, stderr := devfence(t, name, "x")
		if want := name + " is an authoring command: this device build"; code != 2 || !strings.Contains(stderr, want) {
			t.Errorf("%s in the device build: exit %d, %q; want exit 2 and %q", name, code, stderr, want)
		}
	}
}
