package main

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/urfave/cli/v2"
)

// -q and -v are global: accepted before the command and after it, so every
// command carries them too (interspersed moves a command's flags only).
// Informational lines go through say, so the two flags act in one place.
// Errors and warnings never do: -q must not hide why something failed or
// that a safety check was skipped.

// Levels of say.
const (
	info   = iota // progress and results: shown unless -q
	detail        // timings and steps: shown only with -v
)

func verbosityFlags() []cli.Flag {
	return []cli.Flag{
		&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print only errors and warnings on stderr"},
		&cli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Usage: "also print details, such as how long each step took"},
	}
}

var addVerbosity sync.Once

// withVerbosity gives every command the -q and -v flags, once per process
// (tests build many apps from the same command definitions).
func withVerbosity(cmds []*cli.Command) {
	addVerbosity.Do(func() {
		for _, c := range cmds {
			c.Flags = append(c.Flags, verbosityFlags()...)
			before := c.Before
			c.Before = func(c *cli.Context) error {
				if q, v := verbosity(c); q && v {
					return usageError{errors.New("-q and -v exclude each other")}
				}
				if before != nil {
					return before(c)
				}
				return nil
			}
		}
	})
}

// verbosity reads -q and -v wherever they were given: before the command,
// after it, or both.
func verbosity(c *cli.Context) (quiet, verbose bool) {
	for _, x := range c.Lineage() {
		if x.Command == nil && x.App == nil {
			continue
		}
		quiet = quiet || x.Bool("quiet")
		verbose = verbose || x.Bool("verbose")
	}
	return quiet, verbose
}

// say prints one informational line on stderr at level info or detail.
func say(c *cli.Context, level int, format string, args ...any) {
	quiet, verbose := verbosity(c)
	if (level == info && quiet) || (level == detail && !verbose) {
		return
	}
	fmt.Fprintf(c.App.ErrWriter, "devfence: "+format+"\n", args...)
}

// timed says, with -v, how long a step took since start.
func timed(c *cli.Context, start time.Time, step string, args ...any) {
	say(c, detail, "%s in %s", fmt.Sprintf(step, args...), time.Since(start).Round(10*time.Microsecond))
}
