package profiletest

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/devfence/devfence/internal/device"
)

// GoldenPath is where a test file's golden traces are kept:
// NAME.test.golden beside NAME.test.yaml.
func GoldenPath(testFile string) string {
	return strings.TrimSuffix(testFile, ".yaml") + ".golden"
}

const caseHeader = "=== "

// Golden renders the traces of cases as one file: each case under a
// header line with its name.
func Golden(cases []Case) []byte {
	var b strings.Builder
	for i, c := range cases {
		if i > 0 {
			b.WriteString("\n")
		}
		b.WriteString(caseHeader + c.Name + "\n" + c.Trace)
	}
	return []byte(b.String())
}

// CompareGolden checks each case's trace with the golden file at path, and
// adds a failure (with the diff) to each case whose trace differs. A file
// that does not exist checks nothing and returns false.
func CompareGolden(path string, cases []Case) (bool, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	want := map[string]string{}
	for _, section := range strings.Split("\n"+string(data), "\n"+caseHeader)[1:] {
		name, body, _ := strings.Cut(section, "\n")
		want[name] = strings.TrimSuffix(body, "\n") + "\n"
	}
	for i := range cases {
		c := &cases[i]
		w, ok := want[c.Name]
		if !ok {
			c.Failures = append(c.Failures, Failure{Field: "trace", Want: "a golden trace", Got: "none in " + path + " (run with --update)"})
			continue
		}
		if d := device.TextDiff(w, c.Trace, path, "traced"); d != "" {
			c.Failures = append(c.Failures, Failure{Field: "trace", Want: "the golden trace", Got: fmt.Sprintf("a different trace (--update rewrites %s)", path), Diff: d})
		}
	}
	return true, nil
}
