package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/devfence/devfence/internal/device"
	"github.com/devfence/devfence/rules"
)

func init() {
	commands = append(commands, &cli.Command{
		Name:      "status",
		Usage:     "show the table in force: consenting peers, quota use, drops",
		ArgsUsage: "[PROFILE]",
		Description: `Reads the live table and reports whether it is in force and, given PROFILE
(compiled as compile does), whether it matches it; the consenting peers with
the time their consent has left; per quota set, each destination's bytes
used of its budget and when its window resets; and what the final drop
rules of input and output counted. An apply --confirm that waits, or was
interrupted, shows too.

Needs CAP_NET_ADMIN (and CAP_SYS_ADMIN with --netns).

Exit status: 0 reported (also when no table is in force); 1 PROFILE is
invalid or denied; 2 usage, privileges or kernel errors.

Examples:
   devfence status
   devfence status --format json examples/baby-monitor.yaml`,
		Flags:  append(append(profileFlags(), netnsFlag(), stateDirFlag()), formatFlags(true)...),
		Action: statusAction,
	})
}

func statusAction(c *cli.Context) error {
	if c.NArg() > 1 {
		return usageError{fmt.Errorf("status takes at most one PROFILE, got %d arguments", c.NArg())}
	}
	format, err := outputFormat(c)
	if err != nil {
		return err
	}
	family, name := "inet", c.String("table")
	var profile *rules.Table
	if c.NArg() == 1 {
		res, err := build(c, c.Args().First())
		if err != nil {
			return err
		}
		profile = res.Table
		family, name = profile.Family, profile.Name
	}
	conn, err := openKernel(c)
	if err != nil {
		return err
	}
	defer conn.Close()
	r, err := device.Status(conn, family, name, profile, c.String("state-dir"))
	if err != nil {
		return kernelError(c, err)
	}
	r.NetNS = c.String("netns")
	if profile != nil {
		r.Profile = c.Args().First()
	}
	if format == formatJSON {
		return printJSON(c, r)
	}
	_, err = fmt.Fprint(c.App.Writer, r.Text())
	return err
}
