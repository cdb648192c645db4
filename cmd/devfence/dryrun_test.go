package main

import (
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestApplyDryRun: apply --dry-run prints the diff and the plan summary,
// exits as diff does, and changes nothing: the ruleset generation (which
// every committed netlink transaction moves), the ruleset text and the
// state directory are the same after it. The counts from smart-plug to
// baby-monitor were checked by hand against the two compiled rulesets:
// 30 rules only in the new chains' text, 9 only in the old; 10 sets new,
// 4 gone, 4 whose quota comment differs; 6 static elements new, 3 gone.
func TestApplyDryRun(t *testing.T) {
	onEachKernel(t, func(t *testing.T, ns string) {
		state := t.TempDir()
		if code, _, errs := devfence(t, "apply", "--netns", ns, "--state-dir", state, smartPlug); code != exitOK {
			t.Fatalf("apply: exit %d: %s", code, errs)
		}
		for _, tc := range []struct {
			name    string
			profile string
			code    int
			lastOut string // stdout's last line
			inOut   string // a substring of stdout
		}{
			{name: "would change", profile: babyMonitor, code: exitProfile,
				lastOut: "plan: +32 -11 rules, 10 sets added, 8 sets removed, 4 sets changed, 6 elements added, 5 elements removed",
				inOut:   "+++ profile " + babyMonitor + "\n"},
			{name: "no change", profile: smartPlug, code: exitOK,
				lastOut: "no change: the live table already matches the profile"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				gen0, ruleset0, state0 := generation(t, ns), ruleset(t, ns), dirListing(t, state)
				code, out, errs := devfence(t, "apply", "--dry-run", "--netns", ns, "--state-dir", state, tc.profile)
				if code != tc.code {
					t.Errorf("%s: exit %d, want %d; stderr %s", tc.name, code, tc.code, errs)
				}
				lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
				if d := cmp.Diff(tc.lastOut, lines[len(lines)-1]); d != "" {
					t.Errorf("%s: summary (-want +got):\n%s", tc.name, d)
				}
				if !strings.Contains(out, tc.inOut) {
					t.Errorf("%s: stdout lacks %q:\n%s", tc.name, tc.inOut, out)
				}
				if strings.Contains(out, "\x1b[") {
					t.Errorf("%s: colour in output to a pipe", tc.name)
				}
				if d := cmp.Diff(gen0, generation(t, ns)); d != "" {
					t.Errorf("%s: the ruleset generation moved (-want +got):\n%s", tc.name, d)
				}
				if d := cmp.Diff(ruleset0, ruleset(t, ns)); d != "" {
					t.Errorf("%s: the ruleset changed (-want +got):\n%s", tc.name, d)
				}
				if d := cmp.Diff(state0, dirListing(t, state)); d != "" {
					t.Errorf("%s: the state directory changed (-want +got):\n%s", tc.name, d)
				}
			})
		}

		// The real apply prints the same summary once it has committed.
		code, _, errs := devfence(t, "apply", "--netns", ns, "--state-dir", state, babyMonitor)
		want := "devfence: plan: +32 -11 rules, 10 sets added, 8 sets removed, 4 sets changed, 6 elements added, 5 elements removed\n"
		if code != exitOK || !strings.HasSuffix(errs, want) {
			t.Errorf("apply: exit %d, stderr %q, want it to end with %q", code, errs, want)
		}
	})
}

func TestApplyDryRunUsage(t *testing.T) {
	code, _, errs := devfence(t, "apply", "--dry-run", "--confirm", "1m", smartPlug)
	if code != exitUsage || !strings.Contains(errs, "nothing to --confirm") {
		t.Errorf("apply --dry-run --confirm: exit %d, stderr %q", code, errs)
	}
}

func generation(t *testing.T, ns string) uint32 {
	t.Helper()
	conn, err := openConn(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	g, err := conn.Generation()
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// dirListing is each file of dir with its size and modification time.
func dirListing(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		fi, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, e.Name()+" "+fi.ModTime().String()+" "+fi.Mode().String())
	}
	return out
}
