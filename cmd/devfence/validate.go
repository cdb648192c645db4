package main

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/devfence/devfence/compiler"
	"github.com/devfence/devfence/internal/report"
)

func init() {
	commands = append(commands, &cli.Command{
		Name:      "validate",
		Usage:     "check profiles against the structural rules and the security policies",
		ArgsUsage: "PROFILE...",
		Description: `Loads each PROFILE strictly, then evaluates the built-in Rego policies (and
those in every --policy DIR, conftest-style: deny/violation rules fail
the profile, warn rules are reported and do not; Rego v1) against it. A profile's waivers silence the policies they name; the
report lists what was waived. compile and apply run the same checks and
refuse a profile that fails them.

With -q, the text report lists only what failed, without the summary.

Exit status: 0 all pass; 1 a profile is invalid or denied; 2 usage or I/O error.

Examples:
   devfence validate examples/*.yaml
   devfence validate --policy org-policies/ --format json camera.yaml
   devfence validate --no-policy camera.yaml      structural checks only`,
		Flags: append(profileFlags(),
			&cli.StringFlag{Name: "format", Value: "text", Usage: "output `FORMAT`: " + strings.Join(report.Names(), " or ")},
		),
		Action: validateAction,
	})
}

func validateAction(c *cli.Context) error {
	if c.NArg() == 0 {
		return usageError{errors.New("validate needs at least one PROFILE")}
	}
	format, err := report.Lookup(c.String("format"))
	if err != nil {
		return usageError{err}
	}
	if quiet, _ := verbosity(c); quiet && c.String("format") == "text" {
		format = report.Failures
	}
	checker, err := policyEngine(c)
	if err != nil {
		return err
	}
	var results []report.Result
	ioFailure := false
	for _, path := range c.Args().Slice() {
		r := report.Result{File: path}
		start := time.Now()
		p, err := compiler.Load(path, compiler.LoadOptions{MaxSize: c.Int64("max-size")})
		var diags compiler.Diagnostics
		switch {
		case errors.As(err, &diags):
			r.Denies = diags
		case err != nil:
			r.Error = err.Error()
			ioFailure = true
		case checker != nil:
			denies, warnings, waived, err := checker.check(c.Context, p)
			if err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			r.Denies, r.Warnings, r.Waived = denies, warnings, waived
		}
		r.Passed = r.Error == "" && len(r.Denies) == 0
		timed(c, start, "%s: loaded and checked", path)
		results = append(results, r)
	}
	if err := format(c.App.Writer, results); err != nil {
		return err
	}
	if ioFailure {
		return exitWith{code: exitUsage}
	}
	for _, r := range results {
		if !r.Passed {
			return exitWith{code: exitProfile}
		}
	}
	return nil
}
