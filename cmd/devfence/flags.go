package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/devfence/devfence/compiler"
	"github.com/devfence/devfence/internal/pipeline"
)

// profileFlags are the flags of every command that reads a profile.
func profileFlags() []cli.Flag {
	return []cli.Flag{
		tableFlag(),
		&cli.Int64Flag{Name: "max-size", Value: compiler.DefaultMaxSize, Usage: "refuse profile files larger than this many `BYTES`"},
		&cli.StringSliceFlag{Name: "policy", Usage: "also apply the Rego policies in `DIR` (repeatable)"},
		&cli.BoolFlag{Name: "no-policy", Usage: "skip policy checks (structural checks still run); prints a warning"},
		&cli.StringFlag{Name: "dns", Usage: "resolve host names in networks only through the DNS server at `ADDR:PORT`, not the hosts file and resolv.conf's servers"},
	}
}

// resolvesAlways names the commands that put a table in force: they must
// resolve host names, while compile shows them unresolved unless --resolve.
var resolvesAlways = map[string]bool{"apply": true, "diff": true, "refresh": true, "status": true}

// pipelineOptions reads profileFlags into pipeline options.
func pipelineOptions(c *cli.Context) (pipeline.Options, error) {
	opt := pipeline.Options{
		Load:    compiler.LoadOptions{MaxSize: c.Int64("max-size")},
		Compile: compiler.Options{Table: c.String("table")},
	}
	checker, err := policyChecker(c)
	if err != nil {
		return opt, err
	}
	opt.Policies = checker
	if c.Bool("resolve") || c.IsSet("dns") || resolvesAlways[c.Command.Name] {
		opt.Resolver = pipeline.DNSResolver(c.String("dns"), c.String("netns"))
	}
	return opt, nil
}

// warn prints build warnings on stderr.
func warn(c *cli.Context, warnings []string) {
	for _, w := range warnings {
		fmt.Fprintln(c.App.ErrWriter, "devfence: warning: "+w)
	}
}
