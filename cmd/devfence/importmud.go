//go:build !nopolicy

package main

import (
	"flag"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/devfence/devfence/compiler"
	"github.com/devfence/devfence/compiler/mud"
)

func init() {
	commands = append(commands, &cli.Command{
		Name:      "import-mud",
		Usage:     "convert an RFC 8520 MUD file into a devfence profile",
		ArgsUsage: "FILE.json",
		Description: `Reads a Manufacturer Usage Description (ietf-mud:mud plus
ietf-access-control-list:acls) and writes a profile in YAML: device-initiated
ACEs become egress.allow rules, peer-initiated ones inbound.services. DNS
names and MUD classes (local-networks, controller, my-controller,
same-manufacturer, manufacturer, model) become named networks; give their
addresses with --bind or edit the result. Everything that does not map is
listed in a comment at the top of the output and on stderr, never dropped.
An ACE that breaks RFC 8519/8520 is skipped with a warning naming its
file:line:col and JSON path, and the rest is imported. The last line on
stderr counts ACEs in, rules out and ACEs not imported, by reason.
With --strict, anything not imported or skipped, or a network left without
addresses, is an error: nothing is written.

--format json prints, on stdout, one object: what was imported (the
profile's YAML, unless -o wrote it to a file) and what was not (docs/JSON.md).

Exit status: 0 imported; 1 the MUD file cannot be read as one (bad JSON,
no ietf-mud:mud, ACLs written inside the policies), or --strict and not
everything was imported; 2 usage or I/O error.

Examples:
   devfence import-mud lightbulb.json > lightbulb.yaml
   devfence import-mud --bind local-networks=192.168.1.0/24,fd00:1::/64 \
       --bind my-controller=192.168.1.2 -o bulb.yaml lightbulb.json
   devfence validate bulb.yaml`,
		Flags: []cli.Flag{
			&listFlag{GenericFlag: cli.GenericFlag{Name: "bind", Value: &wholeValues{}, Usage: "give network `NAME=CIDR[,CIDR...]` its addresses (repeatable)"}},
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "write the profile to `FILE` instead of standard output"},
			&cli.BoolFlag{Name: "strict", Usage: "fail (exit 1, write nothing) if anything is not imported or a network is left empty"},
			&cli.StringFlag{Name: "format", Value: formatText, Usage: "`FORMAT` of the report: text (YAML on stdout, report on stderr) or json (docs/JSON.md)"},
		},
		Action: importMUDAction,
	})
}

