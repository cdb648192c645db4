package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/devfence/devfence/internal/golden"
	"github.com/devfence/devfence/internal/netlab"
	"github.com/devfence/devfence/internal/nflog"
)

const (
	babyMonitor = "../../examples/baby-monitor.yaml"
	helperEnv   = "DEVFENCE_WATCH_TEST_HELPER"
	watchWait   = 10 * time.Second // bound on every wait for the child
)

// TestWatchHelperProcess is the devfence binary for TestWatchCLI: the test
// binary runs itself with helperEnv set and the CLI's arguments after "--",
// so that signals reach a real process. It does nothing in a normal run.
func TestWatchHelperProcess(t *testing.T) {
	if os.Getenv(helperEnv) != "1" {
		return
	}
	args := os.Args
	for i, a := range args {
		if a == "--" {
			args = args[i+1:]
			break
		}
	}
	os.Exit(run(append([]string{"devfence"}, args...), os.Stdout, os.Stderr))
}

func TestWatchUsage(t *testing.T) {
	tests := []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"watch", babyMonitor}, exitUsage, "watch takes no arguments (the profile goes with --profile)"},
		{[]string{"watch", "--group", "65536"}, exitUsage, "--group 65536: an NFLOG group is 0..65535"},
		{[]string{"watch", "--group", "-1"}, exitUsage, "an NFLOG group is 0..65535"},
		{[]string{"watch", "--profile", "../../examples/invalid/bad-port.yaml"}, exitProfile, "bad-port.yaml:"},
		{[]string{"watch", "--netns", "devfence-no-such-ns"}, exitUsage, `network namespace "devfence-no-such-ns" does not exist`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(append([]string{"devfence"}, tt.args...), &out, &errb)
			if code != tt.code || !strings.Contains(errb.String(), tt.msg) {
				t.Errorf("exit %d, stderr %q; want exit %d and %q", code, errb.String(), tt.code, tt.msg)
			}
			if out.Len() != 0 {
				t.Errorf("stdout %q", out.String())
			}
		})
	}
}

// Without CAP_NET_ADMIN, watch prints one error naming the capability and
// exits 2. Capabilities are per thread: the CLI runs on a locked thread
// whose effective set lacks CAP_NET_ADMIN (the thread is never unlocked, so
// the runtime destroys it afterwards). Where labs can be built the thread
// first moves into a lab namespace, so nothing is bound in the test's own.
func TestWatchNeedsCapNetAdmin(t *testing.T) {
	var nsPath string
	if netlab.KernelAvailable() == nil {
		nsPath = netlab.New(t, netlab.WithVictims(0)).Device.NSPath()
	}
	var out, errb bytes.Buffer
	done := make(chan int, 1)
	go func() {
		runtime.LockOSThread() // never unlocked, see above
		if err := enterAndDropCapNetAdmin(nsPath); err != nil {
			t.Error(err)
			done <- -1
			return
		}
		done <- run([]string{"devfence", "watch", "--group", "9"}, &out, &errb)
	}()
	code := <-done
	if code != exitUsage {
		t.Errorf("exit %d, want %d", code, exitUsage)
	}
	want := "devfence: watch: subscribing to NFLOG group 9 needs CAP_NET_ADMIN (run as root or grant the capability)\n"
	if errb.String() != want {
		t.Errorf("stderr %q\nwant   %q", errb.String(), want)
	}
	if out.Len() != 0 {
		t.Errorf("stdout %q", out.String())
	}
}

func enterAndDropCapNetAdmin(nsPath string) error {
	if nsPath != "" {
		f, err := os.Open(nsPath)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			return fmt.Errorf("setns: %w", err)
		}
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capget: %w", err)
	}
	data[0].Effective &^= 1 << unix.CAP_NET_ADMIN
	return unix.Capset(&hdr, &data[0])
}

// babyMonitorLab is a lab whose device has examples/baby-monitor.yaml's
// table in force, loaded with nft.
func babyMonitorLab(t *testing.T) *netlab.Lab {
	t.Helper()
	netlab.RequireTool(t, "nft")
	l := netlab.New(t, netlab.WithVictims(0))
	var ruleset, errb bytes.Buffer
	if code := run([]string{"devfence", "compile", babyMonitor}, &ruleset, &errb); code != exitOK {
		t.Fatalf("compile: exit %d: %s", code, errb.String())
	}
	if err := l.Device.NFT(ruleset.String()); err != nil {
		t.Fatal(err)
	}
	return l
}

// TestWatchCLI runs `devfence watch --netns --format json --profile` as a process
// against examples/baby-monitor.yaml loaded in a lab device, provokes an
// input and an output drop, reads them as JSON lines, and stops the process
// with SIGTERM, which must end it cleanly with status 0.
func TestWatchCLI(t *testing.T) {
	l := babyMonitorLab(t)

	lines, errLines, stop := startWatch(t, "--netns", l.Device.NetNS, "--format", "json", "--profile", babyMonitor)

	// The child says when the group is bound; packets sent before would go
	// unlogged.
	waitLine(t, errLines, "the watching notice", func(s string) bool {
		return strings.Contains(s, "watching NFLOG group 0 in network namespace "+l.Device.NetNS)
	})

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := l.Attacker.ProbeTCP(ctx, l.Device.V4, 23); err == nil {
		t.Fatal("the attacker's SYN got through")
	}
	in := waitRecord(t, lines, "the attacker's SYN", func(r nflog.Record) bool {
		return r.Direction == "in" && r.Peer == l.Attacker.V4 && r.Port == 23
	})
	if in.Reason != nflog.Unsolicited || in.Proto != "tcp" || in.Device != "baby-monitor" {
		t.Errorf("input record %+v", in)
	}

	if _, err := l.Device.SendUDP(netlab.Unassigned4, 9999, []byte("x"), 1); err == nil {
		t.Fatal("UDP to port 9999 was not dropped")
	}
	out, line := waitRecordLine(t, lines, "the device's UDP to port 9999", func(r nflog.Record) bool {
		return r.Direction == "out" && r.Peer == netlab.Unassigned4 && r.Port == 9999
	})
	// watch's JSON shape (docs/JSON.md): the time and the ephemeral
	// source port are the only values that change from run to run.
	golden.Compare(t, jsonGolden("watch"), []byte(normalise(t, "watch", line+"\n",
		normalRule{regexp.MustCompile(`"time":"[^"]+"`), 1, `"time":"TIME"`},
		normalRule{regexp.MustCompile(`"sport":[0-9]+,`), 1, `"sport":0,`})))
	if out.Reason != nflog.NotAllowed || out.Proto != "udp" {
		t.Errorf("output record %+v", out)
	}

	stop()
}

