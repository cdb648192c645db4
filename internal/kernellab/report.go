package kernellab

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os/exec"
	"regexp"
	"sort"
	"strings"
	"time"
)

// Result is what one VM reported.
type Result struct {
	Target   Target
	Kernel   string        // uname -r, from the VM
	Boot     time.Duration // qemu start to /init running
	Total    time.Duration // download, build and VM
	VM       time.Duration // qemu start to exit
	Err      error         // the run itself failed (download, build, qemu, timeout)
	Fatal    []string      // KLAB FATAL and MODPROBE-FAILED lines
	Tests    map[string]*Test
	Measures []Measure
	Sizes    map[string]int64 // binary -> bytes
}

// Test is one top-level test of a suite ("traffic/TestSwapUnderFlood").
type Test struct {
	Action   string   // pass, fail, skip, or known (a failure Known explains)
	Known    string   // the known failure's message
	Failures []string // output of the failed test and its failed subtests, "name: line"
	// Failed maps each failed test or subtest that printed something to
	// its output lines.
	Failed map[string][]string
}

// Measure is one peak-RSS measurement of devfence apply.
type Measure struct {
	Bin, Profile string
	RC           string
	MaxRSSKiB    int64
	Error        []string
}

var (
	reSuite   = regexp.MustCompile(`^KLAB SUITE (\S+) (BEGIN|END rc=(\d+))`)
	reMeasure = regexp.MustCompile(`^KLAB MEASURE bin=(\S+) profile=(\S+) rc=(\d+) maxrss_kb=(\d*)`)
	reBooted  = regexp.MustCompile(`^KLAB BOOTED kernel=(\S+)`)
	// A kernel oops or panic, and where it happened.
	reOops = regexp.MustCompile(`\] (Internal error:|Unhandled fault|Kernel panic|BUG:|Oops|PC is at|RIP:|Call Trace:|general protection fault)`)
)

// Parse reads the console of a VM into r. Kernel messages may interleave
// with test output; test output is read with go tool test2json.
func Parse(r *Result, console string) {
	r.Tests = map[string]*Test{}
	var suite string
	var body strings.Builder
	finished := map[string]bool{}
	for _, line := range strings.Split(console, "\n") {
		// The firmware's terminal escapes may precede a KLAB line.
		if i := strings.Index(line, "KLAB "); i > 0 {
			line = line[i:]
		}
		if m := reSuite.FindStringSubmatch(line); m != nil {
			if m[2] == "BEGIN" {
				suite = m[1]
				body.Reset()
				continue
			}
			parseSuite(r, m[1], body.String())
			finished[m[1]] = true
			if m[3] != "0" && !anyFailed(r, m[1]) {
				r.Fatal = append(r.Fatal, fmt.Sprintf("suite %s exited %s without a failed test (panic or timeout?)", m[1], m[3]))
			}
			suite = ""
			continue
		}
		if reOops.MatchString(line) {
			r.Fatal = append(r.Fatal, "kernel: "+strings.TrimSpace(line))
		}
		switch {
		case suite != "":
			body.WriteString(line + "\n")
		case strings.HasPrefix(line, "KLAB FATAL") || strings.HasPrefix(line, "KLAB MODPROBE-FAILED"):
			r.Fatal = append(r.Fatal, strings.TrimPrefix(line, "KLAB "))
		case reBooted.MatchString(line):
			r.Kernel = reBooted.FindStringSubmatch(line)[1]
		case reMeasure.MatchString(line):
			m := reMeasure.FindStringSubmatch(line)
			kb, _ := parseInt(m[4])
			r.Measures = append(r.Measures, Measure{Bin: m[1], Profile: m[2], RC: m[3], MaxRSSKiB: kb})
		case strings.HasPrefix(line, "KLAB MEASURE-ERROR ") && len(r.Measures) > 0:
			m := &r.Measures[len(r.Measures)-1]
			m.Error = append(m.Error, strings.TrimPrefix(line, "KLAB MEASURE-ERROR "))
		}
	}
	if suite != "" {
		parseSuite(r, suite, body.String())
		r.Fatal = append(r.Fatal, fmt.Sprintf("suite %s did not finish (the VM stopped or timed out in it)", suite))
	}
}

func anyFailed(r *Result, suite string) bool {
	for name, t := range r.Tests {
		if strings.HasPrefix(name, suite+"/") && t.Action == "fail" {
			return true
		}
	}
	return false
}

func parseInt(s string) (int64, error) {
	var n int64
	_, err := fmt.Sscan(s, &n)
	return n, err
}

type event struct {
	Action string
	Test   string
	Output string
}

// reBackwards is a test's end line with a negative duration, which
// test2json drops: the VM's monotonic clock went backwards during it.
var reBackwards = regexp.MustCompile(`^\s*--- \w+: (\S+) \((-[0-9.]+s)\)`)

// parseSuite converts one suite's -test.v=test2json output to events.
func parseSuite(r *Result, suite, out string) {
	cmd := exec.Command(goTool(), "tool", "test2json")
	cmd.Stdin = strings.NewReader(out)
	js, err := cmd.Output()
	if err != nil {
		r.Fatal = append(r.Fatal, fmt.Sprintf("suite %s: go tool test2json: %v", suite, err))
		return
	}
	outputs := map[string][]string{} // test (any level) -> output lines
	failed := map[string]bool{}
	clockBack := false
	sc := bufio.NewScanner(bytes.NewReader(js))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var e event
		if json.Unmarshal(sc.Bytes(), &e) != nil || e.Test == "" {
			continue
		}
		top, _, _ := strings.Cut(e.Test, "/")
		key := suite + "/" + top
		switch e.Action {
		case "output":
			o := strings.TrimRight(e.Output, "\n")
			// Then no timing of the run holds: a fatal error, once.
			if m := reBackwards.FindStringSubmatch(o); m != nil && !clockBack {
				clockBack = true
				r.Fatal = append(r.Fatal, fmt.Sprintf("suite %s: the VM's clock went backwards (%s took %s)", suite, m[1], m[2]))
			}
			if t := strings.TrimSpace(o); t != "" && !strings.HasPrefix(t, "=== ") && !strings.HasPrefix(t, "--- ") {
				outputs[e.Test] = append(outputs[e.Test], o)
			}
		case "fail":
			failed[e.Test] = true
			fallthrough
		case "pass", "skip":

			if e.Test == top {
				r.Tests[key] = &Test{Action: e.Action}
			}
		}
	}
	for name := range failed {
		top, _, _ := strings.Cut(name, "/")
		t := r.Tests[suite+"/"+top]
		if t == nil {
			continue
		}
		if len(outputs[name]) > 0 {
			if t.Failed == nil {
				t.Failed = map[string][]string{}
			}
			t.Failed[name] = outputs[name]
		}
	}
	for key, t := range r.Tests {
		if !strings.HasPrefix(key, suite+"/") {
			continue
		}
		t.Failures = nil
		names := make([]string, 0, len(t.Failed))
		for n := range t.Failed {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			for _, o := range t.Failed[n] {
				t.Failures = append(t.Failures, n+": "+strings.TrimSpace(o))
			}
		}
	}
}
