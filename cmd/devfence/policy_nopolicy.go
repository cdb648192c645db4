//go:build nopolicy

package main

import (
	"context"
	"errors"

	"github.com/urfave/cli/v2"

	"github.com/devfence/devfence/compiler"
	"github.com/devfence/devfence/internal/pipeline"
	"github.com/devfence/devfence/internal/report"
)

// The device build (-tags nopolicy) leaves OPA out: profiles are checked
// where they are authored, and the device only needs structural checks.

var errNoPolicies = errors.New("this is the device build of devfence (-tags nopolicy): it has no security policies; " +
	"validate profiles with the full build, where they are authored. Structural checks still run in compile and apply")

// hasPolicies tells tests which build this is.
const hasPolicies = false

// fullBuildOnly are the authoring commands the device build leaves out, so
// that asking for one says where it is rather than "unknown command".
var fullBuildOnly = []string{"explain", "import-mud", "man", "schema", "test"}

type engine struct{}

func (engine) check(context.Context, *compiler.Profile) (denies, warnings compiler.Diagnostics, waived []report.Waiver, err error) {
	return nil, nil, nil, errNoPolicies
}

func policyEngine(c *cli.Context) (*engine, error) {
	if c.Command.Name == "validate" {
		return nil, exitWith{code: exitUsage, msg: errNoPolicies.Error()}
	}
	if len(c.StringSlice("policy")) > 0 {
		return nil, usageError{errNoPolicies}
	}
	return nil, nil
}

func policyChecker(c *cli.Context) (pipeline.Checker, error) {
	_, err := policyEngine(c)
	return nil, err
}