// startWatch runs `devfence watch ARGS...` as a child process (see
// TestWatchHelperProcess) and returns its stdout and stderr lines and a
// stop function that sends SIGTERM and fails the test unless the child
// then exits with status 0.
func startWatch(t *testing.T, args ...string) (stdoutLines, stderrLines <-chan string, stop func()) {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"-test.run=^TestWatchHelperProcess$", "--", "watch"}, args...)...)
	cmd.Env = append(os.Environ(), helperEnv+"=1")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	reaped := false // set once exited has been received from
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		if !reaped {
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	stop = func() {
		t.Helper()
		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-exited:
			reaped = true
			if err != nil {
				t.Errorf("after SIGTERM: %v (want exit status 0)", err)
			}
		case <-time.After(watchWait):
			t.Fatalf("still running %v after SIGTERM", watchWait)
		}
	}
	return readLines(stdout), readLines(stderr), stop
}

// TestWatchLiveGroup checks that watch, given neither --group nor
// --profile, binds the NFLOG group of the table in force (3 here), and so
// receives its drops; an explicit --group still wins.
func TestWatchLiveGroup(t *testing.T) {
	netlab.RequireTool(t, "nft")
	l := netlab.New(t, netlab.WithVictims(0))

	src, err := os.ReadFile(root + "examples/smart-plug.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(src, []byte("\n  group: 2\n")) {
		t.Fatal("examples/smart-plug.yaml no longer sets log.group 2; update this test")
	}
	profile := t.TempDir() + "/group3.yaml"
	if err := os.WriteFile(profile, bytes.Replace(src, []byte("\n  group: 2\n"), []byte("\n  group: 3\n"), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	var ruleset, errb bytes.Buffer
	if code := run([]string{"devfence", "compile", profile}, &ruleset, &errb); code != exitOK {
		t.Fatalf("compile: exit %d: %s", code, errb.String())
	}
	if !strings.Contains(ruleset.String(), " group 3") {
		t.Fatalf("the ruleset logs to no group 3:\n%s", ruleset.String())
	}
	if err := l.Device.NFT(ruleset.String()); err != nil {
		t.Fatal(err)
	}

	lines, errLines, stop := startWatch(t, "--netns", l.Device.NetNS, "--format", "json", "-v")
	waitLine(t, errLines, "the group's source", func(s string) bool {
		return strings.Contains(s, "NFLOG group 3 from the table in force")
	})
	waitLine(t, errLines, "the watching notice", func(s string) bool {
		return strings.Contains(s, "watching NFLOG group 3 in network namespace "+l.Device.NetNS)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := l.Attacker.ProbeTCP(ctx, l.Device.V4, 23); err == nil {
		t.Fatal("the attacker's SYN got through")
	}
	waitRecord(t, lines, "the attacker's SYN, logged to group 3", func(r nflog.Record) bool {
		return r.Direction == "in" && r.Peer == l.Attacker.V4 && r.Port == 23
	})
	stop()

	_, errLines, stop = startWatch(t, "--netns", l.Device.NetNS, "--group", "5")
	waitLine(t, errLines, "the watching notice of --group 5", func(s string) bool {
		return strings.Contains(s, "watching NFLOG group 5 in network namespace "+l.Device.NetNS)
	})
	stop()
}

// readLines delivers r's lines on a channel, closed at EOF.
func readLines(r io.Reader) <-chan string {
	ch := make(chan string, 64)
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			ch <- sc.Text()
		}
	}()
	return ch
}

func waitLine(t *testing.T, lines <-chan string, what string, match func(string) bool) string {
	t.Helper()
	deadline := time.After(watchWait)
	for {
		select {
		case s, ok := <-lines:
			if !ok {
				t.Fatalf("output ended before %s", what)
			}
			if match(s) {
				return s
			}
			t.Logf("skipped while waiting for %s: %s", what, s)
		case <-deadline:
			t.Fatalf("no %s within %v", what, watchWait)
		}
	}
}

// waitRecord reads JSON lines until a record matches; every line must be
// one JSON object.
func waitRecord(t *testing.T, lines <-chan string, what string, match func(nflog.Record) bool) nflog.Record {
	t.Helper()
	rec, _ := waitRecordLine(t, lines, what, match)
	return rec
}

// waitRecordLine is waitRecord that also returns the line as printed.
func waitRecordLine(t *testing.T, lines <-chan string, what string, match func(nflog.Record) bool) (nflog.Record, string) {
	t.Helper()
	var rec nflog.Record
	line := waitLine(t, lines, what, func(s string) bool {
		var r nflog.Record
		if err := json.Unmarshal([]byte(s), &r); err != nil {
			t.Errorf("not a JSON line: %q: %v", s, err)
			return false
		}
		rec = r
		return match(r)
	})
	t.Logf("%s: %s", what, rec.Text())
	return rec, line
}
