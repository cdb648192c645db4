//go:build !nopolicy

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestExplainAndTestCLI: exit codes, the caret under a bad token, the
// deciding entry in the text, and devfence test's report and --update.
func TestExplainAndTestCLI(t *testing.T) {
	cam := root + "examples/baby-monitor.yaml"
	dir := t.TempDir()
	src, err := os.ReadFile(cam)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "cam.yaml"), src, 0o644); err != nil {
		t.Fatal(err)
	}
	failing := filepath.Join(dir, "cam.test.yaml")
	if err := os.WriteFile(failing, []byte("addresses: [192.168.1.50]\ncases:\n"+
		"  - {name: telnet, packet: in tcp 198.51.100.7 > 23, expect: {verdict: drop, entry: drop}}\n"+
		"  - {name: wrong, packet: in tcp 198.51.100.7 > 23, expect: {verdict: accept}}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stdout []string // lines that must be in stdout
		stderr string   // exact stderr, if not ""
	}{
		{name: "drop", args: []string{"explain", cam, "in tcp 198.51.100.7:40000 > 23 new"}, code: exitOK,
			stdout: []string{"packet: in tcp 198.51.100.7:40000 > 192.0.2.10:23 syn", "   20  drop   drop", "verdict: drop, by rule 20: drop"}},
		{name: "burst", args: []string{"explain", "--addr", "192.168.1.50", cam, "out udp > 203.0.113.9:123 bytes 70000"}, code: exitOK,
			stdout: []string{"48 packets, 70000 bytes of payload: 10 accepted (14720 bytes), 38 dropped", "packets 1-10: accept by egress.allow ntp", "packets 11-48: drop by drop"}},
		{name: "sequence", args: []string{"explain", cam, "out udp > 203.0.113.9:123 size 1000", "wait 2s", "out udp > 203.0.113.9:123"}, code: exitOK,
			stdout: []string{"== 1 at 0s: out udp > 203.0.113.9:123 size 1000", "== 2 at 2s: out udp > 203.0.113.9:123"}},
		{name: "bad token", args: []string{"explain", cam, "out udp > 203.0.113.9:5000 bytes lots"}, code: exitUsage,
			stderr: "devfence: packet 1: column 34: bytes: \"lots\" is not a size (1000, 64KiB, 1MiB)\n" +
				"    out udp > 203.0.113.9:5000 bytes lots\n" +
				"                                     ^\n"},
		{name: "no packet", args: []string{"explain", cam}, code: exitUsage},
		{name: "bad addr", args: []string{"explain", "--addr", "nope", cam, "in tcp 1.2.3.4 > 22"}, code: exitUsage},
		{name: "test fails", args: []string{"test", failing}, code: exitProfile,
			stdout: []string{"--- FAIL: " + failing + ": wrong", "    (in tcp 198.51.100.7 > 23): verdict (-want +got):", "        - accept", "        + drop", "FAIL\t" + failing + "\t1 of 2 cases failed"}},
		{name: "test passes", args: []string{"test", "-v", root + "examples/tests/smart-plug.test.yaml"}, code: exitOK,
			stdout: []string{"--- PASS: " + root + "examples/tests/smart-plug.test.yaml: nothing gets in unsolicited", "ok\t" + root + "examples/tests/smart-plug.test.yaml\t7 cases"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := devfence(t, tc.args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d; stderr: %s", code, tc.code, errs)
			}
			for _, line := range tc.stdout {
				if !strings.Contains(out, line+"\n") {
					t.Errorf("stdout lacks %q:\n%s", line, out)
				}
			}
			if tc.stderr != "" {
				if d := cmp.Diff(tc.stderr, errs); d != "" {
					t.Errorf("stderr (-want +got):\n%s", d)
				}
			}
		})
	}

	// --update writes the golden traces; a later change to them fails.
	passing := filepath.Join(dir, "ok.test.yaml")
	if err := os.WriteFile(passing, []byte("profile: cam.yaml\ncases:\n  - {name: telnet, packet: in tcp 198.51.100.7 > 23, expect: {verdict: drop}}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, errs := devfence(t, "test", "--update", passing); code != exitOK {
		t.Fatalf("--update: exit %d: %s", code, errs)
	}
	gold := filepath.Join(dir, "ok.test.golden")
	data, err := os.ReadFile(gold)
	if err != nil || !strings.HasPrefix(string(data), "=== telnet\n-- packet at 0s: in tcp 198.51.100.7 > 23\n") {
		t.Fatalf("golden %q, %v", data, err)
	}
	if code, out, _ := devfence(t, "test", passing); code != exitOK || !strings.Contains(out, "ok\t") {
		t.Fatalf("with its own golden: exit %d\n%s", code, out)
	}
	if err := os.WriteFile(gold, []byte(strings.Replace(string(data), "rule 20", "rule 19", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, _ := devfence(t, "test", passing)
	if code != exitProfile || !strings.Contains(out, "trace (-want +got):") || !strings.Contains(out, "-verdict: drop, by rule 19: drop") {
		t.Errorf("changed golden: exit %d\n%s", code, out)
	}
}
