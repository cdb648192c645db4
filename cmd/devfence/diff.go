package main

import (
	"errors"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/devfence/devfence/compiler"
	"github.com/devfence/devfence/internal/device"
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

Exit status: 0 the live table matches; 1 it differs (diff on stdout);
2 the profile is invalid or denied (diagnostics on stderr), usage,
privileges or kernel errors.

Examples:
   devfence diff examples/baby-monitor.yaml
   devfence diff --netns camera camera.yaml || devfence apply --netns camera camera.yaml`,
		Flags:  append(profileFlags(), netnsFlag()),
		Action: diffAction,
	})
}

func diffAction(c *cli.Context) error {
	path, err := oneProfile(c)
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
	live, err := conn.Read(t.Family, t.Name)
	liveLabel := "live table " + t.Ref()
	if ns := c.String("netns"); ns != "" {
		liveLabel += " (netns " + ns + ")"
	}
	switch {
	case errors.Is(err, netlink.ErrNoTable):
		live, liveLabel = nil, liveLabel+" (none)"
	case err != nil:
		return kernelError(c, fmt.Errorf("read table %s: %w", t.Ref(), err))
	}
	d := device.Diff(live, t, liveLabel, "profile "+path)
	if d == "" {
		return nil
	}
	if _, err := fmt.Fprint(c.App.Writer, d); err != nil {
		return err
	}
	return exitWith{code: exitProfile}
}
