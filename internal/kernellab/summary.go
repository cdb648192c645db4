package kernellab

import (
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// Sizes are the sizes of the binaries built into dir.
func Sizes(dir string) map[string]int64 {
	out := map[string]int64{}
	for _, b := range []string{"devfence", "devfence-device"} {
		if st, err := os.Stat(filepath.Join(dir, b)); err == nil {
			out[b] = st.Size()
		}
	}
	return out
}

// suiteOrder puts the packet tests first.
var suiteOrder = map[string]int{"traffic": 0, "netlink": 1, "device": 2}

// Summary prints the scenario x target table, the measurements, timings
// and every failure, and reports whether everything passed but the known
// failures.
func Summary(w io.Writer, results []*Result, known []Known) bool {
	ok := true
	used := map[int]int{}
	for _, r := range results {
		markKnown(r, known, used)
	}
	defer func() {
		for _, k := range known {
			for _, r := range results {
				if ok, _ := path.Match(k.Targets, r.Target.Name); ok && used[k.Line] == 0 && ran(r, k.Test) {
					fmt.Fprintf(w, "\nnote: known failure (line %d: %s %s) did not occur on %s; fixed? then remove the line\n",
						k.Line, k.Targets, k.Test, r.Target.Name)
					break
				}
			}
		}
	}()
	keys := map[string]bool{}
	for _, r := range results {
		for k := range r.Tests {
			keys[k] = true
		}
	}
	rows := make([]string, 0, len(keys))
	for k := range keys {
		rows = append(rows, k)
	}
	sort.Slice(rows, func(i, j int) bool {
		si, _, _ := strings.Cut(rows[i], "/")
		sj, _, _ := strings.Cut(rows[j], "/")
		if suiteOrder[si] != suiteOrder[sj] {
			return suiteOrder[si] < suiteOrder[sj]
		}
		return rows[i] < rows[j]
	})

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w)
	head := "scenario"
	for _, r := range results {
		head += "\t" + r.Target.Name
	}
	fmt.Fprintln(tw, head)
	row := func(name string, cell func(r *Result) string) {
		line := name
		for _, r := range results {
			line += "\t" + cell(r)
		}
		fmt.Fprintln(tw, line)
	}
	row("kernel", func(r *Result) string { return orDash(r.Kernel) })
	row("nf_tables and modules", func(r *Result) string {
		switch {
		case r.Kernel == "":
			return "—"
		case len(r.Fatal) > 0:
			return "FAIL"
		}
		return "ok"
	})
	for _, k := range rows {
		row(k, func(r *Result) string {
			t := r.Tests[k]
			if t == nil {
				return "—"
			}
			return strings.ToUpper(t.Action)
		})
	}
	for _, bin := range []string{"devfence-device", "devfence"} {
		for _, p := range []string{"baby-monitor", "big-10000"} {
			row(fmt.Sprintf("peak RSS apply %s (%s)", p, bin), func(r *Result) string {
				for _, m := range r.Measures {
					if m.Bin == bin && m.Profile == p {
						s := fmt.Sprintf("%.1f MiB", float64(m.MaxRSSKiB)/1024)
						if m.RC != "0" {
							s += " (refused)"
						}
						return s
					}
				}
				return "—"
			})
		}
		row("size "+bin, func(r *Result) string {
			if n, ok := r.Sizes[bin]; ok {
				return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
			}
			return "—"
		})
	}
	row("boot (qemu start to /init)", func(r *Result) string { return dur(r.Boot) })
	row("VM (boot, tests, poweroff)", func(r *Result) string { return dur(r.VM) })
	row("total (download, build, VM)", func(r *Result) string { return dur(r.Total) })
	tw.Flush()

	for _, r := range results {
		var msgs []string
		if r.Err != nil {
			msgs = append(msgs, "error: "+r.Err.Error())
		}
		if r.Kernel == "" && r.Err == nil {
			msgs = append(msgs, "the VM never reached /init")
		}
		msgs = append(msgs, r.Fatal...)
		names := make([]string, 0, len(r.Tests))
		for k := range r.Tests {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			t := r.Tests[k]
			switch t.Action {
			case "fail":
				msgs = append(msgs, "FAIL "+k)
			case "known":
				msgs = append(msgs, "KNOWN "+k+" (listed as known: "+t.Known+")")
			default:
				continue
			}
			for i, f := range t.Failures {
				if i == 12 {
					msgs = append(msgs, fmt.Sprintf("    ... %d more lines in the console log", len(t.Failures)-i))
					break
				}
				msgs = append(msgs, "    "+f)
			}
		}
		for _, m := range r.Measures {
			if m.RC != "0" {
				msgs = append(msgs, fmt.Sprintf("apply %s with %s exited %s: %s", m.Profile, m.Bin, m.RC, strings.Join(m.Error, " | ")))
			}
		}
		if len(msgs) == 0 && len(r.Tests) > 0 {
			continue
		}
		if len(r.Tests) == 0 {
			msgs = append(msgs, "no test ran")
		}
		ok = ok && !(r.Err != nil || r.Kernel == "" || len(r.Fatal) > 0 || len(r.Tests) == 0 || hasFail(r))
		fmt.Fprintf(w, "\n%s:\n  %s\n", r.Target.Name, strings.Join(msgs, "\n  "))
	}
	return ok
}

func hasFail(r *Result) bool {
	for _, t := range r.Tests {
		if t.Action == "fail" {
			return true
		}
	}
	return false
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

func dur(d time.Duration) string {
	if d == 0 {
		return "—"
	}
	return d.Round(time.Second).String()
}

// ran reports whether a test matching pattern ran on r.
func ran(r *Result, pattern string) bool {
	for name := range r.Tests {
		if ok, _ := path.Match(pattern, name); ok {
			return true
		}
	}
	return false
}
