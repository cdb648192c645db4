package compiler

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/devfence/devfence/rules/trace"
)

// TestFile is a file of expectations about a profile's ruleset, run
// offline by `devfence test` (docs/TESTING.md): NAME.test.yaml beside
// NAME.yaml.
type TestFile struct {
	Profile   string     `yaml:"profile"`
	Addresses []string   `yaml:"addresses"`
	Cases     []TestCase `yaml:"cases"`

	Source *Source `yaml:"-"`
	// ProfilePath is Profile relative to the directory of the test file,
	// or NAME.yaml for NAME.test.yaml.
	ProfilePath string `yaml:"-"`
}

// TestCase is one packet, or a sequence of steps, and what must come of
// it.
type TestCase struct {
	Name   string     `yaml:"name"`
	Packet string     `yaml:"packet"`
	Expect *Expect    `yaml:"expect"`
	Steps  []TestStep `yaml:"steps"`
}

// TestStep is one step of a sequence: exactly one of packet, connect and
// wait.
type TestStep struct {
	Packet  string   `yaml:"packet"`
	Connect string   `yaml:"connect"`
	Wait    Duration `yaml:"wait"`
	Expect  *Expect  `yaml:"expect"`
}

// Expect is what a step must come to; fields left out are not checked.
type Expect struct {
	Verdict   string    `yaml:"verdict"`
	Entry     *string   `yaml:"entry"`
	Delivered ByteCheck `yaml:"delivered"`
	Accepted  ByteCheck `yaml:"accepted"`
}

// ByteCheck compares a count with a bound: `15000`, `200KiB`, `<= 16KiB`.
type ByteCheck struct {
	Op    string // "==", "<=", ">=", "<", ">"; "" when not given
	Value uint64
}

// Set reports whether the check was given.
func (b ByteCheck) Set() bool { return b.Op != "" }

// Holds reports whether n meets the check.
func (b ByteCheck) Holds(n uint64) bool {
	switch b.Op {
	case "<=":
		return n <= b.Value
	case ">=":
		return n >= b.Value
	case "<":
		return n < b.Value
	case ">":
		return n > b.Value
	}
	return n == b.Value
}

func (b ByteCheck) String() string {
	if b.Op == "==" {
		return strconv.FormatUint(b.Value, 10)
	}
	return b.Op + " " + strconv.FormatUint(b.Value, 10)
}

func (b *ByteCheck) decodeYAML(d *decoder, n *yaml.Node, path string) {
	if n.Kind != yaml.ScalarNode || (n.Tag != "!!int" && n.Tag != "!!str") {
		d.errorf(n, path, "expected a byte count such as 15000, 64KiB or \"<= 16KiB\", got %s", describe(n))
		return
	}
	s := strings.TrimSpace(n.Value)
	op := "=="
	for _, o := range []string{"<=", ">=", "==", "<", ">"} {
		if rest, ok := strings.CutPrefix(s, o); ok {
			op, s = o, strings.TrimSpace(rest)
			break
		}
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		if v, err = ParseSize(s); err != nil {
			d.errorf(n, path, "%q: expected a byte count such as 15000, 64KiB or \"<= 16KiB\"", n.Value)
			return
		}
	}
	*b = ByteCheck{Op: op, Value: v}
}

// Verdicts a step may expect: every packet accepted, every packet
// dropped, or some of each.
var testVerdicts = []string{"accept", "drop", trace.Partial}

// LoadTests reads and checks a test file: its shape, and that every
// packet parses (a packet's diagnostic points at the bad token).
func LoadTests(path string, opt LoadOptions) (*TestFile, error) {
	data, err := readFile(path, opt)
	if err != nil {
		return nil, err
	}
	src := &Source{File: path, size: len(data)}
	tf := &TestFile{Source: src}
	d, diags := decodeDocument(src, data, reflect.ValueOf(tf).Elem(), testKind)
	if diags != nil {
		return nil, diags
	}
	d.diags = append(d.diags, unlessReported(checkTests(d.src, tf), d.diags)...)
	if len(d.diags) > 0 {
		return nil, sorted(d.diags)
	}
	dir := filepath.Dir(path)
	switch {
	case tf.Profile != "":
		tf.ProfilePath = filepath.Join(dir, tf.Profile)
	default:
		base := strings.TrimSuffix(filepath.Base(path), ".yaml")
		tf.ProfilePath = filepath.Join(dir, strings.TrimSuffix(base, ".test")+".yaml")
	}
	return tf, nil
}

