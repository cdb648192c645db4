// Package pipeline is the runner between the CLI and the engines: load a
// profile, check it against policies, compile it. Every command that takes a
// PROFILE goes through Build, so what compile prints is what apply applies.
package pipeline

import (
	"context"

	"github.com/devfence/devfence/compiler"
	"github.com/devfence/devfence/rules"
)

// Options are the profile-handling flags shared by commands.
type Options struct {
	Load    compiler.LoadOptions
	Compile compiler.Options
	// Policies checks a loaded profile; nil skips policy checks (structural
	// checks always run).
	Policies Checker
	// Resolver, if set, resolves the host names in networks; without it
	// they compile to empty places named in set comments.
	Resolver Resolver
}

// Checker evaluates policies; *policies.Engine implements it.
type Checker interface {
	Denies(ctx context.Context, p *compiler.Profile) (compiler.Diagnostics, error)
}

// Result is a built profile.
type Result struct {
	Profile *compiler.Profile
	Table   *rules.Table
	// Warnings are problems that did not stop the build, such as a host
	// name that did not resolve; commands print them on stderr.
	Warnings []string
}

// Build loads, validates and compiles one profile. A profile that is
// malformed or denied by a policy returns compiler.Diagnostics.
func Build(ctx context.Context, path string, opt Options) (*Result, error) {
	p, err := compiler.Load(path, opt.Load)
	if err != nil {
		return nil, err
	}
	if opt.Policies != nil {
		denies, err := opt.Policies.Denies(ctx, p)
		if err != nil {
			return nil, err
		}
		if len(denies) > 0 {
			return nil, denies
		}
	}
	copt := opt.Compile
	var warnings []string
	if opt.Resolver != nil && len(p.Networks.Hosts()) > 0 {
		copt.Resolved, warnings = Resolve(ctx, p, opt.Resolver)
	}
	// Every check that names a position has run; freeing the YAML tree
	// before compiling keeps it from adding to the compiled table's
	// memory at the peak (apply of a large profile on a device).
	p.Source.Release()
	t, err := compiler.Compile(p, copt)
	if err != nil {
		return nil, err
	}
	return &Result{Profile: p, Table: t, Warnings: warnings}, nil
}
