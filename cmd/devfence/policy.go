//go:build !nopolicy

package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/devfence/devfence/compiler"
	"github.com/devfence/devfence/internal/pipeline"
	"github.com/devfence/devfence/internal/report"
	"github.com/devfence/devfence/policies"
)

// hasPolicies tells tests which build this is.
const hasPolicies = true

// fullBuildOnly: the full build has every command.
var fullBuildOnly []string

// engine is the policy engine with the report's view of waivers, and
// warnings printed where a command has no report (compile, apply).
type engine struct {
	*policies.Engine
	warn func(compiler.Diagnostics)
}

// check returns a profile's denies, warnings and the waivers it used.
func (e engine) check(ctx context.Context, p *compiler.Profile) (denies, warnings compiler.Diagnostics, waived []report.Waiver, err error) {
	r, err := e.Check(ctx, p)
	if err != nil {
		return nil, nil, nil, err
	}
	for _, w := range r.Waived {
		pos := p.Source.Position(w.Path)
		waived = append(waived, report.Waiver{Policy: w.Policy, Reason: w.Reason, Line: pos.Line, Column: pos.Column})
	}
	return r.Denies, r.Warnings, waived, nil
}

// Denies is what the pipeline asks of a checker; the warn rules' results
// go to stderr, as conftest shows them, and never fail the profile.
func (e engine) Denies(ctx context.Context, p *compiler.Profile) (compiler.Diagnostics, error) {
	r, err := e.Check(ctx, p)
	if err != nil {
		return nil, err
	}
	if len(r.Warnings) > 0 {
		e.warn(r.Warnings)
	}
	return r.Denies, nil
}

// policyEngine builds the engine the flags ask for, once per process: the
// query is prepared here and evaluated per profile. nil with --no-policy.
func policyEngine(c *cli.Context) (*engine, error) {
	if c.Bool("no-policy") {
		fmt.Fprintln(c.App.ErrWriter, "devfence: warning: --no-policy: security policies are not checked, only the profile's structure")
		return nil, nil
	}
	start := time.Now()
	e, err := policies.New(c.Context, policies.Options{Dirs: c.StringSlice("policy")})
	if err != nil {
		return nil, exitWith{code: exitUsage, msg: err.Error()}
	}
	timed(c, start, "policies compiled and query prepared")
	var mu sync.Mutex // compile --out-dir checks profiles concurrently
	return &engine{Engine: e, warn: func(ds compiler.Diagnostics) {
		mu.Lock()
		defer mu.Unlock()
		for _, d := range ds {
			fmt.Fprintln(c.App.ErrWriter, report.WarningLine(d))
		}
	}}, nil
}

func policyChecker(c *cli.Context) (pipeline.Checker, error) {
	e, err := policyEngine(c)
	if e == nil || err != nil {
		return nil, err
	}
	return e, nil
}
