package main

import (
	"bytes"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"
	"testing"

	"github.com/devfence/devfence/rules/netlink/nltest"
)

const smartPlug = "../../examples/smart-plug.yaml"

// TestDiffExitCodes: 1 while the live table differs (no table yet, or a
// rule added by hand, shown as a readable − line), 0 once applied, 2 for
// an invalid profile.
func TestDiffExitCodes(t *testing.T) {
	onEachKernel(t, func(t *testing.T, ns string) {
		state := t.TempDir()
		code, out, errs := devfence(t, "diff", "--netns", ns, babyMonitor)
		if code != exitProfile || !strings.Contains(out, "--- live table inet devfence (netns "+ns+") (none)\n") ||
			!strings.Contains(out, "\n+\tchain input {\n") {
			t.Fatalf("diff with no table: exit %d, stderr %q, stdout:\n%s", code, errs, out)
		}
		if code, _, errs := devfence(t, "apply", "--netns", ns, "--state-dir", state, babyMonitor); code != exitOK {
			t.Fatalf("apply: exit %d: %s", code, errs)
		}
		if code, out, errs := devfence(t, "diff", "--netns", ns, babyMonitor); code != exitOK || out != "" {
			t.Fatalf("diff after apply: exit %d, stdout %q, stderr %q", code, out, errs)
		}

		addHandRule(t, ns)
		hand := []string{"\n-\t\ttcp dport 22 accept\n"}
		if fakeKernel(ns) == nil {
			// Read back raw: the fake holds only what devfence can encode.
			nltest.NFT(t, ns, "", "add", "rule", "inet", "devfence", "input", "meta", "mark", "0x2a", "accept")
			hand = append(hand, "\n-\t\t[meta load mark => reg 1] [cmp eq reg 1 0x2a000000] accept\n")
		}
		code, out, _ = devfence(t, "diff", "--netns", ns, babyMonitor)
		if code != exitProfile {
			t.Fatalf("diff after a hand-made rule: exit %d", code)
		}
		for _, want := range hand {
			if !strings.Contains(out, want) {
				t.Errorf("diff does not show %q:\n%s", want, out)
			}
		}

		if code, _, errs := devfence(t, "diff", "--netns", ns, "../../examples/invalid/bad-port.yaml"); code != exitUsage || !strings.Contains(errs, "bad-port.yaml:") {
			t.Errorf("diff of an invalid profile: exit %d, stderr %q", code, errs)
		}
	})
}

// TestApplyInterrupted: apply --confirm and its guard both killed while
// it waits (what a power cut does): the new table stays, the next apply
// refuses to run, and the boot-time check (rollback --if-pending) restores
// the previous table, once: a second rollback has nothing to restore.
func TestApplyInterrupted(t *testing.T) {
	onEachKernel(t, func(t *testing.T, ns string) {
		state := t.TempDir()
		if code, _, errs := devfence(t, "apply", "--netns", ns, "--state-dir", state, babyMonitor); code != exitOK {
			t.Fatalf("apply: exit %d: %s", code, errs)
		}
		p := startBinary(t, nil, "apply", "--netns", ns, "--state-dir", state, "--confirm", "1m", smartPlug)
		p.waitStderr(t, "waiting 1m0s for `devfence confirm`")
		syscall.Kill(guardPID(t, p.errb.String()), syscall.SIGKILL)
		p.cmd.Process.Kill()
		p.wait(t, watchWait)

		if code, _, _ := devfence(t, "diff", "--netns", ns, smartPlug); code != exitOK {
			t.Errorf("the unconfirmed table is not in force after the kill (diff exit %d)", code)
		}
		code, _, errs := devfence(t, "apply", "--netns", ns, "--state-dir", state, babyMonitor)
		if code != exitUsage || !strings.Contains(errs, "was interrupted before it was confirmed") {
			t.Errorf("apply with an interrupted confirm pending: exit %d, stderr %q", code, errs)
		}
		if code, out, _ := devfence(t, "status", "--netns", ns, "--state-dir", state); code != exitOK || !strings.Contains(out, "was interrupted") {
			t.Errorf("status: exit %d:\n%s", code, out)
		}
		if code, _, errs := devfence(t, "rollback", "--if-pending", "--netns", ns, "--state-dir", state); code != exitOK {
			t.Fatalf("rollback --if-pending: exit %d: %s", code, errs)
		}
		if code, _, _ := devfence(t, "diff", "--netns", ns, babyMonitor); code != exitOK {
			t.Errorf("rollback did not restore the previous table (diff exit %d)", code)
		}
		if code, _, errs := devfence(t, "rollback", "--if-pending", "--netns", ns, "--state-dir", state); code != exitOK || errs != "" {
			t.Errorf("rollback --if-pending with nothing pending: exit %d, stderr %q", code, errs)
		}
		if code, _, errs := devfence(t, "rollback", "--netns", ns, "--state-dir", state); code != exitUsage || !strings.Contains(errs, "nothing to roll back") {
			t.Errorf("second rollback: exit %d, stderr %q", code, errs)
		}
		if code, _, errs := devfence(t, "confirm", "--netns", ns, "--state-dir", state); code != exitUsage || !strings.Contains(errs, "no apply is waiting for confirmation") {
			t.Errorf("confirm with nothing pending: exit %d, stderr %q", code, errs)
		}
	})
}

