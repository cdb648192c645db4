package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/devfence/devfence/compiler"
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

Before the live state, what is in force and why: when the last apply ran,
from which profile file (and its SHA-256), the chains' default policies, and
the profile's device, inbound services, egress rules with their quotas and
log settings. Without PROFILE, the file the last apply recorded is shown if
neither it nor the table has changed since; else status says which did.
--format json prints one object (docs/JSON.md).

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
	var out statusResult
	if c.NArg() == 1 {
		res, err := build(c, c.Args().First())
		if err != nil {
			return err
		}
		profile = res.Table
		family, name = profile.Family, profile.Name
		out.View = newProfileView(c.Args().First(), res.Profile)
	}
	conn, err := openKernel(c)
	if err != nil {
		return err
	}
	defer conn.Close()
	if profile != nil {
		if profile, err = fitKernel(conn, profile); err != nil {
			return kernelError(c, err)
		}
	}
	r, err := device.Status(conn, family, name, profile, c.String("state-dir"))
	if err != nil {
		return kernelError(c, err)
	}
	r.NetNS = c.String("netns")
	if profile != nil {
		r.Profile = c.Args().First()
	}
	out.Report = r
	if out.View == nil {
		out.View, out.ProfileNote = appliedProfile(c, r.Applied)
	}
	if format == formatJSON {
		return printJSON(c, out)
	}
	text := r.HeaderText()
	if out.View != nil {
		text += out.View.Text()
	}
	if out.ProfileNote != "" {
		text += "profile: " + out.ProfileNote + "\n"
	}
	_, err = fmt.Fprint(c.App.Writer, text+r.LiveText())
	return err
}

// statusResult is status's JSON (docs/JSON.md): the report, and the
// profile in force as the operator wrote it.
type statusResult struct {
	*device.Report
	View *profileView `json:"profile_view,omitempty"`
	// ProfileNote says why there is no profile_view although an apply
	// was recorded.
	ProfileNote string `json:"profile_note,omitempty"`
}

// appliedProfile loads the profile the last apply recorded, when the
// table is still the one it put in force and the file is still the one
// it read (same SHA-256); otherwise it says why not.
func appliedProfile(c *cli.Context, a *device.Applied) (*profileView, string) {
	if a == nil || a.Profile == "" {
		return nil, ""
	}
	if !a.InForce {
		return nil, "the table in force is not the one applied from " + a.Profile
	}
	sum, err := fileSHA256(a.Profile)
	if err != nil {
		return nil, fmt.Sprintf("cannot read %s: %v", a.Profile, err)
	}
	if sum != a.ProfileSHA256 {
		return nil, a.Profile + " has changed since it was applied (devfence diff " + a.Profile + ")"
	}
	p, err := compiler.Load(a.Profile, compiler.LoadOptions{MaxSize: c.Int64("max-size")})
	if err != nil {
		return nil, fmt.Sprintf("cannot load %s: %v", a.Profile, err)
	}
	return newProfileView(a.Profile, p), ""
}
