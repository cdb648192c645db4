//go:build !nopolicy

package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/devfence/devfence/compiler"
	"github.com/devfence/devfence/internal/pipeline"
	"github.com/devfence/devfence/internal/profiletest"
	"github.com/devfence/devfence/rules/trace"
)

func init() {
	commands = append(commands, &cli.Command{
		Name:      "test",
		Usage:     "run the expectations of test files (NAME.test.yaml) against their profiles, offline",
		ArgsUsage: "FILE|DIR...",
		Description: `Each test file lists cases: a packet, or a sequence of packets, TCP
handshakes and waits, with the verdict, deciding profile entry, delivered
bytes or accepted packets expected (docs/TESTING.md). devfence test
compiles the profile beside it (NAME.yaml, or the file's profile:), runs
every case through the tracer of "devfence explain", each on a fresh
device, and reports like go test: a failed case with what was wanted and
what came, and the chain walk of the step.

When NAME.test.golden exists beside the test file, each case's trace must
also equal the one kept there; --update rewrites it. A DIR stands for its
*.test.yaml files.

With -v every passing case is listed too; with -q only failures are.

Exit status: 0 every case passed; 1 a case failed, or a test file or
profile is invalid; 2 usage or I/O error, or a rule the tracer cannot
interpret.

Examples:
   devfence test examples/
   devfence test -v examples/baby-monitor.test.yaml
   devfence test --update examples/*.test.yaml     # rewrite the golden traces`,
		Flags: append(profileFlags(),
			resolveFlag(),
			&cli.BoolFlag{Name: "update", Usage: "rewrite each file's golden traces (NAME.test.golden) instead of comparing with them"},
			formatFlags(false)[0],
		),
		Action: testAction,
	})
}

type testFileJSON struct {
	File    string         `json:"file"`
	Profile string         `json:"profile"`
	Golden  string         `json:"golden,omitempty"`
	Passed  bool           `json:"passed"`
	Cases   []testCaseJSON `json:"cases"`
}

type testCaseJSON struct {
	Name     string            `json:"name"`
	Passed   bool              `json:"passed"`
	Failures []testFailureJSON `json:"failures"`
}

type testFailureJSON struct {
	Step   int    `json:"step,omitempty"`
	Packet string `json:"packet,omitempty"`
	Field  string `json:"field"`
	Want   string `json:"want"`
	Got    string `json:"got"`
}

// testFiles expands the arguments: a directory is its *.test.yaml files.
func testFiles(args []string) ([]string, error) {
	var out []string
	for _, a := range args {
		st, err := os.Stat(a)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			out = append(out, a)
			continue
		}
		m, err := filepath.Glob(filepath.Join(a, "*.test.yaml"))
		if err != nil {
			return nil, err
		}
		if len(m) == 0 {
			return nil, fmt.Errorf("%s: no *.test.yaml files", a)
		}
		sort.Strings(m)
		out = append(out, m...)
	}
	return out, nil
}

func testAction(c *cli.Context) error {
	if c.NArg() == 0 {
		return usageError{errors.New("test needs at least one test FILE or DIR")}
	}
	format, err := outputFormat(c)
	if err != nil {
		return err
	}
	files, err := testFiles(c.Args().Slice())
	if err != nil {
		return err
	}
	opt, err := pipelineOptions(c)
	if err != nil {
		return err
	}
	quiet, verbose := verbosity(c)
	w := c.App.Writer
	var report struct {
		Passed bool           `json:"passed"`
		Files  []testFileJSON `json:"files"`
	}
	report.Passed, report.Files = true, []testFileJSON{}
	for _, file := range files {
		tf, err := compiler.LoadTests(file, compiler.LoadOptions{MaxSize: c.Int64("max-size")})
		if err != nil {
			return err
		}
		res, err := pipeline.Build(c.Context, tf.ProfilePath, opt)
		if err != nil {
			return err
		}
		warn(c, res.Warnings)
		warnUnresolved(c, tf.ProfilePath, res)
		cases, err := profiletest.Run(tf, res.Table)
		if err != nil {
			return exitWith{code: exitUsage, msg: fmt.Sprintf("%s: %v", file, err)}
		}
		golden := profiletest.GoldenPath(file)
		fj := testFileJSON{File: file, Profile: tf.ProfilePath, Passed: true, Cases: []testCaseJSON{}}
		if c.Bool("update") {
			if err := writeFileAtomic(golden, profiletest.Golden(cases)); err != nil {
				return err
			}
			say(c, info, "wrote %s", golden)
			fj.Golden = golden
		} else if ok, err := profiletest.CompareGolden(golden, cases); err != nil {
			return err
		} else if ok {
			fj.Golden = golden
		}
		failed := 0
		for _, cs := range cases {
			cj := testCaseJSON{Name: cs.Name, Passed: cs.Passed(), Failures: []testFailureJSON{}}
			for _, f := range cs.Failures {
				cj.Failures = append(cj.Failures, testFailureJSON{Step: f.Step, Packet: f.Packet, Field: f.Field, Want: f.Want, Got: f.Got})
			}
			fj.Cases = append(fj.Cases, cj)
			if !cs.Passed() {
				failed++
				fj.Passed = false
			}
			if format == formatText {
				writeCase(w, file, cs, verbose)
			}
		}
		report.Passed = report.Passed && fj.Passed
		report.Files = append(report.Files, fj)
		if format != formatText {
			continue
		}
		switch {
		case failed > 0:
			fmt.Fprintf(w, "FAIL\t%s\t%d of %d cases failed\n", file, failed, len(cases))
		case !quiet:
			fmt.Fprintf(w, "ok\t%s\t%d cases\n", file, len(cases))
		}
	}
	if format == formatJSON {
		if err := printTraceJSON(c, report); err != nil {
			return err
		}
	}
	if !report.Passed {
		return exitWith{code: exitProfile}
	}
	return nil
}

// writeCase writes a case as go test does: failures always, passes with -v.
func writeCase(w interface{ Write([]byte) (int, error) }, file string, cs profiletest.Case, verbose bool) {
	if cs.Passed() {
		if verbose {
			fmt.Fprintf(w, "--- PASS: %s: %s\n", file, cs.Name)
		}
		return
	}
	fmt.Fprintf(w, "--- FAIL: %s: %s\n", file, cs.Name)
	for _, f := range cs.Failures {
		where := ""
		switch {
		case f.Step > 0:
			where = fmt.Sprintf("step %d (%s): ", f.Step, f.Packet)
		case f.Packet != "":
			where = "(" + f.Packet + "): "
		}
		fmt.Fprintf(w, "    %s%s (-want +got):\n        - %s\n        + %s\n", where, f.Field, f.Want, f.Got)
		if f.Diff != "" {
			fmt.Fprint(w, indent(f.Diff, "        "))
		}
		if f.Results != nil {
			// The rules that decided; with -v, every rule met.
			detail := trace.Decisive
			if verbose {
				detail = trace.Walk
			}
			var b strings.Builder
			trace.WriteRun(&b, f.Results, detail)
			fmt.Fprint(w, indent(b.String(), "        "))
		}
	}
}

func indent(s, prefix string) string {
	lines := strings.SplitAfter(s, "\n")
	var b strings.Builder
	for _, l := range lines {
		switch l {
		case "":
		case "\n":
			b.WriteString(l)
		default:
			b.WriteString(prefix + l)
		}
	}
	return b.String()
}
