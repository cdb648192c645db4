package main

import (
	"fmt"
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

func TestColourLines(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"added and removed", "+a\n-b\n c\n", ansiGreen + "+a" + ansiReset + "\n" + ansiRed + "-b" + ansiReset + "\n c\n"},
		{"hunk header", "@@ -1 +1 @@\n", ansiCyan + "@@ -1 +1 @@" + ansiReset + "\n"},
		{"no final newline", "+x", ansiGreen + "+x" + ansiReset},
		{"plan line stays plain", "plan: +1 -0 rules\n", "plan: +1 -0 rules\n"},
	} {
		if d := cmp.Diff(tc.want, colourLines(tc.in)); d != "" {
			t.Errorf("%s (-want +got):\n%s", tc.name, d)
		}
	}
}

// TestUseColour: colour on a terminal only, and not with NO_COLOR.
func TestUseColour(t *testing.T) {
	tty := openPTY(t)
	pipeR, pipeW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pipeR.Close()
	defer pipeW.Close()
	for _, tc := range []struct {
		name    string
		w       *os.File
		noColor string
		want    bool
	}{
		{"terminal", tty, "", true},
		{"terminal with NO_COLOR", tty, "1", false},
		{"pipe", pipeW, "", false},
	} {
		t.Setenv("NO_COLOR", tc.noColor)
		if got := useColour(tc.w); got != tc.want {
			t.Errorf("%s: useColour %v, want %v", tc.name, got, tc.want)
		}
	}
}

// openPTY opens the terminal side of a new pseudo-terminal.
func openPTY(t *testing.T) *os.File {
	t.Helper()
	ptmx, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals: %v", err)
	}
	t.Cleanup(func() { ptmx.Close() })
	if err := unix.IoctlSetPointerInt(int(ptmx.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(ptmx.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	tty, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tty.Close() })
	return tty
}