func importMUDAction(c *cli.Context) error {
	path, err := oneProfile(c)
	if err != nil {
		return err
	}
	format, err := outputFormat(c)
	if err != nil {
		return err
	}
	binds := map[string][]string{}
	for _, b := range listValues(c, "bind") {
		name, cidrs, err := mud.ParseBind(b)
		if err != nil {
			return usageError{err}
		}
		binds[name] = append(binds[name], cidrs...)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	start := time.Now()
	res, err := mud.Convert(data, mud.Options{Binds: binds, Source: path})
	if err != nil {
		return exitWith{code: exitProfile, msg: err.Error()}
	}
	timed(c, start, "%s: converted %d bytes of MUD", path, len(data))
	// Input the import had to work around is a warning, which -q keeps.
	var warnings []string
	for _, e := range append(slices.Clone(res.Skipped), res.Warnings...) {
		warnings = append(warnings, e.Error())
	}
	warn(c, warnings)
	if format == formatJSON {
		return importMUDJSON(c, path, res)
	}
	// These lists are also comments at the top of the profile, so -q loses
	// nothing that the output does not keep.
	for _, u := range res.Unmapped {
		say(c, info, "%s: not imported: %s", path, u)
	}
	for _, n := range res.Notes {
		say(c, info, "%s: note: %s", path, n)
	}
	if len(res.Unbound) > 0 {
		say(c, info, "%s: networks left empty, give them with --bind NAME=CIDR: %v", path, res.Unbound)
	}
	say(c, info, "%s: %s", path, reportLine(res.Report))
	if err := strictFailure(c, path, res); err != nil {
		return err
	}
	if out := c.String("output"); out != "" {
		return writeFileAtomic(out, res.YAML)
	}
	_, err = c.App.Writer.Write(res.YAML)
	return err
}

// strictFailure is --strict's refusal: anything not imported, skipped as
// defective, or a network left empty.
func strictFailure(c *cli.Context, path string, res *mud.Result) error {
	if !c.Bool("strict") || len(res.Unmapped)+len(res.Skipped)+len(res.Unbound) == 0 {
		return nil
	}
	return exitWith{code: exitProfile, msg: fmt.Sprintf("%s: --strict: %d not imported, %d skipped as defective, %d networks left empty; nothing written",
		path, len(res.Unmapped), len(res.Skipped), len(res.Unbound))}
}

// reportLine is the report in one line: what the ACEs became.
func reportLine(r mud.Report) string {
	byReason := map[string]int{}
	for _, o := range r.NotImported {
		byReason[o.Reason]++
	}
	var parts []string
	for _, reason := range slices.Sorted(maps.Keys(byReason)) {
		parts = append(parts, fmt.Sprintf("%d %s", byReason[reason], reason))
	}
	line := fmt.Sprintf("%d ACEs in, %d rules out, %d replies, %d DHCP (essentials), %d drops, %d ACEs not imported",
		r.ACEs, r.Rules, r.Replies, r.Essentials, r.Drops, len(r.NotImported))
	if len(parts) > 0 {
		line += " (" + strings.Join(parts, ", ") + ")"
	}
	return line
}

// importReport is import-mud's JSON (docs/JSON.md).
type importReport struct {
	Source string `json:"source"`
	// Written: the profile went to Output, or is in Profile; false with
	// --strict when something was not imported.
	Written     bool                  `json:"written"`
	Output      string                `json:"output,omitempty"`
	Profile     string                `json:"profile,omitempty"` // the YAML, when there is no -o
	NotImported []string              `json:"not_imported"`
	Unbound     []string              `json:"unbound_networks"`
	Notes       []string              `json:"notes"`
	Skipped     []compiler.Diagnostic `json:"skipped"`
	Warnings    []compiler.Diagnostic `json:"warnings"`
	Report      aceReport             `json:"report"`
}

// aceReport is what became of the file's ACEs (mud.Report).
type aceReport struct {
	ACEsIn      int         `json:"aces_in"`
	RulesOut    int         `json:"rules_out"`
	Replies     int         `json:"replies"`
	Essentials  int         `json:"essentials"`
	Drops       int         `json:"drops"`
	NotImported []aceReason `json:"aces_not_imported"`
}

type aceReason struct {
	ACE    string `json:"ace"`
	Name   string `json:"name"`
	Reason string `json:"reason"`
}

func diagnostics(errs []*mud.Error) []compiler.Diagnostic {
	d := []compiler.Diagnostic{}
	for _, e := range errs {
		d = append(d, compiler.Diagnostic{File: e.File, Line: e.Line, Column: e.Column, Path: e.Path, Message: e.Message})
	}
	return d
}

// importMUDJSON prints the report; the exit status and what is written
// are as with text.
func importMUDJSON(c *cli.Context, path string, res *mud.Result) error {
	r := importReport{Source: path, NotImported: res.Unmapped, Unbound: res.Unbound, Notes: res.Notes,
		Skipped: diagnostics(res.Skipped), Warnings: diagnostics(res.Warnings),
		Report: aceReport{ACEsIn: res.Report.ACEs, RulesOut: res.Report.Rules, Replies: res.Report.Replies,
			Essentials: res.Report.Essentials, Drops: res.Report.Drops, NotImported: []aceReason{}}}
	for _, o := range res.Report.NotImported {
		r.Report.NotImported = append(r.Report.NotImported, aceReason{ACE: o.Path, Name: o.Name, Reason: o.Reason})
	}
	for _, l := range []*[]string{&r.NotImported, &r.Unbound, &r.Notes} {
		if *l == nil {
			*l = []string{}
		}
	}
	fail := strictFailure(c, path, res)
	switch out := c.String("output"); {
	case fail != nil:
	case out != "":
		if err := writeFileAtomic(out, res.YAML); err != nil {
			return err
		}
		r.Written, r.Output = true, out
	default:
		r.Written, r.Profile = true, string(res.YAML)
	}
	if err := printJSON(c, r); err != nil {
		return err
	}
	return fail
}

// listFlag is a repeatable flag whose values are kept whole:
// cli.StringSliceFlag would split "--bind lan=10.0.0.0/8,fd00::/64" at the
// comma, which belongs to the value.
type listFlag struct{ cli.GenericFlag }

// Apply gives each parse its own list: the flag definition is shared by
// every run of the app (tests run many), so its Value must stay empty.
func (f *listFlag) Apply(set *flag.FlagSet) error {
	v := &wholeValues{}
	for _, name := range f.Names() {
		set.Var(v, name, f.Usage)
	}
	return nil
}

// IsSliceFlag tells help and completion that the flag repeats.
func (f *listFlag) IsSliceFlag() bool { return true }

type wholeValues []string

func (w *wholeValues) Set(s string) error { *w = append(*w, s); return nil }
func (w *wholeValues) String() string     { return strings.Join(*w, " ") }

// listValues returns the values given to a listFlag, in order.
func listValues(c *cli.Context, name string) []string {
	if v, ok := c.Generic(name).(*wholeValues); ok {
		return *v
	}
	return nil
}
