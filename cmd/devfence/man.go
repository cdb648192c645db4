//go:build !nopolicy

package main

import (
	"fmt"
	"io"

	"github.com/urfave/cli/v2"
)

// The man page is generated from the command definitions, so it cannot
// drift from --help. The command lives in the full build only: the device
// build must not grow for it, and packages are made on a build host, which
// runs the full build to write the page (packaging/mkpkg).

func init() {
	commands = append(commands, &cli.Command{
		Name:   "man",
		Usage:  "print the devfence(1) manual page (roff) from the command definitions",
		Hidden: true, // a packaging aid, not an operator's command
		Description: `Prints the manual page in roff, for man(1):

   devfence man | gzip -9n > /usr/share/man/man1/devfence.1.gz
   devfence man | man -l -`,
		Action: manAction,
	})
}

func manAction(c *cli.Context) error {
	if c.NArg() != 0 {
		return usageError{fmt.Errorf("man takes no arguments, got %q", c.Args().First())}
	}
	page, err := c.App.ToManWithSection(1)
	if err != nil {
		return fmt.Errorf("render man page: %w", err)
	}
	_, err = io.WriteString(c.App.Writer, page)
	return err
}
