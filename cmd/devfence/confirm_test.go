package main

import (
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/devfence/devfence/internal/device"
)

const thermostat = "../../examples/thermostat.yaml"

// TestConfirmSurvivesSignals: whatever ends apply --confirm while it waits
// (the hangup of a dropped SSH session, Ctrl-C, SIGTERM, or SIGKILL, which
// leaves it to the detached guard), the previous table is back in force by
// the deadline, and no devfence process is left.
func TestConfirmSurvivesSignals(t *testing.T) {
	const confirm = 3 * time.Second
	for _, sig := range []syscall.Signal{syscall.SIGHUP, syscall.SIGINT, syscall.SIGTERM, syscall.SIGKILL} {
		t.Run(sig.String(), func(t *testing.T) {
			onEachKernel(t, func(t *testing.T, ns string) {
				state := t.TempDir()
				if code, errs := runBinary(t, nil, "apply", "--netns", ns, "--state-dir", state, babyMonitor); code != exitOK {
					t.Fatalf("apply: exit %d: %s", code, errs)
				}
				p := startBinary(t, nil, "apply", "--netns", ns, "--state-dir", state, "--confirm", confirm.String(), smartPlug)
				p.waitStderr(t, "waiting 3s for `devfence confirm`")
				guard := guardPID(t, p.errb.String())
				deadline := pendingDeadline(t, ns, state)
				if code, _, _ := devfence(t, "diff", "--netns", ns, smartPlug); code != exitOK {
					t.Fatalf("the new table is not in force while apply waits (diff exit %d)", code)
				}
				// To the process group, as the terminal's hangup is sent.
				if err := syscall.Kill(-p.cmd.Process.Pid, sig); err != nil {
					t.Fatal(err)
				}
				if !p.wait(t, watchWait) {
					t.Fatalf("apply still runs %v after %s", watchWait, sig)
				}
				if sig != syscall.SIGKILL {
					if code := p.cmd.ProcessState.ExitCode(); code != exitUsage || !strings.Contains(p.errb.String(), "not confirmed in time: the previous table is back in force (interrupted)") {
						t.Errorf("apply after %s: exit %d, stderr %q", sig, code, p.errb.String())
					}
				}
				// The guard looks every 200ms; restoring takes milliseconds.
				time.Sleep(time.Until(deadline.Add(time.Second)))
				if code, out, _ := devfence(t, "diff", "--netns", ns, babyMonitor); code != exitOK {
					t.Errorf("the previous table is not back after %s and the deadline (diff exit %d):\n%s", sig, code, out)
				}
				waitGone(t, guard)
				if code, out, _ := devfence(t, "status", "--netns", ns, "--state-dir", state); code != exitOK || strings.Contains(out, "pending") {
					t.Errorf("status after %s: exit %d:\n%s", sig, code, out)
				}
			})
		})
	}
}

// TestConfirmStopsGuard: confirm keeps the table, the waiting apply exits
// 0, and the guard ends.
func TestConfirmStopsGuard(t *testing.T) {
	onEachKernel(t, func(t *testing.T, ns string) {
		state := t.TempDir()
		p := startBinary(t, nil, "apply", "--netns", ns, "--state-dir", state, "--confirm", "1m", smartPlug)
		p.waitStderr(t, "waiting 1m0s")
		guard := guardPID(t, p.errb.String())
		if code, _, errs := devfence(t, "confirm", "--netns", ns, "--state-dir", state); code != exitOK {
			t.Fatalf("confirm: exit %d: %s", code, errs)
		}
		if !p.wait(t, watchWait) || p.cmd.ProcessState.ExitCode() != exitOK || !strings.Contains(p.errb.String(), "confirmed: the new table stays in force") {
			t.Fatalf("apply after confirm: %v, stderr %q", p.cmd.ProcessState, p.errb.String())
		}
		waitGone(t, guard)
		if code, _, _ := devfence(t, "diff", "--netns", ns, smartPlug); code != exitOK {
			t.Errorf("the confirmed table is not in force (diff exit %d)", code)
		}
	})
}

