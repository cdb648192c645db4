package main

import (
	"errors"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/devfence/devfence/internal/device"
)

func init() {
	commands = append(commands, &cli.Command{
		Name:  "rollback",
		Usage: "put back the table that was in force before the last apply",
		Description: `Restores, at once and over netlink, the table saved in --state-dir: the one
a waiting or interrupted apply --confirm replaced, or else the one the last
apply replaced. If there was no table before, the table is removed. Only
that table is touched. Dynamic state (consent, quota use) starts afresh, and
rules that devfence could not decode (added by hand) are left out, with a
warning. A rollback is not itself undone by another rollback.

Needs CAP_NET_ADMIN (and CAP_SYS_ADMIN with --netns).

Exit status: 0 restored; 2 nothing saved to roll back, usage, privileges or
kernel errors.

Examples:
   devfence rollback
   devfence rollback --netns camera --state-dir /var/lib/devfence-camera`,
		Flags:  []cli.Flag{netnsFlag(), stateDirFlag()},
		Action: rollbackAction,
	})
}

func rollbackAction(c *cli.Context) error {
	if c.NArg() > 0 {
		return usageError{errors.New("rollback takes no arguments")}
	}
	conn, err := openKernel(c)
	if err != nil {
		return err
	}
	defer conn.Close()
	r, err := device.Rollback(conn, c.String("state-dir"), c.App.ErrWriter)
	if err != nil {
		return kernelError(c, err)
	}
	// Removing a table that did not exist before is reported by the
	// restore itself; only a put-back table needs saying here.
	if r.Existed {
		fmt.Fprintf(c.App.ErrWriter, "devfence: rolled back table %s to its state before the last apply\n", r.Table)
	}
	return nil
}
