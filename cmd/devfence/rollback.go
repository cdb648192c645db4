package main

import (
	"errors"
	"fmt"
	"time"

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
warning. Rollback goes back one change at most: a second one has nothing to
restore (exit 2). State saved for another namespace or table is refused.

--if-pending only undoes an apply --confirm that was never settled, and
otherwise does nothing (exit 0): the boot-time check, since after a reboot
nothing else would.

Needs CAP_NET_ADMIN (and CAP_SYS_ADMIN with --netns).

Exit status: 0 restored; 2 nothing saved to roll back, usage, privileges or
kernel errors.

Examples:
   devfence rollback
   devfence rollback --netns camera
   devfence rollback --if-pending          (at boot)`,
		Flags: append([]cli.Flag{netnsFlag(), stateDirFlag(), tableFlag(),
			&cli.BoolFlag{Name: "if-pending", Usage: "only undo an unconfirmed apply --confirm; else do nothing"}},
			formatFlags(false)...),
		Action: rollbackAction,
	})
}

func rollbackAction(c *cli.Context) error {
	if c.NArg() > 0 {
		return usageError{errors.New("rollback takes no arguments")}
	}
	format, err := outputFormat(c)
	if err != nil {
		return err
	}
	conn, err := openKernel(c)
	if err != nil {
		return err
	}
	defer conn.Close()
	r, err := device.Rollback(conn, c.String("state-dir"), "inet", c.String("table"),
		device.RollbackOptions{IfPending: c.Bool("if-pending"), Progress: c.App.ErrWriter})
	if err != nil {
		return kernelError(c, err)
	}
	if format == formatJSON {
		out := rollbackResult{Table: "inet " + c.String("table"), NetNS: c.String("netns")}
		if r != nil {
			out.Table, out.RolledBack, out.Removed = r.Table, true, !r.Existed
			out.SavedAt = r.SavedAt.UTC().Format(time.RFC3339)
		}
		return printJSON(c, out)
	}
	if r == nil {
		return nil // --if-pending, and nothing was pending
	}
	// Removing a table that did not exist before is reported by the
	// restore itself; only a put-back table needs saying here.
	if r.Existed {
		fmt.Fprintf(c.App.ErrWriter, "devfence: rolled back table %s to its state before the last apply\n", r.Table)
	}
	return nil
}

// rollbackResult is rollback's JSON (docs/JSON.md).
type rollbackResult struct {
	Table string `json:"table"`
	NetNS string `json:"netns,omitempty"`
	// RolledBack is false only with --if-pending when nothing was pending.
	RolledBack bool `json:"rolled_back"`
	// Removed: there was no table before the apply, so it was removed.
	Removed bool   `json:"removed"`
	SavedAt string `json:"saved_at,omitempty"` // when the restored table was saved, RFC 3339 UTC
}
