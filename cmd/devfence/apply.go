package main

import (
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/devfence/devfence/compiler"
	"github.com/devfence/devfence/internal/device"
	"github.com/devfence/devfence/internal/pipeline"
	"github.com/devfence/devfence/rules"
	"github.com/devfence/devfence/rules/netlink"
)

func init() {
	commands = append(commands, &cli.Command{
		Name:      "apply",
		Usage:     "put the profile's table in force in one netlink transaction",
		ArgsUsage: "PROFILE",
		Description: `Validates and compiles PROFILE exactly as compile does, reads the live table
and, only if it differs, replaces it in one netlink transaction: the kernel
takes the whole table or, if it refuses any part, keeps the old one. An
unchanged profile sends nothing, so consenting peers and quota use survive a
re-apply. No other table is touched, and no nft binary is needed.

Before replacing, the live table (or the fact that there was none) is saved
in --state-dir; devfence rollback restores it.

--confirm D guards a remote change: the previous table is saved in
--state-dir, the new one is applied, and apply waits D for "devfence confirm"
(from another shell). Without it, the previous table is put back (or the
table removed, if there was none) and apply exits 2. The same happens at
once on SIGHUP (the SSH session drops), SIGINT or SIGTERM. A guard process
in a session of its own restores the table at the deadline even if apply is
killed; after a reboot, "devfence rollback --if-pending" at boot does.

--dry-run prints what diff prints and a plan summary such as
"+12 -3 rules, 2 sets changed, 1 element added", and changes nothing: it
only reads the table (no transaction, no lock, no state written), and exits
as diff does: 0 no change, 1 apply would change the table, 2 trouble. After
a change, apply prints the same summary.

--format json prints the result as one object (docs/JSON.md): with
--dry-run diff's, else what was sent.

Needs CAP_NET_ADMIN (and CAP_SYS_ADMIN with --netns).

Exit status: 0 applied, confirmed, or nothing to change; 1 the profile is
invalid or denied, or (--dry-run) the table would change; 2 usage, privileges, kernel refusal, a pending
unconfirmed apply, or no confirmation in time (the old table is back).

Examples:
   devfence apply examples/baby-monitor.yaml
   devfence apply --dry-run examples/baby-monitor.yaml        the plan; nothing changes
   devfence apply --confirm 60s /etc/devfence/profile.yaml    then: devfence confirm
   devfence apply --netns camera examples/baby-monitor.yaml`,
		Flags: append(append(profileFlags(), netnsFlag(), stateDirFlag(),
			&cli.DurationFlag{Name: "confirm", Usage: "wait `D` for devfence confirm, else put the previous table back"},
			&cli.BoolFlag{Name: "dry-run", Usage: "print the diff and plan summary, change nothing; exit 1 if apply would change the table"},
		), formatFlags(false)...),
		Action: applyAction,
	})
	commands = append(commands, &cli.Command{
		Name:  "confirm",
		Usage: "keep the table a waiting apply --confirm put in force",
		Description: `Tells the apply --confirm that is waiting (or was interrupted) that its
table may stay. The table it replaced becomes what devfence rollback
restores.

Exit status: 0 confirmed; 2 nothing is waiting for confirmation, or I/O error.`,
		Flags:  append([]cli.Flag{netnsFlag(), stateDirFlag(), tableFlag()}, formatFlags(false)...),
		Action: confirmAction,
	})
	commands = append(commands, &cli.Command{
		Name:   guardCommand,
		Usage:  "internal: started by apply --confirm to restore the previous table at the deadline",
		Hidden: true,
		Flags: []cli.Flag{netnsFlag(), stateDirFlag(), tableFlag(),
			&cli.StringFlag{Name: "id", Required: true, Usage: "the pending apply to guard"}},
		Action: guardAction,
	})
}

// guardCommand is the hidden command apply --confirm starts detached.
const guardCommand = "confirm-guard"

func tableFlag() cli.Flag {
	return &cli.StringFlag{Name: "table", Value: compiler.DefaultTable, Usage: "name of the table (family inet) devfence owns"}
}

// netnsFlag selects the network namespace a command acts in.
func netnsFlag() cli.Flag {
	return &cli.StringFlag{Name: "netns", Usage: "act in network namespace `NAME` (under " + netlink.NetNSDir + ")"}
}

func stateDirFlag() cli.Flag {
	return &cli.StringFlag{Name: "state-dir", Value: device.DefaultStateDir,
		Usage: "keep the previous table and the pending confirmation in `DIR` (created 0700)"}
}

