package main

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/devfence/devfence/internal/pipeline"
	"github.com/devfence/devfence/rules"
)

func init() {
	commands = append(commands, &cli.Command{
		Name:      "compile",
		Usage:     "validate a profile and print its nftables table as `nft -f` text",
		ArgsUsage: "PROFILE | --out-dir DIR PROFILE...",
		Description: `Loads PROFILE strictly, checks it against the built-in policies (and any
--policy DIR), and prints the table as nft -f text: create the table,
delete it, then the whole table, so that "nft -f" swaps it in one atomic
transaction and never touches another table.

Exit status: 0 compiled; 1 the profile is invalid or denied (diagnostics on
stderr as FILE:LINE:COL: path: message); 2 usage or I/O error.

Examples:
   devfence compile examples/baby-monitor.yaml
   devfence compile -o /etc/devfence/camera.nft --table camera examples/baby-monitor.yaml
   devfence compile examples/baby-monitor.yaml | nft -c -f -     # let nft check it too
   devfence compile --out-dir build/ fleet/*.yaml                # a whole fleet, on all cores
   devfence compile --format json examples/baby-monitor.yaml | nft -j -f -   # libnftables JSON

With --out-dir, every PROFILE is compiled to DIR/<name>.nft with the policy
query prepared once; a progress bar shows on a terminal, and a summary
(profiles/s, per-profile p50 and p99) ends the run. One bad profile does not
stop the others; the exit status is 1 if any failed.`,
		Flags: append(profileFlags(),
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "write to `FILE` instead of standard output (replaced atomically)"},
			&cli.StringFlag{Name: "out-dir", Usage: "compile many profiles, each to `DIR`/<name>.nft"},
			&cli.BoolFlag{Name: "resolve", Usage: "resolve host names in networks now, instead of leaving their sets for apply to fill"},
			&cli.StringFlag{Name: "format", Value: "nft", Usage: "print `FORMAT`: nft (nft -f text) or json (libnftables JSON for nft -j -f; the same transaction)"},
		),
		Action: compileAction,
	})
}

func compileAction(c *cli.Context) error {
	format := c.String("format")
	if format != "nft" && format != "json" {
		return usageError{fmt.Errorf("--format %q: use nft or json", format)}
	}
	if c.IsSet("out-dir") {
		if format != "nft" {
			return usageError{fmt.Errorf("--out-dir writes nft text only; drop --format %s", format)}
		}
		return compileBatch(c)
	}
	path, err := oneProfile(c)
	if err != nil {
		return err
	}
	opt, err := pipelineOptions(c)
	if err != nil {
		return err
	}
	start := time.Now()
	res, err := pipeline.Build(c.Context, path, opt)
	if err != nil {
		return err
	}
	timed(c, start, "%s: loaded, checked and compiled", path)
	warn(c, res.Warnings)
	start = time.Now()
	tx := rules.Replace(res.Table)
	out := []byte(tx.String())
	if format == "json" {
		if out, err = tx.JSON(); err != nil {
			return fmt.Errorf("render json: %w", err)
		}
	}
	timed(c, start, "rendered %d bytes of %s", len(out), format)
	if file := c.String("output"); file != "" {
		if err := writeFileAtomic(file, out); err != nil {
			return err
		}
		say(c, detail, "wrote %s", file)
		return nil
	}
	_, err = c.App.Writer.Write(out)
	return err
}

// writeFileAtomic replaces path in one rename, so a reader never sees half
// a ruleset and a failed write leaves the old file.
func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
