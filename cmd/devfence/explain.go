//go:build !nopolicy

package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/devfence/devfence/internal/pipeline"
	"github.com/devfence/devfence/rules/trace"
)

func init() {
	commands = append(commands, &cli.Command{
		Name:      "explain",
		Usage:     "trace packets through a profile's ruleset, offline, and show the deciding entry",
		ArgsUsage: "PROFILE PACKET [PACKET | 'wait DURATION']...",
		Description: `Compiles PROFILE and sends each PACKET through the input or output chain of
the table, as the kernel would evaluate it, without a kernel: every rule the
packet met, why it went on, what it changed (sets, quotas, marks), and the
rule that decided, with its comment, the profile entry it came from. Several
PACKETs are a sequence: conntrack, consent and quotas carry over, and
'wait 31s' moves the simulated clock. The packet grammar is in
docs/EXPLAIN.md.

The device has the addresses given with --addr (default 192.0.2.10 and
2001:db8:1::10); a packet that leaves the device's side out is sent from or
to the device's address of the other side's family.

With -v, every rule's statements are shown too.

Exit status: 0 explained (whatever the verdict); 1 the profile is invalid or
denied; 2 usage error, a packet that does not parse, or a rule the tracer
cannot interpret.

Examples:
   devfence explain cam.yaml 'in tcp 198.51.100.7:40000 > 23 new'
   devfence explain cam.yaml 'out udp > 203.0.113.9:5000 bytes 70000'
   devfence explain cam.yaml 'in tcp 192.168.1.20 > 8443 syn' 'out tcp 8443 > 192.168.1.20 syn,ack' \
       'in tcp 192.168.1.20 > 8443 ack' 'out tcp 8443 > 192.168.1.20 size 100' \
       'in tcp 192.168.1.20 > 8443 ack' 'out udp > 192.168.1.20:5000 bytes 1MiB' 'wait 31s' \
       'out udp > 192.168.1.20:5000 bytes 1MiB'`,
		Flags:  append(profileFlags(), addrFlag(), resolveFlag(), formatFlags(false)[0]),
		Action: explainAction,
	})
}

// explainStep is one argument after PROFILE: a packet, or a wait.
type explainStep struct {
	arg  string
	spec trace.Spec
	wait time.Duration
}

func parseSteps(args []string) ([]explainStep, error) {
	var steps []explainStep
	for i, a := range args {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(a), "wait "); ok {
			d, err := time.ParseDuration(strings.TrimSpace(rest))
			if err != nil || d <= 0 {
				return nil, usageError{fmt.Errorf("argument %d: %q: wait takes a positive duration such as 31s", i+2, a)}
			}
			steps = append(steps, explainStep{arg: a, wait: d})
			continue
		}
		spec, err := parsePacket(a)
		if err != nil {
			return nil, exitWith{code: exitUsage, msg: fmt.Sprintf("packet %d: %v", i+1, err)}
		}
		steps = append(steps, explainStep{arg: a, spec: spec})
	}
	return steps, nil
}

func explainAction(c *cli.Context) error {
	if c.NArg() < 2 {
		return usageError{fmt.Errorf("explain needs a PROFILE and at least one PACKET, got %d arguments", c.NArg())}
	}
	format, err := outputFormat(c)
	if err != nil {
		return err
	}
	addrs, err := deviceAddrs(c)
	if err != nil {
		return err
	}
	steps, err := parseSteps(c.Args().Slice()[1:])
	if err != nil {
		return err
	}
	path := c.Args().First()
	opt, err := pipelineOptions(c)
	if err != nil {
		return err
	}
	res, err := pipeline.Build(c.Context, path, opt)
	if err != nil {
		return err
	}
	warn(c, res.Warnings)
	warnUnresolved(c, path, res)
	tr := trace.New(res.Table, addrs)
	_, verbose := verbosity(c)
	type explainJSON struct {
		Profile   string    `json:"profile"`
		Table     string    `json:"table"`
		Addresses []string  `json:"addresses"`
		Steps     []runView `json:"steps"`
	}
	out := explainJSON{Profile: path, Table: res.Table.Ref(), Steps: []runView{}}
	for _, a := range addrs {
		out.Addresses = append(out.Addresses, a.String())
	}
	var text strings.Builder
	packets := 0
	for _, s := range steps {
		if s.wait > 0 {
			tr.Advance(s.wait)
			continue
		}
		packets++
		rs, err := tr.Run(s.spec)
		if err != nil {
			return exitWith{code: exitUsage, msg: fmt.Sprintf("%s: packet %q: %v", path, s.arg, err)}
		}
		out.Steps = append(out.Steps, viewRun(s.arg, tr.Now(), rs))
		if text.Len() > 0 {
			text.WriteString("\n")
		}
		if len(steps) > 1 {
			fmt.Fprintf(&text, "== %d at %s: %s\n", packets, tr.Now(), s.arg)
		}
		detail := trace.Walk
		if verbose {
			detail = trace.Statements
		}
		trace.WriteRun(&text, rs, detail)
	}
	if format == formatJSON {
		return printTraceJSON(c, out)
	}
	_, err = fmt.Fprint(c.App.Writer, text.String())
	return err
}
