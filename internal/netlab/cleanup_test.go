package netlab

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestCloseRemovesEverything: after Close every namespace file is gone and
// every process started in the lab (tracked or not) is dead.
func TestCloseRemovesEverything(t *testing.T) {
	t.Parallel()
	RequireKernel(t)
	RequireTool(t, "sleep")
	RequireTool(t, "sh")
	l, err := Start(WithVictims(2), WithLogf(t.Logf))
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	t.Cleanup(func() {
		if !closed {
			l.Close()
		}
	})
	names := l.NetNSNames()
	if len(names) != 8 { // 7 hosts + switch
		t.Fatalf("namespaces %v, want 8", names)
	}
	tracked, err := l.Attacker.StartProcess("sleep", "60")
	if err != nil {
		t.Fatal(err)
	}
	// An untracked background process left behind by a shell.
	out, err := l.Device.Exec("sh", "-c", "sleep 60 >/dev/null 2>&1 & echo $!")
	if err != nil {
		t.Fatal(err)
	}
	orphan, err := strconv.Atoi(strings.TrimSpace(out))
	if err != nil {
		t.Fatalf("orphan pid %q: %v", out, err)
	}
	if _, err := l.Device.ListenTCP(1234); err != nil {
		t.Fatal(err)
	}

	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	closed = true
	if err := l.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}

	for _, n := range names {
		if _, err := os.Stat(filepath.Join("/var/run/netns", n)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("namespace %s still present after Close (stat err %v)", n, err)
		}
	}
	select {
	case <-tracked.Done():
	default:
		t.Errorf("tracked process %d still running", tracked.Pid())
	}
	if !Eventually(3*time.Second, func() bool { return !processRunning(orphan) }) {
		t.Errorf("untracked process %d survived Close", orphan)
	}
	if err := l.Device.Do(func() error { return nil }); err == nil {
		t.Error("Do after Close succeeded")
	}
	if _, err := l.Device.ListenTCP(1235); err == nil {
		t.Error("ListenTCP after Close succeeded")
	}
}

// processRunning reports whether pid exists and is not a zombie.
func processRunning(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// State is the field after the ")" closing the command name.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

// TestRemoveStale: namespaces of dead processes are removed, those of live
// processes are kept.
func TestRemoveStale(t *testing.T) {
	t.Parallel()
	RequireKernel(t)
	// A pid that is certainly dead: a process that has exited and been reaped.
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Skipf("cannot run true: %v", err)
	}
	deadPid := cmd.Process.Pid
	if pidAlive(deadPid) {
		t.Skipf("pid %d was reused", deadPid)
	}
	stale := fmt.Sprintf("dfl%d-1-device", deadPid)
	live := fmt.Sprintf("dfl%d-999-device", os.Getppid())
	foreign := fmt.Sprintf("other%d-1-device", deadPid)
	for _, n := range []string{stale, live, foreign} {
		h, err := createNamedNS(n)
		if err != nil {
			t.Fatal(err)
		}
		h.Close()
		t.Cleanup(func() { _ = deleteNamedNS(n) })
	}

	if _, err := RemoveStale(); err != nil {
		t.Fatal(err)
	}
	exists := func(n string) bool {
		_, err := os.Stat(filepath.Join("/var/run/netns", n))
		return err == nil
	}
	if exists(stale) {
		t.Errorf("stale namespace %s not removed", stale)
	}
	if !exists(live) {
		t.Errorf("namespace %s of live pid %d was removed", live, os.Getppid())
	}
	if !exists(foreign) {
		t.Errorf("namespace %s not created by netlab was removed", foreign)
	}
}

func TestStaleNamePattern(t *testing.T) {
	for name, want := range map[string]bool{
		"dfl123-1-device":   true,
		"dfl9-12-victim10":  true,
		"dfl123-1-switch":   true,
		"dfl-1-device":      false,
		"dflx-1-device":     false,
		"dfl123-device":     false,
		"mydfl123-1-device": false,
		"cni-1234":          false,
	} {
		if got := staleRE.MatchString(name); got != want {
			t.Errorf("staleRE(%q) = %v, want %v", name, got, want)
		}
	}
}
