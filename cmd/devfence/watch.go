package main

import (
	"errors"
	"fmt"
	"math"
	"os"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/devfence/devfence/compiler"
	"github.com/devfence/devfence/internal/nflog"
	"github.com/devfence/devfence/internal/pipeline"
	"github.com/devfence/devfence/rules/netlink"
)

func init() {
	commands = append(commands, &cli.Command{
		Name:  "watch",
		Usage: "print the packets the table drops, live, and why",
		Description: `Subscribes to the NFLOG group that the table's log rules send dropped
packets to, and prints one line per packet: time, direction (in/out),
protocol, peer address, destination port (the device's own port for in),
and why it was dropped. --format json prints the same, plus both addresses and
ports, as one object per line. The table logs at most log.drops packets per
chain, so a flood shows as a sample.

Why:
   unsolicited inbound   input drop: no connection of the device's, essential
                         or inbound service accepted it
   not allowed           output drop: no rule of the profile allows this
                         destination, protocol and port
   quota spent           a rule allows it, but the peer's byte budget (or
                         egress.total) for the window is used up
   table full            a rule allows it, but its quota set already tracks
                         limits.peers peers, so a new peer is refused
   dropped               output drop without --profile: one of the three above

--syslog sends each line (text, or JSON with --format json) to the local
syslog instead of stdout, facility daemon, priority notice, tag devfence,
so that watch can run as a service and the drops persist in the system log
(see docs/DEVICES.md for a systemd unit).

The table logs every output drop with the same prefix, so telling the last
three apart needs --profile: the watcher matches the packet against the
profile's metered rules and reads the matching quota set from the kernel
when the log arrives (the peer's element over budget: quota spent; no
element while the set is full: table full). A quota window that ends between
the drop and that read hides a spent quota. The profile must be the one in
force, under the same --table.

Needs CAP_NET_ADMIN (and CAP_SYS_ADMIN with --netns). Ctrl-C or SIGTERM stops.

Exit status: 0 stopped by a signal; 1 --profile is invalid; 2 usage,
privileges or kernel errors.

Examples:
   devfence watch --profile examples/baby-monitor.yaml
   devfence watch --netns camera --format json --group 3
   ip netns exec camera devfence watch --profile camera.yaml | grep quota
   devfence watch --syslog --profile /etc/devfence/profile.yaml      (as a service)`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "netns", Usage: "watch the device in network namespace `NAME` (under " + nflog.NetNSDir + ")"},
			&cli.IntFlag{Name: "group", Usage: "read NFLOG group `N`", DefaultText: "the live table's, else the profile's log.group, else 0"},
			&cli.StringFlag{Name: "profile", Usage: "the `PROFILE` in force: tells not allowed from quota spent and table full"},
			&cli.StringFlag{Name: "table", Value: compiler.DefaultTable, Usage: "name of the table (family inet) whose quota sets are read"},
			&cli.Int64Flag{Name: "max-size", Value: compiler.DefaultMaxSize, Usage: "refuse profile files larger than this many `BYTES`"},
			&cli.StringFlag{Name: "format", Value: formatText, Usage: "print `FORMAT`: text, or json for one JSON object per line (docs/JSON.md)"},
			&cli.BoolFlag{Name: "json", Hidden: true, Usage: "deprecated: use --format json"},
			&cli.BoolFlag{Name: "syslog", Usage: "send each drop to syslog (daemon.notice, tag devfence) instead of stdout"},
			&cli.StringFlag{Name: "syslog-socket", Usage: "with --syslog, the syslog daemon's unix datagram socket `PATH`", DefaultText: "the system's, /dev/log"},
		},
		Action: watchAction,
	})
}

func watchAction(c *cli.Context) error {
	if c.NArg() != 0 {
		return usageError{fmt.Errorf("watch takes no arguments (the profile goes with --profile), got %q", c.Args().First())}
	}
	format, err := outputFormat(c)
	if err != nil {
		return err
	}
	opt := nflog.Options{NetNS: c.String("netns")}
	group, from := 0, "the default"
	if path := c.String("profile"); path != "" {
		// No policy check: watching a table applied with --no-policy is
		// as useful as any other.
		res, err := pipeline.Build(c.Context, path, pipeline.Options{
			Load:    compiler.LoadOptions{MaxSize: c.Int64("max-size")},
			Compile: compiler.Options{Table: c.String("table")},
		})
		if err != nil {
			return err
		}
		opt.Table, group, from = res.Table, res.Profile.Log.Group, path
		if res.Profile.Log.Drops.N == 0 {
			fmt.Fprintf(c.App.ErrWriter, "devfence: warning: %s has log.drops 0: its table logs no drops\n", path)
		}
	}
	if c.IsSet("group") {
		group = c.Int("group")
	} else if live, ok := liveGroup(c, opt.NetNS); ok {
		if from != "the default" && int(live) != group {
			fmt.Fprintf(c.App.ErrWriter, "devfence: warning: the table in force logs to NFLOG group %d, %s says %d: watching %d; is %s the profile in force?\n",
				live, from, group, live, from)
		}
		group, from = int(live), "the table in force"
	}
	say(c, detail, "NFLOG group %d from %s", group, from)
	if group < 0 || group > math.MaxUint16 {
		return usageError{fmt.Errorf("--group %d: an NFLOG group is 0..65535", group)}
	}
	opt.Group = uint16(group)
	opt.Warnf = func(format string, args ...any) {
		fmt.Fprintf(c.App.ErrWriter, "devfence: warning: "+format+"\n", args...)
	}

	emit := nflog.LineWriter(c.App.Writer, format == formatJSON)
	if c.Bool("syslog") {
		e, closeLog, err := syslogEmit(c.String("syslog-socket"), format == formatJSON)
		if err != nil {
			return exitWith{exitUsage, "watch: " + err.Error()}
		}
		defer closeLog()
		emit = e
	} else if c.IsSet("syslog-socket") {
		return usageError{errors.New("--syslog-socket needs --syslog")}
	}

	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	w, err := nflog.NewWatcher(opt)
	if err != nil {
		// Privileges (a *nflog.CapabilityError names the capability), a
		// missing namespace, a taken group: all exit 2.
		return exitWith{exitUsage, "watch: " + err.Error()}
	}
	defer w.Close()
	where := ""
	if opt.NetNS != "" {
		where = " in network namespace " + opt.NetNS
	}
	say(c, info, "watching NFLOG group %d%s; Ctrl-C stops", opt.Group, where)

	return w.Run(ctx, emit)
}

// liveGroup reads the NFLOG group that the table in force (--table, in
// --netns) logs to. It reports nothing when there is no such table, or it
// logs nothing, or it cannot be read: a missing capability is then reported
// by the watcher itself, with the group it tried.
func liveGroup(c *cli.Context, netns string) (uint16, bool) {
	conn, err := netlink.Open(netns)
	if err != nil {
		return 0, false
	}
	defer conn.Close()
	t, err := conn.Read("inet", c.String("table"))
	switch {
	case errors.Is(err, netlink.ErrNoTable):
		say(c, detail, "no table inet %s in force to take the NFLOG group from", c.String("table"))
		return 0, false
	case err != nil:
		if !errors.Is(err, netlink.ErrPermission) {
			fmt.Fprintf(c.App.ErrWriter, "devfence: warning: reading the NFLOG group of table inet %s: %v\n", c.String("table"), err)
		}
		return 0, false
	}
	group, ok, err := nflog.TableGroup(t)
	if err != nil {
		fmt.Fprintln(c.App.ErrWriter, "devfence: warning: "+err.Error())
	}
	return group, ok
}