// openKernel connects to nf_tables where --netns says.
func openKernel(c *cli.Context) (kernelConn, error) {
	conn, err := dial(c.String("netns"))
	if err != nil {
		return nil, kernelError(c, err)
	}
	return conn, nil
}

func dial(netns string) (kernelConn, error) {
	conn, err := openConn(netns)
	if err != nil {
		return nil, err
	}
	// Opening a netlink socket needs no privilege; the first request does.
	// Asking now puts a missing capability before anything else.
	if _, err := conn.Generation(); err != nil {
		conn.Close()
		return nil, err
	}
	return conn, nil
}

// kernelError reports a missing privilege as the one line that matters,
// "devfence needs CAP_NET_ADMIN (run as root)", whichever step met it.
func kernelError(c *cli.Context, err error) error {
	if errors.Is(err, netlink.ErrPermission) {
		fmt.Fprintln(c.App.ErrWriter, netlink.ErrPermission.Error())
		return exitWith{code: exitUsage}
	}
	return err
}

// build validates and compiles PROFILE the way compile does.
func build(c *cli.Context, path string) (*pipeline.Result, error) {
	opt, err := pipelineOptions(c)
	if err != nil {
		return nil, err
	}
	res, err := pipeline.Build(c.Context, path, opt)
	if err == nil {
		warn(c, res.Warnings)
	}
	return res, err
}

func applyAction(c *cli.Context) error {
	path, err := oneProfile(c)
	if err != nil {
		return err
	}
	if c.IsSet("confirm") && c.Duration("confirm") <= 0 {
		return usageError{fmt.Errorf("--confirm %s: the time to wait must be positive", c.Duration("confirm"))}
	}
	if c.Bool("dry-run") && c.IsSet("confirm") {
		return usageError{errors.New("--dry-run changes nothing, so there is nothing to --confirm")}
	}
	format, err := outputFormat(c)
	if err != nil {
		return err
	}
	limitMemory()
	// Read the live table while the profile compiles: both take time
	// with a large table (a 100,000-element set dumps in ~0.4s).
	pre := make(chan prefetched, 1)
	go func() {
		conn, err := dial(c.String("netns"))
		p := prefetched{kernelConn: conn, err: err, family: "inet", name: c.String("table")}
		if err == nil {
			g0, err0 := conn.Generation()
			p.live, p.liveErr = conn.Read(p.family, p.name)
			g1, err1 := conn.Generation()
			p.gen, p.genOK = g1, err0 == nil && err1 == nil && g0 == g1
		}
		pre <- p
	}()
	start := time.Now()
	res, err := build(c, path)
	k := <-pre
	if k.kernelConn != nil {
		defer k.kernelConn.Close()
	}
	if err != nil {
		return err
	}
	compiled := time.Since(start)
	if k.err != nil {
		return kernelError(c, k.err)
	}
	table, err := fitKernel(k.kernelConn, res.Table)
	if err != nil {
		return kernelError(c, err)
	}
	// Only the table is needed from here: the typed profile (5 MB at
	// 100,000 network entries) would otherwise stay live through the
	// netlink encoding, the peak of a large apply.
	res.Profile = nil
	if c.Bool("dry-run") {
		// Reads only: the prefetched table if the generation has not
		// moved, else a new read. No lock, no state, no transaction.
		d, err := readDiff(c, &k, table, path)
		if err != nil {
			return err
		}
		return printDiff(c, format, d, true)
	}
	// Read again after compiling: a file edited in between is recorded
	// with its new digest, which status then shows as not matching.
	sum, err := fileSHA256(path)
	if err != nil {
		return err
	}
	opt := device.Options{
		Confirm:       c.Duration("confirm"),
		StateDir:      c.String("state-dir"),
		Profile:       path,
		ProfileSHA256: sum,
		Progress:      c.App.ErrWriter,
	}
	if opt.Confirm > 0 {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("find the devfence binary for the confirmation guard: %w", err)
		}
		opt.Guard = []string{exe, guardCommand}
		if ns := c.String("netns"); ns != "" {
			opt.Guard = append(opt.Guard, "--netns", ns)
		}
	}
	r, err := device.Apply(&k, table, opt)
	if err != nil {
		return kernelError(c, err)
	}
	if format == formatJSON {
		return printJSON(c, newApplyResult(res.Table.Ref(), c.String("netns"), path, r, compiled))
	}
	msg := r.Summary()
	if r.Changed {
		msg += fmt.Sprintf(" (profile compiled in %s)", compiled.Round(time.Millisecond))
	}
	if r.Confirmed {
		msg = "confirmed: the new table stays in force"
	}
	say(c, info, "%s", msg)
	if r.Changed {
		say(c, info, "plan: %s", r.Plan)
	}
	return nil
}

