package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/devfence/devfence/internal/device"
)

// TestCrashAtEveryStep kills a command (SIGKILL, via the test-only crash
// hook) at each step of the state machine in docs/APPLY.md, and checks
// that the commands after it find a consistent state: the table in force
// is one a step left, rollback restores the table before the last change
// that reached the kernel, and never one further back.
func TestCrashAtEveryStep(t *testing.T) {
	type step struct {
		args  []string
		crash string // crash point; the command must die there
		code  int    // exit code when it does not crash
		live  string // profile whose table is in force afterwards
	}
	const killed = -1
	confirm := []string{"apply", "--confirm", "1m", smartPlug}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"apply: intent written", []step{
			{[]string{"apply", smartPlug}, device.CrashIntentWritten, killed, babyMonitor},
			{[]string{"rollback"}, "", exitOK, thermostat},
		}},
		{"apply: state file not yet renamed", []step{
			{[]string{"apply", smartPlug}, device.CrashTempWritten, killed, babyMonitor},
			{[]string{"rollback"}, "", exitOK, thermostat},
		}},
		{"apply: table applied, not committed", []step{
			{[]string{"apply", smartPlug}, device.CrashTableApplied, killed, smartPlug},
			{[]string{"rollback"}, "", exitOK, babyMonitor},
			{[]string{"rollback"}, "", exitUsage, babyMonitor},
		}},
		{"apply --confirm: intent written", []step{
			{confirm, device.CrashIntentWritten, killed, babyMonitor},
			{[]string{"apply", smartPlug}, "", exitUsage, babyMonitor},
			{[]string{"rollback", "--if-pending"}, "", exitOK, babyMonitor},
			{[]string{"rollback"}, "", exitUsage, babyMonitor},
		}},
		{"apply --confirm: state file not yet renamed", []step{
			{confirm, device.CrashTempWritten, killed, babyMonitor},
			{[]string{"rollback", "--if-pending"}, "", exitOK, babyMonitor},
			{[]string{"rollback"}, "", exitOK, thermostat},
		}},
		{"apply --confirm: table applied", []step{
			{confirm, device.CrashTableApplied, killed, smartPlug},
			{[]string{"rollback", "--if-pending"}, "", exitOK, babyMonitor},
			{[]string{"rollback"}, "", exitUsage, babyMonitor},
		}},
		{"rollback of a pending apply: table restored, not settled", []step{
			{confirm, device.CrashTableApplied, killed, smartPlug},
			{[]string{"rollback"}, device.CrashTableRestored, killed, babyMonitor},
			{[]string{"rollback"}, "", exitOK, babyMonitor},
			{[]string{"rollback"}, "", exitUsage, babyMonitor},
		}},
		{"rollback: table restored, not settled", []step{
			{[]string{"rollback"}, device.CrashTableRestored, killed, thermostat},
			{[]string{"rollback"}, "", exitOK, thermostat},
			{[]string{"rollback"}, "", exitUsage, thermostat},
		}},
		{"confirm: state file not yet renamed", []step{
			{confirm, device.CrashTableApplied, killed, smartPlug},
			{[]string{"confirm"}, device.CrashTempWritten, killed, smartPlug},
			{[]string{"confirm"}, "", exitOK, smartPlug},
			{[]string{"rollback"}, "", exitOK, babyMonitor},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			onEachKernel(t, func(t *testing.T, ns string) {
				state := t.TempDir()
				at := []string{"--netns", ns, "--state-dir", state}
				for _, p := range []string{thermostat, babyMonitor} {
					if code, _, errs := devfence(t, "apply", "--netns", ns, "--state-dir", state, p); code != exitOK {
						t.Fatalf("apply %s: exit %d: %s", p, code, errs)
					}
				}
				for i, s := range tc.steps {
					args := append(append([]string{s.args[0]}, at...), s.args[1:]...)
					var env []string
					want := s.code
					if s.crash != "" {
						env, want = []string{device.EnvCrashAt + "=" + s.crash}, killed
					}
					code, errs := runBinary(t, env, args...)
					if code != want || strings.Contains(errs, "panic") {
						t.Fatalf("step %d, devfence %s (crash at %q): exit %d, want %d; stderr %q", i, strings.Join(s.args, " "), s.crash, code, want, errs)
					}
					if code, out, _ := devfence(t, "diff", "--netns", ns, s.live); code != exitOK {
						t.Fatalf("step %d, after devfence %s: the table in force is not %s's:\n%s", i, strings.Join(s.args, " "), s.live, out)
					}
				}
				if tmps, _ := filepath.Glob(filepath.Join(filepath.Dir(stateFile(state, ns)), ".*")); len(tmps) > 0 {
					t.Errorf("temporary state files left behind: %v", tmps)
				}
			})
		})
	}
}
