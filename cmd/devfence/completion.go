package main

import (
	_ "embed"
	"fmt"
	"io"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/devfence/devfence/internal/report"
	"github.com/devfence/devfence/internal/sortby"
)

// Shell completion. urfave/cli's own scripts ask the binary for candidates
// at every <TAB> (--generate-bash-completion, which needs
// EnableBashCompletion on the app) and lean on the bash-completion
// package; on a small device neither is a given. These scripts are written
// by hand and filled, when printed, with the commands and flags of this very
// binary, so they never go stale and never run devfence while completing.

//go:embed completion.bash
var bashCompletion string

//go:embed completion.zsh
var zshCompletion string

var completionShells = []string{"bash", "zsh"}

func init() {
	commands = append(commands, &cli.Command{
		Name:      "completion",
		Usage:     "print a shell completion script (bash or zsh)",
		ArgsUsage: "bash|zsh",
		Description: `Prints a completion script for devfence's commands, flags and profile
files. Load it now, or install it for every shell:

   source <(devfence completion bash)
   devfence completion bash > /etc/bash_completion.d/devfence
   devfence completion zsh > "${fpath[1]}/_devfence"     # then: compinit`,
		Action: completionAction,
	})
}

func completionAction(c *cli.Context) error {
	if c.NArg() != 1 {
		return usageError{fmt.Errorf("completion needs one shell (%s), got %d arguments", strings.Join(completionShells, " or "), c.NArg())}
	}
	var script func(complApp) string
	switch shell := c.Args().First(); shell {
	case "bash":
		script = bashScript
	case "zsh":
		script = zshScript
	default:
		return usageError{fmt.Errorf("no completion for shell %q; use %s", shell, strings.Join(completionShells, " or "))}
	}
	_, err := io.WriteString(c.App.Writer, script(completionModel(c.App)))
	return err
}

// The scripts are filled by marker, not with text/template: that package
// makes the linker keep every exported method of the binary's types (it
// calls methods by name), with urfave/cli's templates 1.6 MB of the device build.

// bashScript fills completion.bash: @NAME@ the binary, @TOPWORDS@ the
// words after it, @CASES@ one case arm per command, @SHELLS@ the shells.
func bashScript(m complApp) string {
	var top, cases strings.Builder
	for _, c := range m.Commands {
		top.WriteString(c.Name + " ")
	}
	for _, f := range m.Global {
		top.WriteString(strings.Join(f.Names, " ") + " ")
	}
	for _, c := range m.Commands {
		cases.WriteString("\n\t" + c.Name + ")\n\t\tflags=\"")
		for _, f := range c.Flags {
			cases.WriteString(strings.Join(f.Names, " ") + " ")
		}
		cases.WriteString("\"\n\t\targs=\"" + c.Args + "\"\n\t\tcase $prev in")
		for _, f := range c.Flags {
			if f.Value == "" {
				continue
			}
			var action string
			switch f.Value {
			case "file":
				action = "_" + m.Name + "_files"
			case "dir":
				action = "_" + m.Name + "_dirs"
			case "words":
				action = `COMPREPLY=($(compgen -W "` + strings.Join(f.Words, " ") + `" -- "$cur"))`
			default:
				action = ": # a value of the user's"
			}
			cases.WriteString("\n\t\t" + strings.Join(f.Names, "|") + ")\n\t\t\t" + action + "\n\t\t\treturn\n\t\t\t;;")
		}
		cases.WriteString("\n\t\tesac\n\t\t;;")
	}
	return strings.NewReplacer("@TOPWORDS@", top.String(), "@CASES@", cases.String(),
		"@SHELLS@", strings.Join(m.Shells, " "), "@NAME@", m.Name).Replace(bashCompletion)
}

// zshScript fills completion.zsh: @NAME@ the binary, @COMMANDS@ the
// commands with their usage, @GLOBAL@ the global flags' specs, @CASES@ one
// _arguments call per command.
func zshScript(m complApp) string {
	var cmds, global, cases strings.Builder
	for _, c := range m.Commands {
		cmds.WriteString("\n\t\t'" + zshText(c.Name) + ":" + zshText(c.Usage) + "'")
	}
	for _, f := range m.Global {
		global.WriteString("\n\t\t" + zshFlag(f) + " \\")
	}
	for _, c := range m.Commands {
		cases.WriteString("\n\t\t" + c.Name + ")\n\t\t\t_arguments")
		for _, spec := range zshSpecs(c) {
			cases.WriteString(" \\\n\t\t\t\t" + spec)
		}
		cases.WriteString("\n\t\t\t;;")
	}
	return strings.NewReplacer("@COMMANDS@", cmds.String(), "@GLOBAL@", global.String(), "@CASES@", cases.String(),
		"@NAME@", m.Name).Replace(zshCompletion)
}

// complApp is what the scripts know about the binary.
type complApp struct {
	Name     string
	Global   []complFlag
	Commands []complCommand
	Shells   []string
}