// TestConcurrentApplies: two apply --confirm at once, or two plain
// applies, never leave a process running or a table half-owned: one
// waits for the other or says who holds the table.
func TestConcurrentApplies(t *testing.T) {
	t.Run("confirm", func(t *testing.T) {
		onEachKernel(t, func(t *testing.T, ns string) {
			state := t.TempDir()
			if code, errs := runBinary(t, nil, "apply", "--netns", ns, "--state-dir", state, babyMonitor); code != exitOK {
				t.Fatalf("apply: exit %d: %s", code, errs)
			}
			a := startBinary(t, nil, "apply", "--netns", ns, "--state-dir", state, "--confirm", "2s", smartPlug)
			b := startBinary(t, nil, "apply", "--netns", ns, "--state-dir", state, "--confirm", "2s", thermostat)
			var guards []int
			for _, p := range []*proc{a, b} {
				if !p.wait(t, watchWait) {
					t.Fatalf("apply --confirm still runs after %v: %s", watchWait, p.errb.String())
				}
				errs := p.errb.String()
				if strings.Contains(errs, "guard pid") {
					guards = append(guards, guardPID(t, errs))
					if !strings.Contains(errs, "not confirmed in time") {
						t.Errorf("the waiting apply: %s", errs)
					}
				} else if !strings.Contains(errs, "is waiting for confirmation until") && !strings.Contains(errs, "another devfence apply is running (pid ") {
					t.Errorf("the other apply: exit %d, stderr %q", p.cmd.ProcessState.ExitCode(), errs)
				}
			}
			if len(guards) != 1 {
				t.Errorf("%d applies waited for confirmation, want 1", len(guards))
			}
			for _, g := range guards {
				waitGone(t, g)
			}
			if code, _, _ := devfence(t, "diff", "--netns", ns, babyMonitor); code != exitOK {
				t.Errorf("the previous table is not back (diff exit %d)", code)
			}
		})
	})
	t.Run("plain", func(t *testing.T) {
		onEachKernel(t, func(t *testing.T, ns string) {
			state := t.TempDir()
			for round := range 10 {
				a := startBinary(t, nil, "apply", "--netns", ns, "--state-dir", state, smartPlug)
				b := startBinary(t, nil, "apply", "--netns", ns, "--state-dir", state, thermostat)
				for _, p := range []*proc{a, b} {
					if !p.wait(t, watchWait) || p.cmd.ProcessState.ExitCode() != exitOK {
						t.Fatalf("round %d: apply: %v: %s", round, p.cmd.ProcessState, p.errb.String())
					}
				}
				plug, _, _ := devfence(t, "diff", "--netns", ns, smartPlug)
				therm, _, _ := devfence(t, "diff", "--netns", ns, thermostat)
				if plug != exitOK && therm != exitOK {
					t.Fatalf("round %d: the live table is neither profile's", round)
				}
			}
		})
	})
}

// pendingDeadline is the deadline of the pending apply --confirm, as
// status --format json reports it.
func pendingDeadline(t *testing.T, ns, state string) time.Time {
	t.Helper()
	code, out, errs := devfence(t, "status", "--format", "json", "--netns", ns, "--state-dir", state)
	var r struct {
		Pending *struct{ Deadline time.Time } `json:"pending_confirmation"`
	}
	if err := json.Unmarshal([]byte(out), &r); code != exitOK || err != nil || r.Pending == nil {
		t.Fatalf("status --format json: exit %d, %v, no pending confirmation in %s%s", code, err, out, errs)
	}
	return r.Pending.Deadline
}

var guardRE = regexp.MustCompile(`guard pid (\d+)`)

func guardPID(t *testing.T, stderr string) int {
	t.Helper()
	m := guardRE.FindStringSubmatch(stderr)
	if m == nil {
		t.Fatalf("apply did not name its guard: %s", stderr)
	}
	pid, _ := strconv.Atoi(m[1])
	return pid
}

// waitGone waits for a process to end (a zombie counts as ended).
func waitGone(t *testing.T, pid int) {
	t.Helper()
	for deadline := time.Now().Add(watchWait); device.Alive(pid); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("process %d still runs after %v", pid, watchWait)
		}
	}
}
