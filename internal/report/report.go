// Package report writes validation results in a format chosen by name, the
// conftest way: the runner collects results, a formatter prints them.
package report

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/devfence/devfence/compiler"
)

// Waiver is a waiver a profile used.
type Waiver struct {
	Policy string `json:"policy"`
	Reason string `json:"reason"`
	Line   int    `json:"line"`
	Column int    `json:"column"`
}

// Result is the validation of one profile file.
type Result struct {
	File   string               `json:"file"`
	Passed bool                 `json:"passed"`
	Denies compiler.Diagnostics `json:"denies"`
	// Warnings are the results of warn rules: shown, never failing (as
	// conftest's warnings).
	Warnings compiler.Diagnostics `json:"warnings"`
	Waived   []Waiver             `json:"waived"`
	// Error is an I/O problem that kept the file from being checked.
	Error string `json:"error,omitempty"`
}

// Formatter prints results.
type Formatter func(w io.Writer, results []Result) error

var formatters = map[string]Formatter{"text": Text, "json": JSON}

// Names lists the formats, for --help and errors.
func Names() []string {
	names := make([]string, 0, len(formatters))
	for n := range formatters {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Lookup returns the formatter called name.
func Lookup(name string) (Formatter, error) {
	f, ok := formatters[name]
	if !ok {
		return nil, fmt.Errorf("unknown format %q (want %s)", name, strings.Join(Names(), " or "))
	}
	return f, nil
}

// Text prints one diagnostic per line, then the waivers honoured, then a
// summary line.
func Text(w io.Writer, results []Result) error { return text(w, results, false) }

// Failures is Text without the waivers and the summary, for -q: failures
// and warnings only, nothing at all when every profile passed cleanly.
func Failures(w io.Writer, results []Result) error { return text(w, results, true) }

func text(w io.Writer, results []Result, failuresOnly bool) error {
	failed, warned := 0, 0
	var b strings.Builder
	for _, r := range results {
		if !r.Passed {
			failed++
		}
		warned += len(r.Warnings)
		if r.Error != "" {
			fmt.Fprintf(&b, "%s: %s\n", r.File, r.Error)
		}
		for _, d := range r.Denies {
			fmt.Fprintln(&b, d.String())
		}
		for _, d := range r.Warnings {
			fmt.Fprintln(&b, WarningLine(d))
		}
		if failuresOnly {
			continue
		}
		for _, wv := range r.Waived {
			fmt.Fprintf(&b, "%s:%d:%d: waived %s: %s\n", r.File, wv.Line, wv.Column, wv.Policy, wv.Reason)
		}
	}
	if !failuresOnly {
		fmt.Fprintf(&b, "%d profile(s) checked: %d passed, %d failed", len(results), len(results)-failed, failed)
		if warned > 0 {
			fmt.Fprintf(&b, ", %d warning(s)", warned)
		}
		b.WriteByte('\n')
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WarningLine is a warn rule's result as a compiler prints a warning:
// FILE:LINE:COL: warning: path: message (policy).
func WarningLine(d compiler.Diagnostic) string {
	at := fmt.Sprintf("%s:%d:%d: ", d.File, d.Line, d.Column)
	return at + "warning: " + strings.TrimPrefix(d.String(), at)
}

// JSON prints {"results": [...]} for CI, with empty lists rather than null.
func JSON(w io.Writer, results []Result) error {
	for i := range results {
		if results[i].Denies == nil {
			results[i].Denies = compiler.Diagnostics{}
		}
		if results[i].Warnings == nil {
			results[i].Warnings = compiler.Diagnostics{}
		}
		if results[i].Waived == nil {
			results[i].Waived = []Waiver{}
		}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(struct {
		Results []Result `json:"results"`
	}{results})
}
