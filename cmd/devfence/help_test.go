package main

import (
	"testing"

	"github.com/devfence/devfence/internal/golden"
)

// TestHelp: the help of the binary and of every command, as
// testdata/help holds it. The goldens were first written by upstream
// urfave/cli's text/template renderer; third_party/urfave-cli renders
// without it and must give the same bytes.
func TestHelp(t *testing.T) {
	app := "testdata/help/app.txt"
	if !hasPolicies {
		app = "testdata/help/app-device.txt" // no schema, no import-mud
	}
	// urfave/cli prefixes each command's HelpName with the app's on every
	// run; the commands outlive a run here, so start each one afresh.
	fresh := func() {
		for _, c := range commands {
			c.HelpName = ""
		}
	}
	for _, args := range [][]string{{"--help"}, {}} {
		fresh()
		code, stdout, stderr := devfence(t, args...)
		if code != exitOK || stderr != "" {
			t.Errorf("devfence %q: exit %d, stderr %q", args, code, stderr)
		}
		golden.Compare(t, app, []byte(stdout))
	}
	for _, c := range commands {
		fresh()
		code, stdout, stderr := devfence(t, c.Name, "--help")
		if code != exitOK || stderr != "" {
			t.Errorf("devfence %s --help: exit %d, stderr %q", c.Name, code, stderr)
		}
		golden.Compare(t, "testdata/help/"+c.Name+".txt", []byte(stdout))
	}
}
