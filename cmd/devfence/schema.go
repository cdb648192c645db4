//go:build !nopolicy

package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/devfence/devfence/compiler"
)

func init() {
	commands = append(commands, &cli.Command{
		Name:  "schema",
		Usage: "print the JSON Schema of device profiles (or, with --test, of test files), for editors and CI",
		Description: `Prints the JSON Schema (draft 2020-12) of a device profile, generated from
the types devfence loads profiles into: every field with its meaning,
formats, enums and bounds; unknown fields are errors, as in devfence itself.
Checks that need the whole profile (defined networks, unique names, the
policies) are left to "devfence validate".

With --test, the schema of test files (NAME.test.yaml, docs/TESTING.md)
instead; whether their packets parse is left to "devfence test".

Examples:
   devfence schema > devfence-profile.schema.json
   devfence schema --test > devfence-test.schema.json
   # then, on the first line of a profile, for yaml-language-server editors:
   # yaml-language-server: $schema=./devfence-profile.schema.json`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "write to `FILE` instead of standard output (replaced atomically)"},
			&cli.BoolFlag{Name: "test", Usage: "print the schema of test files instead of profiles"},
		},
		Action: schemaAction,
	})
}

func schemaAction(c *cli.Context) error {
	if c.NArg() != 0 {
		return usageError{fmt.Errorf("schema takes no arguments, got %d", c.NArg())}
	}
	gen := compiler.Schema
	if c.Bool("test") {
		gen = compiler.TestSchema
	}
	out, err := gen()
	if err != nil {
		return err
	}
	if path := c.String("output"); path != "" {
		return writeFileAtomic(path, out)
	}
	_, err = c.App.Writer.Write(out)
	return err
}
