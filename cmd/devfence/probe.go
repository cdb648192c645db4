package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/devfence/devfence/rules"
)

func init() {
	commands = append(commands, &cli.Command{
		Name:  "probe",
		Usage: "show which nftables features the kernel has, as devfence uses them",
		Description: `Tries every kind of expression and set devfence may emit (payload bases
including the inner header, ct state, direction, status and mark, set
updates with quota and limit, fib, limit, log group, interval and timeout
sets) and prints, per feature, whether the kernel has it. Each try is a
table of its own with a unique name, created and deleted in the same
transaction: no table is left behind and devfence's table, if any, is not
touched.

apply, diff and status run the same probe and fit the compiled table to the
kernel: where the inner header (@ih) is missing (Linux 5.10, for one),
clear-to-send is matched on the transport header (@th) at each possible
TCP data offset; where something else is missing, apply refuses before
changing anything, naming the profile entry, the kernel and the feature.

Needs CAP_NET_ADMIN (and CAP_SYS_ADMIN with --netns).

Exit status: 0 probed (also when features are missing); 2 usage,
privileges or kernel errors.

Examples:
   devfence probe
   devfence probe --netns camera --format json`,
		Flags: []cli.Flag{netnsFlag(),
			&cli.StringFlag{Name: "format", Value: "text", Usage: "print `FORMAT`: text (a table) or json"},
		},
		Action: probeAction,
	})
}

// probeKernel is how the CLI learns what the kernel has; tests replace it
// to simulate a kernel without a feature.
var probeKernel = func(conn kernelConn) (*rules.Kernel, error) { return conn.Probe() }

func probeAction(c *cli.Context) error {
	if c.NArg() > 0 {
		return usageError{errors.New("probe takes no arguments")}
	}
	format := c.String("format")
	if format != "text" && format != "json" {
		return usageError{fmt.Errorf("--format %q: use text or json", format)}
	}
	conn, err := openKernel(c)
	if err != nil {
		return err
	}
	defer conn.Close()
	k, err := probeKernel(conn)
	if err != nil {
		return kernelError(c, err)
	}
	if format == "json" {
		type row struct {
			Feature   rules.Feature `json:"feature"`
			Available bool          `json:"available"`
			What      string        `json:"what"`
			Note      string        `json:"note,omitempty"`
		}
		out := struct {
			Kernel   string `json:"kernel"`
			Features []row  `json:"features"`
		}{Kernel: k.Release}
		for _, f := range rules.Features {
			out.Features = append(out.Features, row{f.Feature, k.Has[f.Feature], f.What, k.Notes[f.Feature]})
		}
		enc := json.NewEncoder(c.App.Writer)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	w := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "FEATURE\tAVAILABLE\tKERNEL\tWHAT")
	for _, f := range rules.Features {
		yes := "no"
		if k.Has[f.Feature] {
			yes = "yes"
		}
		what := f.What
		if n := k.Notes[f.Feature]; n != "" {
			what += " (" + n + ")"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", f.Feature, yes, k.Release, what)
	}
	return w.Flush()
}

// fitKernel probes the kernel behind conn and lowers t to what it has
// (rules.Lower): the table apply sends, and diff and status compare, is
// the one this kernel can hold. What it cannot hold in any form is an
// error before anything is sent.
func fitKernel(conn kernelConn, t *rules.Table) (*rules.Table, error) {
	k, err := probeKernel(conn)
	if err != nil {
		return nil, err
	}
	return rules.Lower(t, k)
}
