package compiler_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/devfence/devfence/compiler"
	"github.com/devfence/devfence/internal/netlab"
	"github.com/devfence/devfence/rules"
)

// TestKernelLoadsExamples loads every example's text with `nft -f` into the
// device namespace of a fresh lab: `nft -c` alone would not catch what only
// the kernel refuses (set flags, expression support). A table devfence does
// not own must survive each load.
func TestKernelLoadsExamples(t *testing.T) {
	nft := netlab.RequireTool(t, "nft")
	lab := netlab.New(t, netlab.WithVictims(0))
	dev := lab.Device
	if out, err := dev.ExecInput("table ip other {\n chain c {\n }\n}\n", nft, "-f", "-"); err != nil {
		t.Fatalf("create another table: %v\n%s", err, out)
	}
	for _, path := range examples(t, "../examples") {
		t.Run(name(path), func(t *testing.T) {
			p, err := compiler.Load(path, compiler.LoadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			tbl, err := compiler.Compile(p, compiler.Options{})
			if err != nil {
				t.Fatal(err)
			}
			// Twice: the first load creates the table, the second replaces it.
			for range 2 {
				if out, err := dev.ExecInput(rules.Replace(tbl).String(), nft, "-f", "-"); err != nil {
					t.Fatalf("nft -f refused %s: %v\n%s", path, err, out)
				}
			}
			out, err := dev.Exec(nft, "-j", "list", "table", "inet", "devfence")
			if err != nil {
				t.Fatalf("list: %v\n%s", err, out)
			}
			sets, chainRules := countObjects(t, out)
			if sets != len(tbl.Sets) {
				t.Errorf("kernel holds %d sets, compiled %d", sets, len(tbl.Sets))
			}
			for _, c := range tbl.Chains {
				if chainRules[c.Name] != len(c.Rules) {
					t.Errorf("chain %s: kernel holds %d rules, compiled %d", c.Name, chainRules[c.Name], len(c.Rules))
				}
			}
			if out, err := dev.Exec(nft, "list", "table", "ip", "other"); err != nil {
				t.Errorf("loading devfence's table removed another table: %v\n%s", err, out)
			}
		})
	}
}

// TestKernelLoadsLongClearToSend loads a banner longer than the 16 bytes
// one kernel payload comparison takes.
func TestKernelLoadsLongClearToSend(t *testing.T) {
	nft := netlab.RequireTool(t, "nft")
	lab := netlab.New(t, netlab.WithVictims(0))
	long := strings.Repeat("220 ready ", 6) // 60 bytes
	tbl := compile(t, strings.Replace(base, `clearToSend: "220"`, `clearToSend: "`+long+`"`, 1))
	if out, err := lab.Device.ExecInput(rules.Replace(tbl).String(), nft, "-f", "-"); err != nil {
		t.Fatalf("nft -f refused a %d-byte clear-to-send: %v\n%s", len(long), err, out)
	}
}

// countObjects counts the sets and the rules per chain in `nft -j list` output.
func countObjects(t *testing.T, listing string) (int, map[string]int) {
	t.Helper()
	var doc struct {
		Nftables []map[string]json.RawMessage `json:"nftables"`
	}
	if err := json.Unmarshal([]byte(listing), &doc); err != nil {
		t.Fatalf("parse nft -j output: %v", err)
	}
	sets, chainRules := 0, map[string]int{}
	for _, obj := range doc.Nftables {
		if _, ok := obj["set"]; ok {
			sets++
		}
		if raw, ok := obj["rule"]; ok {
			var r struct{ Chain string }
			if err := json.Unmarshal(raw, &r); err != nil {
				t.Fatal(err)
			}
			chainRules[r.Chain]++
		}
	}
	return sets, chainRules
}