var testKind = docKind{file: "a test file", start: "a test file holds `cases:`"}

// checkTests reports what the types cannot say: one packet or steps per
// case, one action per step, packets that parse, known verdicts.
func checkTests(src *Source, tf *TestFile) Diagnostics {
	c := &testChecker{src: src}
	at := c.at
	for i, a := range tf.Addresses {
		if _, err := netip.ParseAddr(a); err != nil {
			at(index("addresses", i), "%q is not an IP address", a)
		}
	}
	if len(tf.Cases) == 0 {
		at("cases", "a test file needs at least one case")
	}
	names := map[string]bool{}
	for i, tc := range tf.Cases {
		path := index("cases", i)
		switch {
		case tc.Name == "":
			at(path, "a case needs a name")
		case names[tc.Name]:
			at(join(path, "name"), "case name %q is used twice", tc.Name)
		}
		names[tc.Name] = true
		switch {
		case tc.Packet != "" && len(tc.Steps) > 0:
			at(path, "a case has a packet or steps, not both")
		case tc.Packet == "" && len(tc.Steps) == 0:
			at(path, "a case needs a packet or steps")
		case tc.Packet != "":
			c.checkPacket(join(path, "packet"), tc.Packet)
			c.checkExpect(join(path, "expect"), tc.Expect)
		}
		if tc.Packet == "" && tc.Expect != nil {
			at(join(path, "expect"), "expect goes with a packet; in steps, each step has its own")
		}
		for j, s := range tc.Steps {
			spath := index(join(path, "steps"), j)
			n := 0
			for _, set := range []bool{s.Packet != "", s.Connect != "", s.Wait != 0} {
				if set {
					n++
				}
			}
			if n != 1 {
				at(spath, "a step is one of packet, connect or wait")
				continue
			}
			switch {
			case s.Packet != "":
				c.checkPacket(join(spath, "packet"), s.Packet)
			case s.Connect != "":
				c.checkPacket(join(spath, "connect"), s.Connect)
			case s.Expect != nil:
				at(join(spath, "expect"), "a wait has no outcome to expect")
			}
			c.checkExpect(join(spath, "expect"), s.Expect)
		}
	}
	return c.diags
}

type testChecker struct {
	src   *Source
	diags Diagnostics
}

func (c *testChecker) at(path, format string, args ...any) {
	c.diags = append(c.diags, c.src.At(path, fmt.Sprintf(format, args...)))
}

// checkPacket parses a packet; its error points at the bad token: the
// scalar's column plus the token's, for a packet on one line.
func (c *testChecker) checkPacket(path, s string) {
	_, err := trace.Parse(s)
	if err == nil {
		return
	}
	diag := c.src.At(path, err.Error())
	if pe, ok := err.(*trace.ParseError); ok {
		diag.Message = pe.Msg
		if n := c.src.node(path); n != nil && n.Line > 0 && !strings.Contains(n.Value, "\n") {
			col := n.Column + pe.Column - 1
			if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0 {
				col++
			}
			diag.Column = col
		}
	}
	c.diags = append(c.diags, diag)
}

func (c *testChecker) checkExpect(path string, e *Expect) {
	if e == nil {
		return
	}
	if e.Verdict != "" && !slices.Contains(testVerdicts, e.Verdict) {
		c.at(join(path, "verdict"), "verdict %q: use accept, drop or partial", e.Verdict)
	}
	if e.Verdict == "" && e.Entry == nil && !e.Delivered.Set() && !e.Accepted.Set() {
		c.at(path, "expect names at least one of verdict, entry, delivered, accepted")
	}
}
