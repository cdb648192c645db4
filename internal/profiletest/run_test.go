package profiletest

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/devfence/devfence/compiler"
	"github.com/devfence/devfence/internal/golden"
	"github.com/devfence/devfence/internal/pipeline"
)

// load reads a test file and builds its profile.
func load(t *testing.T, path string) ([]Case, *compiler.TestFile) {
	t.Helper()
	tf, err := compiler.LoadTests(path, compiler.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := pipeline.Build(context.Background(), tf.ProfilePath, pipeline.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cases, err := Run(tf, res.Table)
	if err != nil {
		t.Fatal(err)
	}
	return cases, tf
}

// TestExamples runs the test file of every example profile
// (examples/tests/NAME.test.yaml: beside the profiles, they would be in
// every examples/*.yaml glob that means profiles): each case must pass,
// and the traces must equal the golden ones (what `devfence test
// --update` writes; -update rewrites them here too).
func TestExamples(t *testing.T) {
	profiles, _ := filepath.Glob("../../examples/*.yaml")
	files := 0
	for _, p := range profiles {
		file := filepath.Join("../../examples/tests", strings.TrimSuffix(filepath.Base(p), ".yaml")+".test.yaml")
		t.Run(filepath.Base(file), func(t *testing.T) {
			if _, err := os.Stat(file); err != nil {
				t.Fatalf("every example profile has a test file: %v", err)
			}
			cases, _ := load(t, file)
			for _, c := range cases {
				for _, f := range c.Failures {
					t.Errorf("%s: step %d (%s): %s: want %s, got %s", c.Name, f.Step, f.Packet, f.Field, f.Want, f.Got)
				}
			}
			golden.Compare(t, GoldenPath(file), Golden(cases))
		})
		files++
	}
	if files < 5 {
		t.Fatalf("%d example test files, want one per example profile", files)
	}
}

// TestFailuresAreReported: expectations that do not hold fail their case,
// naming the step, the field, what was wanted and what came.
func TestFailuresAreReported(t *testing.T) {
	dir := t.TempDir()
	src, err := os.ReadFile("../../examples/baby-monitor.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "cam.yaml"), src, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := `addresses: [192.168.1.50]
cases:
  - name: telnet
    packet: in tcp 198.51.100.7 > 23
    expect: {verdict: accept, entry: "inbound.services viewer"}
  - name: flood
    steps:
      - wait: 1s
      - packet: out udp > 198.51.100.101:123 bytes 100KiB size 1000
        expect: {delivered: "<= 14000", accepted: 15}
  - name: holds
    packet: in tcp 192.168.1.20 > 8443
    expect: {verdict: accept}
`
	path := filepath.Join(dir, "cam.test.yaml")
	if err := os.WriteFile(path, []byte(tests), 0o644); err != nil {
		t.Fatal(err)
	}
	cases, _ := load(t, path)
	want := []Case{
		{Name: "telnet", Failures: []Failure{
			{Packet: "in tcp 198.51.100.7 > 23", Field: "verdict", Want: "accept", Got: "drop"},
			{Packet: "in tcp 198.51.100.7 > 23", Field: "entry", Want: "inbound.services viewer", Got: "drop"},
		}},
		{Name: "flood", Failures: []Failure{
			{Step: 2, Packet: "out udp > 198.51.100.101:123 bytes 100KiB size 1000", Field: "delivered", Want: "<= 14000", Got: "15000"},
		}},
		{Name: "holds"},
	}
	opts := []cmp.Option{cmpopts.IgnoreFields(Case{}, "Trace"), cmpopts.IgnoreFields(Failure{}, "Results"), cmpopts.EquateEmpty()}
	if d := cmp.Diff(want, cases, opts...); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
	for _, c := range cases {
		for _, f := range c.Failures {
			if len(f.Results) == 0 {
				t.Errorf("%s: %s: a failure without the packets that show why", c.Name, f.Field)
			}
		}
	}

	// A golden trace that differs fails the case with the diff.
	gold := filepath.Join(dir, "cam.test.golden")
	changed := strings.Replace(string(Golden(cases)), "verdict: accept, by rule 17", "verdict: accept, by rule 18", 1)
	if err := os.WriteFile(gold, []byte(changed), 0o644); err != nil {
		t.Fatal(err)
	}
	fresh, _ := load(t, path)
	if ok, err := CompareGolden(gold, fresh); !ok || err != nil {
		t.Fatalf("CompareGolden: %v, %v", ok, err)
	}
	last := fresh[2].Failures
	if len(last) != 1 || last[0].Field != "trace" || !strings.Contains(last[0].Diff, "-verdict: accept, by rule 18") || !strings.Contains(last[0].Diff, "+verdict: accept, by rule 17") {
		t.Errorf("holds: failures %+v, want one trace failure with the diff", last)
	}
	if n := len(fresh[0].Failures); n != 2 {
		t.Errorf("telnet: %d failures, want its 2 (its trace is unchanged)", n)
	}
}
