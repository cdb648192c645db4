package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestStatusOperatorView: status without PROFILE shows the profile the
// last apply recorded only while both the table in force and the file are
// still the ones applied; otherwise it says which one changed.
func TestStatusOperatorView(t *testing.T) {
	src, err := os.ReadFile(babyMonitor)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		change func(t *testing.T, ns, profile string)
		want   []string // lines of the text that must be there, in order
		absent string
	}{
		{name: "as applied", change: func(*testing.T, string, string) {},
			want: []string{
				"table inet devfence: in force",
				"default: drop (input), drop (output), drop (forward)",
				"inbound: established-only, 1 service(s)",
				"  viewer           tcp  8443        from lan  consent",
				"egress: 3 rule(s), everything else dropped",
				"  dns              udp  53          to resolvers  quota 64KiB/10m",
				"  default quota 1MiB/1h per destination; total 64MiB/1h",
				"log: drops 10/minute per chain to NFLOG group 0 (devfence watch)",
				"consenting peers: 0",
				"dropped in output: 0 packets, 0B",
			}},
		{name: "profile edited since", change: func(t *testing.T, _, profile string) {
			if err := os.WriteFile(profile, append(src, []byte("# edited\n")...), 0o644); err != nil {
				t.Fatal(err)
			}
		}, want: []string{"profile: PROFILE has changed since it was applied (devfence diff PROFILE)", "consenting peers: 0"},
			absent: "inbound:"},
		{name: "table changed by hand", change: func(t *testing.T, ns, _ string) {
			addHandRule(t, ns)
		}, want: []string{"; the table has changed since (see devfence diff)",
			"profile: the table in force is not the one applied from PROFILE"},
			absent: "inbound:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			onEachKernel(t, func(t *testing.T, ns string) {
				state := t.TempDir()
				profile := filepath.Join(t.TempDir(), "camera.yaml")
				if err := os.WriteFile(profile, src, 0o644); err != nil {
					t.Fatal(err)
				}
				if code, _, errs := devfence(t, "apply", "--netns", ns, "--state-dir", state, profile); code != exitOK {
					t.Fatalf("apply: exit %d: %s", code, errs)
				}
				tc.change(t, ns, profile)
				code, out, errs := devfence(t, "status", "--netns", ns, "--state-dir", state)
				if code != exitOK {
					t.Fatalf("%s: status: exit %d: %s", tc.name, code, errs)
				}
				out = strings.ReplaceAll(out, profile, "PROFILE")
				if !strings.HasPrefix(out, "table inet devfence: in force\napplied: ") || !strings.Contains(out, " from PROFILE (sha256 ") {
					t.Errorf("%s: no applied line:\n%s", tc.name, out)
				}
				var got []string
				for _, l := range strings.Split(out, "\n") {
					for _, w := range tc.want {
						if strings.Contains(l, w) {
							got = append(got, w)
						}
					}
				}
				if d := cmp.Diff(tc.want, got); d != "" {
					t.Errorf("%s: lines found in order (-want +got):\n%s\noutput:\n%s", tc.name, d, out)
				}
				if tc.absent != "" && strings.Contains(out, tc.absent) {
					t.Errorf("%s: shows %q although the profile is not the one in force:\n%s", tc.name, tc.absent, out)
				}
			})
		})
	}
}
