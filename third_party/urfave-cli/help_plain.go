package cli

// This file is devfence's, not upstream's (see PATCHED.md): it renders the
// three built-in help templates with plain Go, to the same bytes, so that
// text/template is not linked. text/template looks methods up by name at run
// time, which makes the Go linker keep every exported method of every type
// that can reach an interface; on devfence's device build that alone was
// 1.6 MB of a 6.3 MB binary (linux/arm).

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// helpData is what the built-in templates read from an *App or a *Command.
type helpData struct {
	app                           bool
	helpName, usage, usageText    string
	argsUsage, category           string
	description, copyright        string
	version                       string
	hideVersion, args, hasCommand bool
	authors                       []*Author
	visibleCommands               []*Command
	visibleCategories             []CommandCategory
	visibleFlags                  []Flag
	visibleFlagCategories         []VisibleFlagCategory
}

func helpDataOf(data interface{}) (helpData, bool) {
	switch d := data.(type) {
	case *App:
		return helpData{app: true, helpName: d.HelpName, usage: d.Usage, usageText: d.UsageText, argsUsage: d.ArgsUsage,
			description: d.Description, copyright: d.Copyright, version: d.Version, hideVersion: d.HideVersion,
			args: d.Args, hasCommand: len(d.Commands) > 0, authors: d.Authors, visibleCommands: d.VisibleCommands(),
			visibleCategories: d.VisibleCategories(), visibleFlags: d.VisibleFlags(),
			visibleFlagCategories: d.VisibleFlagCategories()}, true
	case *Command:
		return helpData{helpName: d.HelpName, usage: d.Usage, usageText: d.UsageText, argsUsage: d.ArgsUsage,
			category: d.Category, description: d.Description, args: d.Args, visibleCommands: d.VisibleCommands(),
			visibleCategories: d.VisibleCategories(), visibleFlags: d.VisibleFlags(),
			visibleFlagCategories: d.VisibleFlagCategories()}, true
	}
	return helpData{}, false
}

// printHelpPlain writes the help of AppHelpTemplate, CommandHelpTemplate or
// SubcommandHelpTemplate; any other template is reported, not rendered.
func printHelpPlain(out io.Writer, templ string, data interface{}, wrapAt int) {
	d, ok := helpDataOf(data)
	if !ok || (templ != AppHelpTemplate && templ != CommandHelpTemplate && templ != SubcommandHelpTemplate) {
		_, _ = fmt.Fprintf(ErrWriter, "cli: custom help templates are not supported by this build (no text/template)\n")
		return
	}
	wrap := func(s string, offset int) string { return wrap(s, offset, wrapAt) }
	var b strings.Builder
	b.WriteString("NAME:\n   " + wrap(d.helpName, 3))
	if d.usage != "" {
		b.WriteString(" - " + wrap(d.usage, len(d.helpName)+6))
	}
	b.WriteString("\n\nUSAGE:\n   ")
	switch {
	case d.usageText != "":
		b.WriteString(wrap(d.usageText, 3))
	case d.app:
		b.WriteString(d.helpName + " ")
		if len(d.visibleFlags) > 0 {
			b.WriteString("[global options]")
		}
		if d.hasCommand {
			b.WriteString(" command [command options]")
		}
	default:
		b.WriteString(d.helpName)
		if len(d.visibleFlags) > 0 {
			b.WriteString(" [command options]")
		}
	}
	if d.usageText == "" {
		if d.argsUsage != "" {
			b.WriteString(" " + d.argsUsage)
		} else if d.args {
			b.WriteString(" [arguments...]")
		}
	}
	if d.app && d.version != "" && !d.hideVersion {
		b.WriteString("\n\nVERSION:\n   " + d.version)
	}
	if !d.app && d.category != "" {
		b.WriteString("\n\nCATEGORY:\n   " + d.category)
	}
	if d.description != "" {
		b.WriteString("\n\nDESCRIPTION:\n   " + wrap(d.description, 3))
	}
	if d.app && len(d.authors) > 0 {
		b.WriteString("\n\nAUTHOR")
		if len(d.authors) != 1 {
			b.WriteString("S")
		}
		b.WriteString(":\n   ")
		for i, a := range d.authors {
			if i > 0 {
				b.WriteString("\n   ")
			}
			b.WriteString(a.String())
		}
	}
	if len(d.visibleCommands) > 0 && templ != CommandHelpTemplate {
		b.WriteString("\n\nCOMMANDS:")
		writeCommandCategories(&b, d.visibleCategories, wrap)
	}
	flagsTitle := "\n\nOPTIONS:"
	if d.app {
		flagsTitle = "\n\nGLOBAL OPTIONS:"
	}
	switch {
	case len(d.visibleFlagCategories) > 0:
		b.WriteString(flagsTitle)
		for _, c := range d.visibleFlagCategories {
			b.WriteString("\n   ")
			if c.Name() != "" {
				b.WriteString(c.Name() + "\n\n   ")
			}
			for i, f := range c.Flags() {
				if i == len(c.Flags())-1 {
					b.WriteString(f.String() + "\n")
				} else {
					b.WriteString(f.String() + "\n   ")
				}
			}
		}
	case len(d.visibleFlags) > 0:
		b.WriteString(flagsTitle)
		for _, f := range d.visibleFlags {
			b.WriteString("\n   " + wrap(f.String(), 6))
		}
	}
	if d.app && d.copyright != "" {
		b.WriteString("\n\nCOPYRIGHT:\n   " + wrap(d.copyright, 3))
	}
	b.WriteString("\n")

	w := tabwriter.NewWriter(out, 1, 8, 2, ' ', 0)
	_, _ = io.WriteString(w, b.String())
	_ = w.Flush()
}

// writeCommandCategories is visibleCommandCategoryTemplate.
func writeCommandCategories(b *strings.Builder, cats []CommandCategory, wrap func(string, int) string) {
	for _, c := range cats {
		if c.Name() != "" {
			b.WriteString("\n   " + c.Name() + ":")
			for _, cmd := range c.VisibleCommands() {
				b.WriteString("\n     " + strings.Join(cmd.Names(), ", ") + "\t" + cmd.Usage)
			}
			continue
		}
		cmds := c.VisibleCommands()
		cv := offsetCommands(cmds, 5)
		for _, cmd := range cmds {
			s := strings.Join(cmd.Names(), ", ")
			b.WriteString("\n   " + s + indent(cv-(len(s)+3), "") + wrap(cmd.Usage, cv))
		}
	}
}
