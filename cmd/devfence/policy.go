//go:build !nopolicy

package main

import (
	"context"
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/devfence/devfence/compiler"
	"github.com/devfence/devfence/internal/pipeline"
	"github.com/devfence/devfence/internal/report"
	"github.com/devfence/devfence/policies"
)

// hasPolicies tells tests which build this is.
const hasPolicies = true

// engine is the policy engine with the report's view of waivers.
type engine struct{ *policies.Engine }

func (e engine) check(ctx context.Context, p *compiler.Profile) (compiler.Diagnostics, []report.Waiver, error) {
	r, err := e.Check(ctx, p)
	if err != nil {
		return nil, nil, err
	}
	var waived []report.Waiver
	for _, w := range r.Waived {
		pos := p.Source.Position(w.Path)
		waived = append(waived, report.Waiver{Policy: w.Policy, Reason: w.Reason, Line: pos.Line, Column: pos.Column})
	}
	return r.Denies, waived, nil
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
	return &engine{e}, nil
}

func policyChecker(c *cli.Context) (pipeline.Checker, error) {
	e, err := policyEngine(c)
	if e == nil || err != nil {
		return nil, err
	}
	return e, nil
}
