package main

import (
	"fmt"
	"runtime/debug"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"
)

// version and commit are set at link time (-ldflags "-X main.version=1.2.3
// -X main.commit=abc123"); without them, what Go recorded of the module
// and its VCS, or "devel" and "unknown" (GOFLAGS=-buildvcs=false records none).
var version, commit = "", ""

// versionString is what --version prints: version, commit and the build
// tags that change what the binary can do (nopolicy drops OPA).
func versionString() string {
	v, rev, tags, dirty := version, commit, "", false
	if info, ok := debug.ReadBuildInfo(); ok {
		if v == "" && info.Main.Version != "" && info.Main.Version != "(devel)" {
			v = info.Main.Version
		}
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				if rev == "" {
					rev = s.Value[:min(12, len(s.Value))]
				}
			case "vcs.modified":
				dirty = s.Value == "true"
			case "-tags":
				tags = s.Value
			}
		}
	}
	if v == "" {
		v = "devel"
	}
	if rev == "" {
		rev = "unknown"
	}
	if dirty {
		rev += "-dirty"
	}
	if tags == "" {
		tags = "none"
	}
	return fmt.Sprintf("%s (commit %s, build tags: %s)", v, rev, tags)
}

// interspersed moves a command's flags in front of its positional
// arguments, so that `compile PROFILE -o FILE` works as `compile -o FILE
// PROFILE` does: urfave/cli v2 stops parsing flags at the first positional
// argument. Everything after "--" stays positional.
func interspersed(app *cli.App, args []string) []string {
	if len(args) < 2 {
		return args
	}
	// Global flags come before the command name.
	i := 1
	for i < len(args) && strings.HasPrefix(args[i], "-") && args[i] != "--" {
		i++
	}
	if i >= len(args) {
		return args
	}
	cmd := app.Command(args[i])
	if cmd == nil {
		return args
	}
	takesValue := map[string]bool{}
	for _, f := range cmd.Flags {
		tv, _ := f.(cli.DocGenerationFlag)
		for _, name := range f.Names() {
			takesValue[name] = tv != nil && tv.TakesValue()
		}
	}
	out := append([]string{}, args[:i+1]...)
	var positional []string
	rest := args[i+1:]
	for j := 0; j < len(rest); j++ {
		a := rest[j]
		if a == "--" {
			positional = append(positional, rest[j:]...)
			break
		}
		if len(a) < 2 || a[0] != '-' {
			positional = append(positional, a)
			continue
		}
		out = append(out, a)
		name := strings.TrimLeft(a, "-")
		if strings.Contains(name, "=") {
			continue
		}
		if takesValue[name] && j+1 < len(rest) {
			j++
			out = append(out, rest[j])
		}
	}
	return append(out, positional...)
}

// quietUsage makes a usage error one line on stderr: urfave/cli would print
// the command's whole help on stdout, which a pipeline such as
// `devfence compile ... | nft -f -` would then read as input.
func quietUsage(cmds []*cli.Command) {
	for _, c := range cmds {
		c.OnUsageError = func(_ *cli.Context, err error, _ bool) error {
			return usageError{err}
		}
		quietUsage(c.Subcommands)
	}
}

// rootAction runs when no command matched: with an argument it is an
// unknown command (a usage error), without one it shows the help.
func rootAction(c *cli.Context) error {
	if name := c.Args().First(); slices.Contains(fullBuildOnly, name) {
		return usageError{fmt.Errorf("%s is an authoring command: this device build of devfence (-tags nopolicy) leaves it out; run it with the full build, where profiles are authored", name)}
	} else if name != "" {
		return usageError{fmt.Errorf("unknown command %q", name)}
	}
	return cli.ShowAppHelp(c)
}
