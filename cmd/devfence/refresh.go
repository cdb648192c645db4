package main

import (
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/devfence/devfence/internal/device"
)

func init() {
	commands = append(commands, &cli.Command{
		Name:      "refresh",
		Usage:     "re-resolve the host names in a profile's networks and update only their sets",
		ArgsUsage: "PROFILE",
		Description: `Resolves the host names in PROFILE's networks again (A and AAAA) and
replaces the elements of the sets that hold them, in one transaction: no
reload, and consent and quota state are kept. Nothing is sent when no
address changed. A live table that differs from PROFILE in anything else is
refused; use diff and apply for that. So is a refresh while an
apply --confirm waits for confirmation.

Run it periodically, e.g. with the systemd timer in
examples/systemd/devfence-refresh.timer (docs/DEVICES.md).

Exit status: 0 refreshed or nothing to do; 1 PROFILE is invalid or denied;
2 usage, DNS-independent I/O, privileges or kernel errors, or a table that
needs apply.

Examples:
   devfence refresh /etc/devfence/profile.yaml
   devfence refresh --dns 127.0.0.1:53 --netns dev examples/smart-plug.yaml`,
		Flags:  append(append(profileFlags(), netnsFlag(), stateDirFlag()), formatFlags(false)...),
		Action: refreshAction,
	})
}

func refreshAction(c *cli.Context) error {
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
		return err
	}
	conn, err := openKernel(c)
	if err != nil {
		return err
	}
	defer conn.Close()
	table, err := fitKernel(conn, res.Table)
	if err != nil {
		return kernelError(c, err)
	}
	r, err := device.Refresh(conn, table, c.String("state-dir"))
	if err != nil {
		return kernelError(c, err)
	}
	if format == formatJSON {
		sets := r.Sets
		if sets == nil {
			sets = []string{}
		}
		return printJSON(c, refreshResult{Table: res.Table.Ref(), NetNS: c.String("netns"), Profile: path, Sets: sets})
	}
	if len(r.Sets) == 0 {
		say(c, info, "host addresses unchanged; nothing sent")
		return nil
	}
	say(c, info, "refreshed %s in one transaction", strings.Join(r.Sets, ", "))
	return nil
}

// refreshResult is refresh's JSON (docs/JSON.md).
type refreshResult struct {
	Table   string `json:"table"`
	NetNS   string `json:"netns,omitempty"`
	Profile string `json:"profile"`
	// Sets are the sets whose elements were replaced; empty: nothing sent.
	Sets []string `json:"refreshed_sets"`
}