type complCommand struct {
	Name  string
	Usage string
	Flags []complFlag
	// Args is what the positional arguments are: "profile" (YAML files),
	// "file", "shell", or "" for none.
	Args string
}

type complFlag struct {
	Names []string // with dashes: "--output", "-o"
	Usage string
	// Value is what follows the flag: "" (a switch), "file", "dir",
	// "words" (one of Words) or "any".
	Value  string
	Words  []string
	Repeat bool // the flag may be given more than once
}

// flagWords are the flag values known ahead, by command and flag name.
var flagWords = map[string]map[string][]string{
	"compile":  {"format": {"nft", "json"}},
	"validate": {"format": report.Names()},
}

func completionModel(app *cli.App) complApp {
	m := complApp{Name: app.Name, Global: complFlags("", app.VisibleFlags()), Shells: completionShells}
	for _, c := range app.VisibleCommands() {
		cc := complCommand{Name: c.Name, Usage: c.Usage, Flags: complFlags(c.Name, c.VisibleFlags())}
		switch {
		case c.Name == "completion":
			cc.Args = "shell"
		case strings.Contains(c.ArgsUsage, "PROFILE"):
			cc.Args = "profile"
		case strings.Contains(c.ArgsUsage, "FILE"):
			cc.Args = "file"
		}
		m.Commands = append(m.Commands, cc)
		for _, alias := range c.Aliases {
			a := cc
			a.Name = alias
			m.Commands = append(m.Commands, a)
		}
	}
	sortby.Func(m.Commands, func(a, b complCommand) int { return strings.Compare(a.Name, b.Name) })
	return m
}

func complFlags(cmd string, flags []cli.Flag) []complFlag {
	var out []complFlag
	for _, f := range flags {
		cf := complFlag{}
		for _, n := range f.Names() {
			if len(n) == 1 {
				cf.Names = append(cf.Names, "-"+n)
			} else {
				cf.Names = append(cf.Names, "--"+n)
			}
		}
		if d, ok := f.(cli.DocGenerationFlag); ok && d.TakesValue() {
			cf.Usage = d.GetUsage()
			cf.Value = "any"
			switch placeholder(cf.Usage) {
			case "FILE":
				cf.Value = "file"
			case "DIR":
				cf.Value = "dir"
			}
			if words, ok := flagWords[cmd][f.Names()[0]]; ok {
				cf.Value, cf.Words = "words", words
			}
		} else if d, ok := f.(cli.DocGenerationFlag); ok {
			cf.Usage = d.GetUsage()
		}
		if s, ok := f.(cli.DocGenerationSliceFlag); ok {
			cf.Repeat = s.IsSliceFlag()
		}
		cf.Usage = strings.ReplaceAll(cf.Usage, "`", "")
		out = append(out, cf)
	}
	return out
}

// placeholder is the `NAME` that urfave/cli shows as a flag's value.
func placeholder(usage string) string {
	_, rest, ok := strings.Cut(usage, "`")
	if !ok {
		return ""
	}
	name, _, ok := strings.Cut(rest, "`")
	if !ok {
		return ""
	}
	return name
}

// zshText makes s safe inside a single-quoted zsh _arguments or _describe
// spec: no quote can end the string, no bracket or colon can end the field.
func zshText(s string) string {
	return strings.NewReplacer(`'`, `'\''`, `[`, `(`, `]`, `)`, `:`, `\:`, "\n", " ").Replace(s)
}

// zshFlag is a flag's _arguments spec, e.g.
// '(--output -o)'{--output,-o}'[write to FILE]:FILE:_files'.
func zshFlag(f complFlag) string {
	spec := "[" + zshText(f.Usage) + "]"
	switch f.Value {
	case "file":
		spec += ":file:_files"
	case "dir":
		spec += ":directory:_files -/"
	case "words":
		spec += ":value:(" + zshText(strings.Join(f.Words, " ")) + ")"
	case "any":
		spec += ":value: "
	}
	names := f.Names
	switch {
	case f.Repeat:
		// Repeatable, so neither name excludes the other.
		if len(names) == 1 {
			return "'*" + names[0] + spec + "'"
		}
		return "'*'{" + strings.Join(names, ",") + "}'" + spec + "'"
	case len(names) == 1:
		return "'" + names[0] + spec + "'"
	}
	return "'(" + strings.Join(names, " ") + ")'{" + strings.Join(names, ",") + "}'" + spec + "'"
}

// zshSpecs are the _arguments specs of a command: its flags, then its
// positional arguments.
func zshSpecs(c complCommand) []string {
	var specs []string
	for _, f := range c.Flags {
		specs = append(specs, zshFlag(f))
	}
	switch c.Args {
	case "profile":
		specs = append(specs, `'*:profile:_files -g "*.(yaml|yml)"'`)
	case "file":
		specs = append(specs, `'*:file:_files'`)
	case "shell":
		specs = append(specs, "'1:shell:("+strings.Join(completionShells, " ")+")'")
	}
	return specs
}
