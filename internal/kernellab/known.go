package kernellab

import (
	"bufio"
	"fmt"
	"os"
	"path"
	"strings"
)

// Known is a failure expected on some targets until a fix lands: a test
// that fails there with this message is reported as KNOWN instead of FAIL
// and does not fail the run. A test that fails otherwise still fails.
type Known struct {
	Targets string // path.Match pattern over target names, e.g. "5.10-*"
	Test    string // path.Match pattern over "suite/TestName"
	Message string // a substring one of its failure lines must contain
	Line    int
}

// LoadKnown reads a known-failures file: one "TARGETS TEST MESSAGE" per
// line (MESSAGE is the rest of the line), # comments and blank lines.
func LoadKnown(file string) ([]Known, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []Known
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 3 {
			return nil, fmt.Errorf("%s:%d: want TARGETS TEST MESSAGE, got %q", file, n, line)
		}
		k := Known{Targets: f[0], Test: f[1], Line: n}
		k.Message = strings.TrimSpace(line[strings.Index(line, f[1])+len(f[1]):])
		for _, p := range []string{k.Targets, k.Test} {
			if _, err := path.Match(p, ""); err != nil {
				return nil, fmt.Errorf("%s:%d: pattern %q: %w", file, n, p, err)
			}
		}
		out = append(out, k)
	}
	return out, sc.Err()
}

// markKnown turns the failures of r that known explains into "known": a
// failed test is known when every failed test or subtest of it that
// printed something printed a line some entry for this target and test
// names. used counts, by line, how often each entry explained one.
func markKnown(r *Result, known []Known, used map[int]int) {
	for name, t := range r.Tests {
		if t.Action != "fail" || len(t.Failed) == 0 {
			continue
		}
		var apply []Known
		for _, k := range known {
			okT, _ := path.Match(k.Targets, r.Target.Name)
			okN, _ := path.Match(k.Test, name)
			if okT && okN {
				apply = append(apply, k)
			}
		}
		explained := map[int]bool{}
		all := true
		for _, lines := range t.Failed {
			found := false
			for _, k := range apply {
				for _, l := range lines {
					if strings.Contains(l, k.Message) {
						found, explained[k.Line] = true, true
					}
				}
			}
			all = all && found
		}
		if !all || len(apply) == 0 {
			continue
		}
		var msgs []string
		for _, k := range apply {
			if explained[k.Line] {
				used[k.Line]++
				msgs = append(msgs, k.Message)
			}
		}
		t.Action, t.Known = "known", strings.Join(msgs, "; ")
	}
}