// TestKernelCommandsNeedCapNetAdmin: without CAP_NET_ADMIN every command
// that talks to the kernel prints the one line naming the capability and
// exits 2. Each runs on a locked thread that entered a test namespace and
// dropped the capability (see TestWatchNeedsCapNetAdmin). apply is left to
// TestNeedCapNetAdminProcess: it reads the live table on another goroutine,
// hence another thread, which keeps the capability in this setting.
func TestKernelCommandsNeedCapNetAdmin(t *testing.T) {
	ns := nltest.NS(t)
	state := t.TempDir()
	for _, args := range [][]string{
		{"diff", babyMonitor},
		{"status"},
		{"rollback", "--state-dir", state},
	} {
		t.Run(args[0], func(t *testing.T) {
			var out, errb bytes.Buffer
			done := make(chan int, 1)
			go func() {
				runtime.LockOSThread() // never unlocked: the runtime discards the thread
				if err := enterAndDropCapNetAdmin(filepath.Join(nltest.Dir, ns)); err != nil {
					t.Error(err)
					done <- -1
					return
				}
				done <- run(append([]string{"devfence"}, args...), &out, &errb)
			}()
			if code := <-done; code != exitUsage {
				t.Errorf("exit %d, want %d (stderr %q)", code, exitUsage, errb.String())
			}
			if want := "devfence needs CAP_NET_ADMIN (run as root)\n"; !strings.HasSuffix(errb.String(), want) {
				t.Errorf("stderr %q, want it to end with %q", errb.String(), want)
			}
		})
	}
}

// TestNeedCapNetAdminProcess: the same as whole processes whose bounding
// set lacks CAP_NET_ADMIN (setpriv), so no thread has the capability.
func TestNeedCapNetAdminProcess(t *testing.T) {
	ns := nltest.NS(t)
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("setpriv (util-linux) is not installed")
	}
	state := t.TempDir()
	for _, args := range [][]string{
		{"apply", "--netns", ns, "--state-dir", state, babyMonitor},
		{"diff", "--netns", ns, babyMonitor},
		{"status", "--netns", ns},
		{"rollback", "--netns", ns, "--state-dir", state},
	} {
		t.Run(args[0], func(t *testing.T) {
			cmd := exec.Command(setpriv, append([]string{"--inh-caps=-all", "--bounding-set=-net_admin", "--",
				os.Args[0], "-test.run=^TestWatchHelperProcess$", "--"}, args...)...)
			cmd.Env = append(os.Environ(), helperEnv+"=1")
			var out, errb bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &errb
			err := cmd.Run()
			if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != exitUsage {
				t.Fatalf("%v, want exit %d (stderr %q)", err, exitUsage, errb.String())
			}
			if errb.String() != "devfence needs CAP_NET_ADMIN (run as root)\n" || out.Len() != 0 {
				t.Errorf("stdout %q, stderr %q", out.String(), errb.String())
			}
		})
	}
}

// TestConfirmTimeMustBePositive: --confirm 0s would apply with no guard
// at all, so it is refused like a negative time, before anything changes.
func TestConfirmTimeMustBePositive(t *testing.T) {
	for _, d := range []string{"0s", "-5s"} {
		code, _, errs := devfence(t, "apply", "--netns", "devfence-no-such-ns", "--confirm", d, babyMonitor)
		if want := "--confirm " + d + ": the time to wait must be positive"; code != exitUsage || !strings.Contains(errs, want) {
			t.Errorf("--confirm %s: exit %d, stderr %q, want exit 2 and %q", d, code, errs, want)
		}
	}
}

// apply's soft memory limit applies unless GOMEMLIMIT chose one.
func TestLimitMemory(t *testing.T) {
	tests := []struct {
		name string
		env  string // "" leaves GOMEMLIMIT unset
		want int64
	}{
		{name: "GOMEMLIMIT unset", want: applyMemoryLimit},
		{name: "GOMEMLIMIT set", env: "1GiB", want: 1 << 30},
	}
	orig := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(orig) })
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The runtime reads GOMEMLIMIT once at start; stand in for it.
			debug.SetMemoryLimit(math.MaxInt64)
			if tt.env != "" {
				t.Setenv("GOMEMLIMIT", tt.env)
				debug.SetMemoryLimit(tt.want)
			} else {
				t.Setenv("GOMEMLIMIT", "")
				os.Unsetenv("GOMEMLIMIT")
			}
			limitMemory()
			if got := debug.SetMemoryLimit(-1); got != tt.want {
				t.Errorf("memory limit = %d, want %d", got, tt.want)
			}
		})
	}
}
