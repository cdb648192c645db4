package mud_test

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/devfence/devfence/compiler/mud"
	"github.com/devfence/devfence/internal/golden"
)

// The corpus is the MUD files the importer is measured on; testdata/README.md
// says where each comes from.
const (
	nistDir       = "testdata/nist"       // NIST's nist-mud test suite
	thirdPartyDir = "testdata/thirdparty" // written for this repository in the styles of third-party generators
	realDir       = "testdata/real"       // real third-party MUD files, copied unchanged
	mudDoc        = "../../docs/MUD.md"
)

// refused are the corpus files that must not convert, each with a part of
// its error: a change here is a change in what the importer accepts.
var refused = map[string]string{
	"thirdparty/vendor-inlined-acls.json": "an ACL written inside the policy; RFC 8520 expects",
}

// TestCorpus imports every corpus file and checks, for each: its golden
// profile; that the profile loads once bound; and the promise that
// no import is left without a rule unless the file has nothing but
// ethernet ACEs. The report of each file is the table in docs/MUD.md,
// which -update rewrites.
func TestCorpus(t *testing.T) {
	var table strings.Builder
	table.WriteString("| File | ACEs in | Rules out | Replies | DHCP | Drops | Not imported, by reason |\n")
	table.WriteString("| --- | ---: | ---: | ---: | ---: | ---: | --- |\n")
	for _, dir := range []string{nistDir, thirdPartyDir, realDir} {
		set := filepath.Base(dir)
		files, err := filepath.Glob(filepath.Join(dir, "*.json"))
		if err != nil || len(files) == 0 {
			t.Fatalf("no MUD files in %s: %v", dir, err)
		}
		for _, f := range files {
			key := set + "/" + filepath.Base(f)
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			res, err := mud.Convert(data, mud.Options{Source: filepath.Base(f)})
			if err != nil {
				var me *mud.Error
				if !errors.As(err, &me) || me.Line < 1 {
					t.Errorf("%s: an error without a position: %v", key, err)
				}
				if want, ok := refused[key]; !ok || !strings.Contains(err.Error(), want) {
					t.Errorf("%s: refused: %v (want it refused: %t)", key, err, ok)
				}
				fmt.Fprintf(&table, "| `%s` | - | - | - | - | - | refused: %s |\n", key, escapeCell(me.Message))
				continue
			}
			if _, ok := refused[key]; ok {
				t.Errorf("%s: converted; it should be refused", key)
			}
			name := strings.TrimSuffix(filepath.Base(f), ".json")
			golden.Compare(t, filepath.Join(goldenDir, set, name+".yaml"), res.YAML)
			loadBound(t, filepath.Base(f), data)

			r := res.Report
			if r.Rules == 0 {
				ethernet := len(r.NotImported) == r.ACEs
				for _, o := range r.NotImported {
					ethernet = ethernet && o.Reason == mud.ReasonEthernet
				}
				if !ethernet {
					t.Errorf("%s: no rule, though not every ACE is an ethernet one: %+v", key, r)
				}
			}
			fmt.Fprintf(&table, "| `%s` | %d | %d | %d | %d | %d | %s |\n", key, r.ACEs, r.Rules, r.Replies, r.Essentials, r.Drops, reasons(r.NotImported))
		}
	}
	compareSection(t, mudDoc, table.String())
}

// reasons counts the ACEs not imported by reason, "-" for none.
func reasons(out []mud.ACEOutcome) string {
	n := map[string]int{}
	for _, o := range out {
		n[o.Reason]++
	}
	var parts []string
	for _, r := range slices.Sorted(maps.Keys(n)) {
		parts = append(parts, fmt.Sprintf("%d %s", n[r], r))
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ", ")
}

func escapeCell(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

const (
	beginReport = "<!-- begin: report of TestCorpus; go test ./compiler/mud -run TestCorpus -update rewrites it -->\n"
	endReport   = "<!-- end: report -->\n"
)

// compareSection checks the part of the document between the report
// markers against got, or rewrites that part under -update.
func compareSection(t *testing.T, path, got string) {
	t.Helper()
	doc, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	before, rest, ok1 := strings.Cut(string(doc), beginReport)
	want, after, ok2 := strings.Cut(rest, endReport)
	if !ok1 || !ok2 {
		t.Fatalf("%s: no report markers %q ... %q", path, beginReport, endReport)
	}
	if *golden.Update {
		if err := os.WriteFile(path, []byte(before+beginReport+got+endReport+after), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if want != got {
		t.Errorf("%s: the report table is out of date (go test ./compiler/mud -run TestCorpus -update); -want +got:\n%s", path, cmp.Diff(want, got))
	}
}
