package compiler

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestLoadTestsDiagnostics: a bad test file gets one diagnostic per
// problem, at the line and column of the bad value; a packet's points at
// the bad token inside the string.
func TestLoadTestsDiagnostics(t *testing.T) {
	for _, tc := range []struct {
		name, file, want string
	}{
		{"bad token", "cases:\n  - name: a\n    packet: in tcp 1.2.3.4 > 22 bytes lots\n",
			"F:3:39: cases[0].packet: bytes: \"lots\" is not a size (1000, 64KiB, 1MiB)"},
		{"bad token quoted", "cases:\n  - name: a\n    packet: \"in sctp 1.2.3.4 > 22\"\n",
			"F:3:17: cases[0].packet: protocol \"sctp\": use tcp, udp, icmp or icmpv6"},
		{"packet and steps", "cases:\n  - name: a\n    packet: in tcp 1.2.3.4 > 22\n    steps: [{wait: 1s}]\n",
			"F:2:5: cases[0]: a case has a packet or steps, not both"},
		{"unknown field", "cases:\n  - name: a\n    packet: in tcp 1.2.3.4 > 22\n    expected: {verdict: drop}\n",
			"F:4:5: cases[0].expected: unknown field \"expected\" (did you mean \"expect\"?)"},
		{"no cases", "profile: cam.yaml\n", "F:1:1: cases: a test file needs at least one case"},
		{"bad verdict", "cases:\n  - name: a\n    packet: in tcp 1.2.3.4 > 22\n    expect: {verdict: maybe}\n",
			"F:4:14: cases[0].expect.verdict: verdict \"maybe\": use accept, drop or partial"},
		{"bad bytes", "cases:\n  - name: a\n    packet: in tcp 1.2.3.4 > 22\n    expect: {delivered: lots}\n",
			"F:4:25: cases[0].expect.delivered: \"lots\": expected a byte count such as 15000, 64KiB or \"<= 16KiB\""},
		{"two actions", "cases:\n  - name: a\n    steps:\n      - {wait: 1s, packet: in tcp 1.2.3.4 > 22}\n",
			"F:4:9: cases[0].steps[0]: a step is one of packet, connect or wait"},
		{"wait expects", "cases:\n  - name: a\n    steps:\n      - {wait: 1s, expect: {verdict: drop}}\n",
			"F:4:20: cases[0].steps[0].expect: a wait has no outcome to expect"},
		{"duplicate name", "cases:\n  - {name: a, packet: in tcp 1.2.3.4 > 22}\n  - {name: a, packet: in tcp 1.2.3.4 > 22}\n",
			"F:3:6: cases[1].name: case name \"a\" is used twice"},
		{"bad address", "addresses: [10.0.0.300]\ncases:\n  - {name: a, packet: in tcp 1.2.3.4 > 22}\n",
			"F:1:13: addresses[0]: \"10.0.0.300\" is not an IP address"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "F")
			if err := os.WriteFile(path, []byte(tc.file), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := LoadTests(path, LoadOptions{})
			if err == nil {
				t.Fatal("loaded")
			}
			got := err.Error()
			if len(got) > len(path) && got[:len(path)] == path {
				got = "F" + got[len(path):]
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
}

// TestLoadTestsProfile: the profile is the file's own, or NAME.yaml
// beside NAME.test.yaml.
func TestLoadTestsProfile(t *testing.T) {
	dir := t.TempDir()
	for name, want := range map[string]string{
		"cam.test.yaml": filepath.Join(dir, "cam.yaml"),
		"own.test.yaml": filepath.Join(filepath.Dir(dir), "p.yaml"),
	} {
		body := "cases:\n  - {name: a, packet: in tcp 1.2.3.4 > 22}\n"
		if name == "own.test.yaml" {
			body = "profile: ../p.yaml\n" + body
		}
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		tf, err := LoadTests(path, LoadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if tf.ProfilePath != want {
			t.Errorf("%s: profile %s, want %s", name, tf.ProfilePath, want)
		}
	}
}
