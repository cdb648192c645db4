// Command devfence compiles IoT device profiles into one nftables table and
// puts it in force over netlink. This package is wiring only: flags, exit
// codes, and output; the work happens in internal/pipeline, compiler, rules
// and policies.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/devfence/devfence/compiler"
)

// Exit codes, the same for every command.
const (
	exitOK      = 0
	exitProfile = 1 // a profile is invalid or denied by policy; diff: tables differ
	exitUsage   = 2 // bad usage, I/O, privileges, kernel errors
)

// commands is filled by the files that define them (compile.go, apply.go, ...),
// so adding a command touches only its own file.
var commands []*cli.Command

func main() { os.Exit(run(os.Args, os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	app := newApp(stdout, stderr)
	err := app.Run(interspersed(app, args))
	if err == nil {
		return exitOK
	}
	var diags compiler.Diagnostics
	var coder cli.ExitCoder
	switch {
	case errors.As(err, &diags):
		fmt.Fprintln(stderr, diags.Error())
		return exitProfile
	case errors.As(err, &coder):
		if msg := err.Error(); msg != "" {
			fmt.Fprintln(stderr, "devfence: "+msg)
		}
		return coder.ExitCode()
	default:
		fmt.Fprintln(stderr, "devfence: "+err.Error())
		return exitUsage
	}
}

func newApp(stdout, stderr io.Writer) *cli.App {
	cli.VersionFlag = &cli.BoolFlag{Name: "version", Usage: "print the version, commit and build tags"}
	quietUsage(commands)
	withVerbosity(commands)
	return &cli.App{
		Name:    "devfence",
		Version: versionString(),
		Action:  rootAction,
		Usage:   "compile IoT device profiles into an outbound-only, consent-before-bulk nftables table",
		Description: `A device profile (YAML) says what one kind of device may send and receive.
devfence validates it with policies and compiles it into one nftables table
("inet devfence") that lets in only replies and named services, meters every
destination with a byte quota, and lets bulk data flow only to consenting peers.

Examples:
   devfence compile examples/baby-monitor.yaml          print the nft ruleset
   devfence compile -o camera.nft examples/baby-monitor.yaml
   devfence validate examples/*.yaml                    check profiles against policies
   devfence diff examples/baby-monitor.yaml             live table vs profile
   devfence apply --confirm 60s examples/baby-monitor.yaml`,
		Flags:           verbosityFlags(),
		Commands:        commands,
		Writer:          stdout,
		ErrWriter:       stderr,
		HideHelpCommand: true,
		// Errors are printed once, below, with the exit code they map to.
		ExitErrHandler: func(*cli.Context, error) {},
		OnUsageError: func(_ *cli.Context, err error, _ bool) error {
			return usageError{err}
		},
	}
}

type usageError struct{ err error }

func (u usageError) Error() string { return u.err.Error() + " (see --help)" }
func (u usageError) ExitCode() int { return exitUsage }

// exitWith carries an exit code for an error already reported, or for a
// result that is not an error (diff: "tables differ").
type exitWith struct {
	code int
	msg  string
}

func (e exitWith) Error() string { return e.msg }
func (e exitWith) ExitCode() int { return e.code }

// oneProfile returns the command's single PROFILE argument.
func oneProfile(c *cli.Context) (string, error) {
	if c.NArg() != 1 {
		return "", usageError{fmt.Errorf("%s needs exactly one PROFILE, got %d arguments", c.Command.Name, c.NArg())}
	}
	return c.Args().First(), nil
}
