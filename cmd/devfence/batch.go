package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/devfence/devfence/compiler"
	"github.com/devfence/devfence/internal/pipeline"
)

func compileBatch(c *cli.Context) error {
	if c.NArg() == 0 {
		return usageError{errors.New("compile --out-dir needs at least one PROFILE")}
	}
	if c.IsSet("output") {
		return usageError{errors.New("--output and --out-dir exclude each other")}
	}
	opt, err := pipelineOptions(c)
	if err != nil {
		return err
	}
	// A fleet compile is a short-lived batch on a build machine, not a
	// device: trading memory for fewer collections is the right default.
	debug.SetGCPercent(400)
	stderr := c.App.ErrWriter
	quiet, _ := verbosity(c)
	bar := newProgress(stderr, c.NArg(), quiet)
	results, sum, err := pipeline.Batch(c.Context, c.Args().Slice(), c.String("out-dir"), opt, bar.update)
	bar.finish()
	for _, r := range results {
		if r.Err == nil {
			continue
		}
		var diags compiler.Diagnostics
		if errors.As(r.Err, &diags) {
			fmt.Fprintln(stderr, diags.Error())
		} else {
			fmt.Fprintf(stderr, "devfence: %s: %v\n", r.Path, r.Err)
		}
	}
	say(c, info, "%s", sum)
	if err != nil {
		return err
	}
	if sum.Failed > 0 {
		return exitWith{code: exitProfile, msg: fmt.Sprintf("%d of %d profiles failed", sum.Failed, sum.Profiles)}
	}
	return nil
}

// progress draws a bar on a terminal and stays silent otherwise, so logs
// and CI output get only the summary.
type progress struct {
	w     io.Writer
	total int
	on    bool
	last  time.Time
}

func newProgress(w io.Writer, total int, quiet bool) *progress {
	f, ok := w.(*os.File)
	return &progress{w: w, total: total, on: !quiet && ok && term.IsTerminal(int(f.Fd()))}
}

func (p *progress) update(done int) {
	// Redrawing at most ten times a second keeps the bar cheap.
	if !p.on || (done < p.total && time.Since(p.last) < 100*time.Millisecond) {
		return
	}
	p.last = time.Now()
	const width = 40
	n := done * width / p.total
	fmt.Fprintf(p.w, "\r[%s%s] %d/%d", strings.Repeat("=", n), strings.Repeat(" ", width-n), done, p.total)
}

func (p *progress) finish() {
	if p.on {
		fmt.Fprintln(p.w)
	}
}
