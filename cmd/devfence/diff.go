package main

import (
	"errors"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/devfence/devfence/compiler"
	"github.com/devfence/devfence/internal/device"
	"github.com/devfence/devfence/rules"
	"github.com/devfence/devfence/rules/netlink"
)

func init() {
	commands = append(commands, &cli.Command{
		Name:      "diff",
		Usage:     "show how the live table differs from the profile's",
		ArgsUsage: "PROFILE",
		Description: `Compiles PROFILE as compile does, reads the live table over netlink (no nft
binary needed) and prints a unified diff of the two as nft text: lines of
the live table with -, of the profile with +. Rules added by hand show up
too; what devfence cannot decode is shown as the kernel's expressions in
brackets. With no table in force, every line is an addition. Dynamic sets'
elements (consent, quota use) are state, not configuration, and never
differ; see devfence status for them.

Needs CAP_NET_ADMIN (and CAP_SYS_ADMIN with --netns).

--format json prints one object: the table, whether it is in force and
differs, the plan's counts and the diff text (docs/JSON.md).

Exit status: 0 the live table matches; 1 it differs (diff on stdout);
2 the profile is invalid or denied (diagnostics on stderr), usage,
privileges or kernel errors.

Examples:
   devfence diff examples/baby-monitor.yaml
   devfence diff --netns camera camera.yaml || devfence apply --netns camera camera.yaml`,
		Flags:  append(append(profileFlags(), netnsFlag()), formatFlags(false)...),
		Action: diffAction,
	})
}

func diffAction(c *cli.Context) error {
	path, err := oneProfile(c)
	if err != nil {
		return err
	}
	format, err := outputFormat(c)
	if err != nil {
		return err
	}
	res, err := build(c, path)
	if err != nil {
		// 1 means "differs" here, so a bad profile is trouble (2), as in diff(1).
		var diags compiler.Diagnostics
		if errors.As(err, &diags) {
			fmt.Fprintln(c.App.ErrWriter, diags.Error())
			return exitWith{code: exitUsage}
		}
		return err
	}
	conn, err := openKernel(c)
	if err != nil {
		return err
	}
	defer conn.Close()
	t, err := fitKernel(conn, res.Table)
	if err != nil {
		return kernelError(c, err)
	}
	d, err := readDiff(c, conn, t, path)
	if err != nil {
		return err
	}
	return printDiff(c, format, d, false)
}

// diffResult is what diff and apply --dry-run print (docs/JSON.md).
type diffResult struct {
	Table   string      `json:"table"`
	NetNS   string      `json:"netns,omitempty"`
	Profile string      `json:"profile"`
	InForce bool        `json:"in_force"`
	Differs bool        `json:"differs"`
	Plan    device.Plan `json:"plan"`
	Diff    string      `json:"diff"`
}

// tableReader reads a live table: a kernel connection, or apply's
// prefetched one.
type tableReader interface {
	Read(family, name string) (*rules.Table, error)
}

// readDiff compares the live table with the compiled one; it only reads.
func readDiff(c *cli.Context, k tableReader, t *rules.Table, path string) (diffResult, error) {
	r := diffResult{Table: t.Ref(), NetNS: c.String("netns"), Profile: path, InForce: true}
	live, err := k.Read(t.Family, t.Name)
	liveLabel := "live table " + t.Ref()
	if ns := c.String("netns"); ns != "" {
		liveLabel += " (netns " + ns + ")"
	}
	switch {
	case errors.Is(err, netlink.ErrNoTable):
		live, liveLabel, r.InForce = nil, liveLabel+" (none)", false
	case err != nil:
		return r, kernelError(c, fmt.Errorf("read table %s: %w", t.Ref(), err))
	}
	r.Diff = device.Diff(live, t, liveLabel, "profile "+path)
	r.Differs = r.Diff != ""
	r.Plan = device.PlanChange(live, t)
	return r, nil
}

// printDiff prints a diffResult and ends with diff's exit status: 0 the
// same, 1 it differs. withSummary adds the plan's summary line to the text.
func printDiff(c *cli.Context, format string, d diffResult, withSummary bool) error {
	var err error
	switch {
	case format == formatJSON:
		err = printJSON(c, d)
	case withSummary && !d.Differs:
		_, err = fmt.Fprintln(c.App.Writer, "no change: the live table already matches the profile")
	default:
		out := d.Diff
		if withSummary {
			out += "plan: " + d.Plan.String() + "\n"
		}
		_, err = fmt.Fprint(c.App.Writer, colourDiff(c.App.Writer, out))
	}
	if err != nil || !d.Differs {
		return err
	}
	return exitWith{code: exitProfile}
}
