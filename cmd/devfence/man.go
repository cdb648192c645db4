//go:build !nopolicy

package main

import (
	"fmt"
	"io"
	"strings"

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
	_, err := io.WriteString(c.App.Writer, manPage(c.App))
	return err
}

// manPage renders devfence(1) in roff by hand: urfave/cli's ToMan needs
// text/template and go-md2man, which third_party/urfave-cli leaves out to
// keep the device binary small, and it drops the commands' descriptions.
func manPage(app *cli.App) string {
	var b strings.Builder
	b.WriteString(".nh\n.TH devfence 1\n")
	b.WriteString(".SH NAME\n" + roff(app.Name) + " \\- " + roff(app.Usage) + "\n")
	b.WriteString(".SH SYNOPSIS\n\\fBdevfence\\fP [\\fB--version\\fP] \\fICOMMAND\\fP [\\fIFLAGS\\fP] [\\fIARGUMENTS\\fP]\n")
	b.WriteString(".SH DESCRIPTION\n")
	writeText(&b, app.Description)
	for _, c := range app.VisibleCommands() {
		b.WriteString(".SH " + strings.Join(c.Names(), ", ") + "\n")
		b.WriteString("\\fBdevfence " + roff(c.Name) + "\\fP " + roff(c.ArgsUsage) + "\n.PP\n" + roff(c.Usage) + "\n")
		if c.Description != "" {
			b.WriteString(".PP\n")
			writeText(&b, c.Description)
		}
		for _, f := range c.VisibleFlags() {
			var names []string
			for _, n := range f.Names() {
				dash := "--"
				if len(n) == 1 {
					dash = "-"
				}
				names = append(names, "\\fB"+roff(dash+n)+"\\fP")
			}
			usage := ""
			if d, ok := f.(cli.DocGenerationFlag); ok {
				usage = d.GetUsage()
			}
			b.WriteString(".TP\n" + strings.Join(names, ", ") + "\n" + roff(usage) + "\n")
		}
	}
	return b.String()
}

// writeText keeps the line breaks of help text (examples are laid out by
// line) in a no-fill block.
func writeText(b *strings.Builder, text string) {
	b.WriteString(".nf\n")
	for _, line := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
		b.WriteString(roff(line) + "\n")
	}
	b.WriteString(".fi\n")
}

// roff escapes what roff would take as markup: backslashes, and a dot or
// quote at the start of a line.
func roff(s string) string {
	s = strings.ReplaceAll(s, "\\", "\\e")
	s = strings.ReplaceAll(s, "-", "\\-")
	if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "'") {
		s = "\\&" + s
	}
	return s
}
