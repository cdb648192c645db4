// Package profiletest runs the cases of a test file (compiler.TestFile)
// against a compiled profile with the tracer, offline: what `devfence
// test` does. Each case starts from a fresh device.
package profiletest

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/devfence/devfence/compiler"
	"github.com/devfence/devfence/rules"
	"github.com/devfence/devfence/rules/trace"
)

// Case is the outcome of one case.
type Case struct {
	Name     string
	Failures []Failure
	// Trace is the decisive chain walk of every step, the text that
	// golden traces keep.
	Trace string
}

// Passed reports whether every expectation held.
func (c *Case) Passed() bool { return len(c.Failures) == 0 }

// Failure is one expectation that did not hold.
type Failure struct {
	Step   int    // from 1; 0 for the case's single packet and for traces
	Packet string // as written
	Field  string // verdict, entry, delivered, accepted, trace
	Want   string
	Got    string
	// Results are the step's packets, to show why; nil for traces.
	Results []*trace.Result
	// Diff is the golden trace's diff, for traces.
	Diff string
}

// Addrs are a test file's device addresses, or the default plan.
func Addrs(tf *compiler.TestFile) []netip.Addr {
	if len(tf.Addresses) == 0 {
		return trace.DefaultAddrs
	}
	out := make([]netip.Addr, 0, len(tf.Addresses))
	for _, a := range tf.Addresses {
		// LoadTests checked them.
		out = append(out, netip.MustParseAddr(a).Unmap())
	}
	return out
}

// Run runs every case of tf against table. An error is a packet the
// tracer cannot evaluate (a rule it cannot interpret, a packet it cannot
// place), not a failed expectation.
func Run(tf *compiler.TestFile, table *rules.Table) ([]Case, error) {
	addrs := Addrs(tf)
	var out []Case
	for i, tc := range tf.Cases {
		c, err := runCase(tc, table, addrs)
		if err != nil {
			return nil, fmt.Errorf("cases[%d] %q: %w", i, tc.Name, err)
		}
		out = append(out, c)
	}
	return out, nil
}

func runCase(tc compiler.TestCase, table *rules.Table, addrs []netip.Addr) (Case, error) {
	c := Case{Name: tc.Name}
	tr := trace.New(table, addrs)
	steps := tc.Steps
	if tc.Packet != "" {
		steps = []compiler.TestStep{{Packet: tc.Packet, Expect: tc.Expect}}
	}
	var text strings.Builder
	for i, s := range steps {
		n := i + 1
		if tc.Packet != "" {
			n = 0
		}
		if s.Wait != 0 {
			tr.Advance(time.Duration(s.Wait))
			fmt.Fprintf(&text, "-- wait %s\n", time.Duration(s.Wait))
			continue
		}
		written := s.Packet
		var rs []*trace.Result
		var err error
		if s.Connect != "" {
			written = s.Connect
			rs, err = connect(tr, s.Connect)
		} else {
			rs, err = run(tr, s.Packet)
		}
		if err != nil {
			return c, fmt.Errorf("%s: %w", written, err)
		}
		fmt.Fprintf(&text, "-- %s at %s: %s\n", stepName(n), tr.Now(), written)
		trace.WriteRun(&text, rs, trace.Decisive)
		if s.Expect != nil {
			c.Failures = append(c.Failures, check(n, written, *s.Expect, rs)...)
		}
	}
	c.Trace = text.String()
	return c, nil
}

func stepName(n int) string {
	if n == 0 {
		return "packet"
	}
	return fmt.Sprintf("step %d", n)
}

func run(tr *trace.Tracer, packet string) ([]*trace.Result, error) {
	spec, err := trace.Parse(packet)
	if err != nil {
		return nil, err
	}
	return tr.Run(spec)
}

// connect is a TCP handshake: SYN from the packet's source, SYN-ACK
// back, ACK.
func connect(tr *trace.Tracer, packet string) ([]*trace.Result, error) {
	spec, err := trace.Parse(packet)
	if err != nil {
		return nil, err
	}
	if spec.Proto != "tcp" {
		return nil, fmt.Errorf("connect is a TCP handshake; this is %s", spec.Proto)
	}
	back := spec
	back.Src, back.Dst = spec.Dst, spec.Src
	back.Hook = rules.HookInput
	if spec.Hook == rules.HookInput {
		back.Hook = rules.HookOutput
	}
	var out []*trace.Result
	for _, step := range []struct {
		spec  trace.Spec
		flags rules.TCPFlagBits
	}{{spec, rules.TCPSyn}, {back, rules.TCPSyn | rules.TCPAck}, {spec, rules.TCPAck}} {
		f := step.flags
		step.spec.Flags = &f
		rs, err := tr.Run(step.spec)
		if err != nil {
			return nil, err
		}
		out = append(out, rs...)
	}
	return out, nil
}

// check compares a step's outcome with its expectations.
func check(n int, packet string, e compiler.Expect, rs []*trace.Result) []Failure {
	s := trace.Summarize(rs)
	last := rs[len(rs)-1]
	var out []Failure
	fail := func(field, want, got string) {
		out = append(out, Failure{Step: n, Packet: packet, Field: field, Want: want, Got: got, Results: rs})
	}
	if v := string(trace.Verdict(rs)); e.Verdict != "" && e.Verdict != v {
		fail("verdict", e.Verdict, v)
	}
	if e.Entry != nil && *e.Entry != last.Entry() {
		fail("entry", *e.Entry, last.Entry())
	}
	if e.Delivered.Set() && !e.Delivered.Holds(s.Delivered) {
		fail("delivered", e.Delivered.String(), fmt.Sprint(s.Delivered))
	}
	if e.Accepted.Set() && !e.Accepted.Holds(uint64(s.Accepted)) {
		fail("accepted", e.Accepted.String(), fmt.Sprint(s.Accepted))
	}
	return out
}
