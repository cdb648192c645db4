//go:build !nopolicy

package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/devfence/devfence/internal/pipeline"
	"github.com/devfence/devfence/rules/trace"
)

// The JSON of a traced run, shared by explain and test (docs/JSON.md).

type runView struct {
	Packet         string      `json:"packet"`
	AtS            float64     `json:"at_s"`
	Packets        int         `json:"packets"`
	Accepted       int         `json:"accepted"`
	Bytes          uint64      `json:"bytes"`
	DeliveredBytes uint64      `json:"delivered_bytes"`
	Verdict        string      `json:"verdict"`
	Entry          string      `json:"entry"`
	Groups         []groupView `json:"groups"`
}

type groupView struct {
	First   int       `json:"first"`
	Last    int       `json:"last"`
	Verdict string    `json:"verdict"`
	Entry   string    `json:"entry"`
	Trace   traceView `json:"trace"`
}

type traceView struct {
	Packet    string     `json:"packet"`
	WireBytes int        `json:"wire_bytes"`
	Chain     string     `json:"chain"`
	Conntrack ctJSON     `json:"conntrack"`
	Rules     []ruleView `json:"rules"`
	Verdict   string     `json:"verdict"`
	Rule      int        `json:"rule,omitempty"`
}

type ctJSON struct {
	State     string   `json:"state"`
	Direction string   `json:"direction,omitempty"`
	Status    []string `json:"status"`
	Mark      string   `json:"mark"`
}

type ruleView struct {
	Index   int      `json:"index"`
	Comment string   `json:"comment"`
	Rule    string   `json:"rule"`
	Matched bool     `json:"matched"`
	Stop    string   `json:"stop,omitempty"`
	Metered bool     `json:"metered,omitempty"`
	Effects []string `json:"effects"`
}

func viewRun(packet string, at time.Duration, rs []*trace.Result) runView {
	s := trace.Summarize(rs)
	last := rs[len(rs)-1]
	v := runView{Packet: packet, AtS: at.Seconds(), Packets: s.Packets, Accepted: s.Accepted, Bytes: s.Bytes,
		DeliveredBytes: s.Delivered, Verdict: string(trace.Verdict(rs)), Entry: last.Entry(), Groups: []groupView{}}
	for _, g := range trace.Groups(rs) {
		v.Groups = append(v.Groups, groupView{First: g.First, Last: g.Last, Verdict: string(g.Trace.Verdict), Entry: g.Trace.Entry(), Trace: viewTrace(g.Trace)})
	}
	return v
}

func viewTrace(r *trace.Result) traceView {
	t := traceView{Packet: r.Packet.String(), WireBytes: r.Packet.Len(), Chain: r.Chain, Verdict: string(r.Verdict), Rules: []ruleView{},
		Conntrack: ctJSON{State: r.Ct.State, Direction: r.Ct.Direction, Status: r.Ct.Status, Mark: fmt.Sprintf("0x%x", r.Ct.Mark)}}
	if r.Decided != nil {
		t.Rule = r.Decided.Index
	}
	for _, rt := range r.Rules {
		effects := rt.Effects
		if effects == nil {
			effects = []string{}
		}
		t.Rules = append(t.Rules, ruleView{Index: rt.Index, Comment: rt.Comment, Rule: rt.Rule, Matched: rt.Matched, Stop: rt.Stop, Metered: rt.Metered, Effects: effects})
	}
	return t
}

func addrFlag() cli.Flag {
	var def []string
	for _, a := range trace.DefaultAddrs {
		def = append(def, a.String())
	}
	return &cli.StringSliceFlag{Name: "addr", Usage: "the device's own `ADDR`esses, for `fib saddr type local` and for packets that leave the device's side out (repeatable; default " + strings.Join(def, ", ") + ")"}
}

// deviceAddrs reads --addr, or the default plan.
func deviceAddrs(c *cli.Context) ([]netip.Addr, error) {
	list := c.StringSlice("addr")
	if len(list) == 0 {
		return trace.DefaultAddrs, nil
	}
	var out []netip.Addr
	for _, item := range list {
		for _, s := range strings.Split(item, ",") {
			a, err := netip.ParseAddr(strings.TrimSpace(s))
			if err != nil {
				return nil, usageError{fmt.Errorf("--addr %q: not an IP address", s)}
			}
			out = append(out, a.Unmap())
		}
	}
	return out, nil
}

// resolveFlag is compile's --resolve, for the tracing commands.
func resolveFlag() cli.Flag {
	return &cli.BoolFlag{Name: "resolve", Usage: "resolve host names in networks now; without it their sets are empty and match nothing"}
}

// warnUnresolved says that a profile's host names were left unresolved:
// the tracer would otherwise drop packets to them without a word.
func warnUnresolved(c *cli.Context, path string, res *pipeline.Result) {
	if hosts := res.Profile.Networks.Hosts(); len(hosts) > 0 && !c.Bool("resolve") && !c.IsSet("dns") {
		fmt.Fprintf(c.App.ErrWriter, "devfence: warning: %s: host names in networks (%s) are not resolved, so their sets are empty; --resolve fills them\n", path, strings.Join(hosts, ", "))
	}
}

// parsePacket reads one packet argument; a parse error shows the packet
// with a caret under the bad token.
func parsePacket(s string) (trace.Spec, error) {
	spec, err := trace.Parse(s)
	if pe, ok := err.(*trace.ParseError); ok {
		lines := strings.Split(pe.Caret(), "\n")
		return spec, fmt.Errorf("%s\n    %s\n    %s", pe.Error(), lines[0], lines[1])
	}
	return spec, err
}

// printTraceJSON is printJSON without HTML escapes: packets hold '>',
// which json.Marshal would write as \u003e.
func printTraceJSON(c *cli.Context, v any) error {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("render json: %w", err)
	}
	_, err := c.App.Writer.Write(b.Bytes())
	return err
}