// applyMemoryLimit is the Go runtime's soft memory limit during apply
// unless GOMEMLIMIT says otherwise. A large apply makes its garbage in
// bursts (the YAML tree of the load, the netlink messages of the batch)
// and by default the heap may grow to twice what is live before the
// collector runs; on a device that, not the live data, is the peak RSS.
// Under the limit the collector runs earlier only when the heap nears it:
// a small profile never does, and at 100,000 network entries (about 25 MB
// live at most) peak RSS falls from about 60 MB to 36 MB with no
// measurable cost in wall time (docs/BENCHMARKS.md). Live data above the
// limit is not an error: the collector then runs more often, its CPU
// share capped by the runtime.
const applyMemoryLimit = 30 << 20

func limitMemory() {
	if _, set := os.LookupEnv("GOMEMLIMIT"); !set {
		debug.SetMemoryLimit(applyMemoryLimit)
	}
}

// confirmResult is confirm's JSON (docs/JSON.md); a failed confirm
// prints no JSON, only its error and exit status.
type confirmResult struct {
	Table     string `json:"table"`
	NetNS     string `json:"netns,omitempty"`
	Confirmed bool   `json:"confirmed"`
}

// applyResult is apply's JSON (docs/JSON.md).
type applyResult struct {
	Table   string `json:"table"`
	NetNS   string `json:"netns,omitempty"`
	Profile string `json:"profile"`
	// Changed: a transaction was sent (false: the table already matched).
	Changed bool        `json:"changed"`
	Plan    device.Plan `json:"plan"`
	Sent    struct {
		Sets     int `json:"sets"`
		Elements int `json:"elements"`
		Chains   int `json:"chains"`
		Rules    int `json:"rules"`
		Messages int `json:"messages"`
	} `json:"sent"`
	// Confirmed is set with --confirm only (apply exits 2 otherwise).
	Confirmed bool    `json:"confirmed,omitempty"`
	CompileS  float64 `json:"compile_s"`
	ApplyS    float64 `json:"apply_s"`
}

func newApplyResult(table, netns, profile string, r device.Result, compiled time.Duration) applyResult {
	a := applyResult{Table: table, NetNS: netns, Profile: profile, Changed: r.Changed, Plan: r.Plan,
		Confirmed: r.Confirmed, CompileS: seconds(compiled), ApplyS: seconds(r.Elapsed)}
	a.Sent.Sets, a.Sent.Elements, a.Sent.Chains = r.Stats.Sets, r.Stats.Elements, r.Stats.Chains
	a.Sent.Rules, a.Sent.Messages = r.Stats.Rules, r.Stats.Messages
	return a
}

// seconds is a measured duration in JSON: seconds, to the millisecond.
func seconds(d time.Duration) float64 { return d.Round(time.Millisecond).Seconds() }

func confirmAction(c *cli.Context) error {
	if c.NArg() > 0 {
		return usageError{errors.New("confirm takes no arguments")}
	}
	format, err := outputFormat(c)
	if err != nil {
		return err
	}
	ns, err := device.NSKey(c.String("netns"))
	if err != nil {
		return err
	}
	t := device.Target{NetNS: ns, Family: "inet", Name: c.String("table")}
	if err := device.Confirm(c.String("state-dir"), t); err != nil {
		return err
	}
	if format == formatJSON {
		return printJSON(c, confirmResult{Table: "inet " + t.Name, NetNS: c.String("netns"), Confirmed: true})
	}
	say(c, info, "confirmed: the new table stays in force")
	return nil
}

func guardAction(c *cli.Context) error {
	conn, err := openKernel(c)
	if err != nil {
		return err
	}
	defer conn.Close()
	return device.Guard(conn, device.GuardOptions{
		StateDir: c.String("state-dir"), Family: "inet", Name: c.String("table"), ID: c.String("id"),
		Progress: c.App.ErrWriter,
	})
}

// prefetched is a kernel connection whose first Read of the table was
// done ahead, concurrently with compiling the profile, and before the
// state lock: it is used only if no batch was committed in the namespace
// since (the ruleset generation did not move), else the table is read
// again.
type prefetched struct {
	kernelConn
	err          error // opening the connection
	family, name string
	live         *rules.Table
	liveErr      error
	gen          uint32
	genOK        bool // gen is the generation the whole read saw
	used         bool
}

func (p *prefetched) Read(family, name string) (*rules.Table, error) {
	if !p.used && family == p.family && name == p.name {
		p.used = true
		if g, err := p.kernelConn.Generation(); err == nil && p.genOK && g == p.gen {
			return p.live, p.liveErr
		}
	}
	return p.kernelConn.Read(family, name)
}
