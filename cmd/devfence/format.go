package main

import (
	"encoding/json"
	"fmt"

	"github.com/urfave/cli/v2"
)

// Every command that prints state or results takes --format text|json;
// the JSON shapes are in docs/JSON.md. compile keeps its own --format
// (nft|json), whose JSON is libnftables', not ours.
const (
	formatText = "text"
	formatJSON = "json"
)

// formatFlags are --format and, for the commands that had it, the
// deprecated --json (hidden, kept so scripts keep working).
func formatFlags(deprecatedJSON bool) []cli.Flag {
	f := []cli.Flag{&cli.StringFlag{Name: "format", Value: formatText, Usage: "print `FORMAT`: text or json (docs/JSON.md)"}}
	if deprecatedJSON {
		f = append(f, &cli.BoolFlag{Name: "json", Hidden: true, Usage: "deprecated: use --format json"})
	}
	return f
}

// outputFormat returns the --format asked for: text or json.
func outputFormat(c *cli.Context) (string, error) {
	format := c.String("format")
	if c.Bool("json") {
		fmt.Fprintln(c.App.ErrWriter, "devfence: warning: --json is deprecated, use --format json")
		if c.IsSet("format") && format != formatJSON {
			return "", usageError{fmt.Errorf("--json and --format %s disagree", format)}
		}
		format = formatJSON
	}
	if format != formatText && format != formatJSON {
		return "", usageError{fmt.Errorf("--format %q: use text or json", format)}
	}
	return format, nil
}

// printJSON writes v as indented JSON and a newline.
func printJSON(c *cli.Context, v any) error {
	out, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("render json: %w", err)
	}
	_, err = fmt.Fprintf(c.App.Writer, "%s\n", out)
	return err
}
