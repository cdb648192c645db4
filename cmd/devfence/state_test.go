package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/devfence/devfence/rules/netlink/nltest"
)

const sentinel = "table inet sentinel {\n\tchain c {\n\t\ttype filter hook output priority 10; policy accept;\n\t\tcounter\n\t}\n}\n"

// stateFile is where the state of table inet devfence in ns lives.
func stateFile(state, ns string) string {
	return filepath.Join(state, "netns-"+ns, "inet-devfence", "state.json")
}

func writeStateFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestCraftedStateFiles: no state file, however crafted, panics a command
// or touches a table: each command says what is wrong in one line and
// exits 2, and the ruleset is as it was.
func TestCraftedStateFiles(t *testing.T) {
	for _, tc := range []struct{ name, content, want string }{
		{"empty object", `{}`, "version 0"},
		{"null", `null`, "empty state (null)"},
		{"an old pending.json without its pending object", `{"family":"inet","name":"devfence","exists":false}`, "version 0"},
		{"pending without its saved table", `{"version":1,"netns":"NETNS","family":"inet","name":"devfence","pending":{"id":"x","kind":"confirm","deadline":"2030-01-01T00:00:00Z"}}`, "pending: no saved table"},
		{"previous naming inet sentinel", `{"version":1,"netns":"NETNS","family":"inet","name":"devfence","previous":{"family":"inet","name":"sentinel","exists":false}}`, "saved table is inet sentinel, not inet devfence: refusing to touch it"},
		{"pending naming inet sentinel", `{"version":1,"netns":"NETNS","family":"inet","name":"devfence","pending":{"id":"x","kind":"confirm","deadline":"2030-01-01T00:00:00Z","before":{"family":"inet","name":"sentinel","exists":false}}}`, "saved table is inet sentinel"},
		{"state of table inet sentinel", `{"version":1,"netns":"NETNS","family":"inet","name":"sentinel","previous":{"family":"inet","name":"sentinel","exists":false}}`, "belongs to table inet sentinel in NETNS, not inet devfence"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			onEachKernel(t, func(t *testing.T, ns string) {
				state := t.TempDir()
				addSentinel(t, ns)
				if code, _, errs := devfence(t, "apply", "--netns", ns, "--state-dir", state, babyMonitor); code != exitOK {
					t.Fatalf("apply: exit %d: %s", code, errs)
				}
				path := stateFile(state, ns)
				writeStateFile(t, path, strings.ReplaceAll(tc.content, "NETNS", "netns-"+ns))
				before := ruleset(t, ns)
				want := strings.ReplaceAll(tc.want, "NETNS", "netns-"+ns)
				for _, args := range [][]string{
					{"rollback"}, {"rollback", "--if-pending"}, {"confirm"}, {"apply", smartPlug}, {"status"},
				} {
					all := append([]string{args[0], "--netns", ns, "--state-dir", state}, args[1:]...)
					code, _, errs := devfence(t, all...)
					if code != exitUsage || strings.Count(errs, "\n") != 1 || !strings.Contains(errs, "state file "+path+": ") || !strings.Contains(errs, want) {
						t.Errorf("devfence %s: exit %d, stderr %q; want exit 2 and one line naming %s: ...%s", strings.Join(args, " "), code, errs, path, want)
					}
				}
				if d := cmp.Diff(before, ruleset(t, ns)); d != "" {
					t.Errorf("the ruleset changed (-before +after):\n%s", d)
				}
			})
		})
	}
}

// TestStateBoundToNamespace: the state of namespace A is never restored
// into B: B's state is its own, and A's state file copied into B's place
// is refused.
func TestStateBoundToNamespace(t *testing.T) {
	onEachKernel(t, func(t *testing.T, a string) {
		b := a + "-b"
		if fakeKernel(a) == nil {
			b = nltest.NS(t)
		}
		state := t.TempDir()
		for _, p := range []string{babyMonitor, smartPlug} {
			if code, _, errs := devfence(t, "apply", "--netns", a, "--state-dir", state, p); code != exitOK {
				t.Fatalf("apply in A: exit %d: %s", code, errs)
			}
		}
		addSentinel(t, b)
		before := ruleset(t, b)
		if code, _, errs := devfence(t, "rollback", "--netns", b, "--state-dir", state); code != exitUsage || !strings.Contains(errs, "nothing to roll back") {
			t.Errorf("rollback in B with A's state dir: exit %d, stderr %q", code, errs)
		}
		data, err := os.ReadFile(stateFile(state, a))
		if err != nil {
			t.Fatal(err)
		}
		writeStateFile(t, stateFile(state, b), string(data))
		if code, _, errs := devfence(t, "rollback", "--netns", b, "--state-dir", state); code != exitUsage ||
			!strings.Contains(errs, "belongs to table inet devfence in netns-"+a+", not inet devfence in netns-"+b) {
			t.Errorf("rollback in B with A's state file: exit %d, stderr %q", code, errs)
		}
		if d := cmp.Diff(before, ruleset(t, b)); d != "" {
			t.Errorf("B's ruleset changed (-before +after):\n%s", d)
		}
		if code, _, errs := devfence(t, "rollback", "--netns", a, "--state-dir", state); code != exitOK {
			t.Errorf("rollback in A: exit %d: %s", code, errs)
		}
		if code, _, _ := devfence(t, "diff", "--netns", a, babyMonitor); code != exitOK {
			t.Errorf("rollback in A did not restore A's previous table (diff exit %d)", code)
		}
	})
}

// TestUntrustedStateDir: a state dir that is a symlink, someone else's,
// or writable by others is refused, as ssh refuses such files.
func TestUntrustedStateDir(t *testing.T) {
	for _, tc := range []struct {
		name  string
		spoil func(t *testing.T, dir string) string // returns the --state-dir to use
		want  string
	}{
		{"symlink", func(t *testing.T, dir string) string {
			link := filepath.Join(t.TempDir(), "link")
			if err := os.Symlink(dir, link); err != nil {
				t.Fatal(err)
			}
			return link
		}, "is a symlink: refusing to use it"},
		{"writable by others", func(t *testing.T, dir string) string {
			if err := os.Chmod(dir, 0o777); err != nil {
				t.Fatal(err)
			}
			return dir
		}, "is writable by group or others (mode 0777): refusing to use it"},
		{"another owner", func(t *testing.T, dir string) string {
			if err := os.Chown(filepath.Join(dir, "netns-x"), 12345, 12345); err != nil {
				t.Fatal(err)
			}
			return dir
		}, "is owned by uid 12345, not 0: refusing to use it"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if os.Geteuid() != 0 && tc.name == "another owner" {
				t.Skip("chown needs root")
			}
			dir := filepath.Join(t.TempDir(), "state")
			writeStateFile(t, filepath.Join(dir, "netns-x", "inet-devfence", "state.json"),
				`{"version":1,"netns":"netns-x","family":"inet","name":"devfence","pending":{"id":"x","kind":"confirm","deadline":"2030-01-01T00:00:00Z","before":{"family":"inet","name":"devfence","exists":false}}}`)
			use := tc.spoil(t, dir)
			code, _, errs := devfence(t, "confirm", "--netns", "x", "--state-dir", use)
			if code != exitUsage || !strings.Contains(errs, tc.want) {
				t.Errorf("confirm: exit %d, stderr %q, want %q", code, errs, tc.want)
			}
		})
	}
}
