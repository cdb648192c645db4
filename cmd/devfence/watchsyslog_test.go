package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/devfence/devfence/internal/netlab"
)

// TestWatchSyslog: with --syslog, a dropped packet reaches the syslog
// socket (a unixgram listener standing in for /dev/log) as one message,
// daemon.notice (<29>) tagged devfence, and nothing goes to stdout.
func TestWatchSyslog(t *testing.T) {
	l := babyMonitorLab(t)
	sock := filepath.Join(t.TempDir(), "log")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	lines, errLines, stop := startWatch(t, "--netns", l.Device.NetNS, "--profile", babyMonitor, "--syslog", "--syslog-socket", sock)
	waitLine(t, errLines, "the watching notice", func(s string) bool { return strings.Contains(s, "watching NFLOG group 0") })
	if _, err := l.Device.SendUDP(netlab.Unassigned4, 9999, []byte("x"), 1); err == nil {
		t.Fatal("UDP to port 9999 was not dropped")
	}
	want := []string{"<29>", " devfence[", "]: ", "out udp " + netlab.Unassigned4.String() + " port 9999: not allowed"}
	buf := make([]byte, 4096)
	for deadline := time.Now().Add(watchWait); ; {
		conn.SetReadDeadline(deadline)
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("no syslog message for the drop: %v", err)
		}
		msg := string(buf[:n])
		if !strings.Contains(msg, "port 9999") {
			t.Logf("skipped syslog message: %q", msg)
			continue
		}
		for _, w := range want {
			if !strings.Contains(msg, w) {
				t.Errorf("syslog message %q lacks %q", msg, w)
			}
		}
		t.Logf("syslog got %q", msg)
		break
	}
	stop()
	for l := range lines {
		t.Errorf("stdout with --syslog: %q", l)
	}
}

func TestWatchSyslogUsage(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no-such-socket")
	for _, tc := range []struct {
		name   string
		args   []string
		stderr string
	}{
		{"socket without --syslog", []string{"watch", "--syslog-socket", missing}, "--syslog-socket needs --syslog"},
		{"no syslog daemon", []string{"watch", "--syslog", "--syslog-socket", missing}, "watch: syslog: connect to " + missing + ": "},
	} {
		code, out, errs := devfence(t, tc.args...)
		if code != exitUsage || out != "" || !strings.Contains(errs, tc.stderr) {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want exit 2 and %q", tc.name, code, out, errs, tc.stderr)
		}
	}
}

// TestSyslogWriterRedials: a message is one datagram in log/syslog's
// local format, and when the syslog daemon restarts (its socket is made
// anew) the next message reaches the new one.
func TestSyslogWriterRedials(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "log")
	listen := func() *net.UnixConn {
		t.Helper()
		c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	read := func(c *net.UnixConn) string {
		t.Helper()
		buf := make([]byte, 512)
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := c.Read(buf)
		if err != nil {
			t.Fatalf("syslog read: %v", err)
		}
		return string(buf[:n])
	}
	daemon := listen()
	w := &syslogWriter{socket: sock}
	if err := w.connect(); err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	tag := fmt.Sprintf(" devfence[%d]: ", os.Getpid())
	for i, line := range []string{"first\n", "second\n"} {
		if i == 1 {
			daemon.Close()
			os.Remove(sock)
			daemon = listen()
		}
		if _, err := w.Write([]byte(line)); err != nil {
			t.Fatalf("write %q: %v", line, err)
		}
		got := read(daemon)
		if !strings.HasPrefix(got, "<29>") || !strings.HasSuffix(got, tag+line) {
			t.Errorf("message %d: %q, want <29>TIMESTAMP%s%q", i, got, tag, line)
		}
	}
	daemon.Close()
}
