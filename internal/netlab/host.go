package netlab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
)

// DefaultExecTimeout bounds Exec and ExecInput.
const DefaultExecTimeout = 20 * time.Second

// Host is one network namespace of the lab with a single interface (eth0)
// on the lab's L2 segment. All fields are read-only.
type Host struct {
	Name    string // role: "device", "viewer", "lan2", "cloud", "attacker", "victim0", ...
	NetNS   string // namespace name under /var/run/netns, for --netns / ip netns exec
	Segment string // SegmentLAN, SegmentCloud or SegmentOutside
	IfName  string // "eth0"

	V4, V6           netip.Addr   // the host's addresses
	Prefix4, Prefix6 netip.Prefix // its segment's prefixes

	lab *Lab
	ns  *namedNS
}

func (h *Host) String() string { return fmt.Sprintf("%s(%s,%s)", h.Name, h.V4, h.V6) }

// Lab returns the lab the host belongs to.
func (h *Host) Lab() *Lab { return h.lab }

// Addr returns the host's address of family f.
func (h *Host) Addr(f Family) netip.Addr {
	if f == IPv6 {
		return h.V6
	}
	return h.V4
}

// Addrs returns the host's addresses, IPv4 first.
func (h *Host) Addrs() []netip.Addr { return []netip.Addr{h.V4, h.V6} }

// NSPath returns the bind-mount path of the host's namespace.
func (h *Host) NSPath() string { return filepath.Join(NetNSDir, h.NetNS) }

// NSFd returns an open file descriptor of the host's namespace, e.g. for
// nftables.New(nftables.WithNetNSFd(h.NSFd())). It is owned by the lab and
// closed by Close (-1 afterwards); do not close it.
func (h *Host) NSFd() int { return h.ns.fd() }

// Do runs fn on a locked OS thread inside the host's namespace and restores
// the thread's original namespace afterwards (see doInNS). Sockets created
// by fn stay in the namespace and may be used from any goroutine afterwards.
// Goroutines started by fn are NOT in the namespace; fn must not call
// runtime.UnlockOSThread or t.FailNow.
func (h *Host) Do(fn func() error) error { return h.ns.do(fn) }

// Exec runs a command inside the host's namespace (network namespace only;
// mount/PID namespaces are shared) and returns its combined stdout+stderr.
// It is bounded by DefaultExecTimeout. A non-zero exit is an error that
// includes the output.
func (h *Host) Exec(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), DefaultExecTimeout)
	defer cancel()
	return h.ExecContext(ctx, nil, name, args...)
}

// ExecInput is Exec with stdin, e.g. h.ExecInput(ruleset, "nft", "-f", "-").
func (h *Host) ExecInput(stdin string, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), DefaultExecTimeout)
	defer cancel()
	return h.ExecContext(ctx, strings.NewReader(stdin), name, args...)
}

// ExecContext runs a command inside the host's namespace until it exits or
// ctx is done (then its whole process group is killed).
func (h *Host) ExecContext(ctx context.Context, stdin io.Reader, name string, args ...string) (string, error) {
	var out bytes.Buffer
	cmd := h.command(ctx, name, args...)
	cmd.Stdin = stdin
	cmd.Stdout = &out
	cmd.Stderr = &out
	// Only the fork must happen inside the namespace (the child inherits the
	// forking thread's namespace); waiting happens on the caller's thread.
	if err := h.Do(cmd.Start); err != nil {
		return "", fmt.Errorf("netlab: %s: start %s: %w", h.Name, name, err)
	}
	err := cmd.Wait()
	if err != nil {
		return out.String(), fmt.Errorf("netlab: %s: %s %s: %w: %s",
			h.Name, name, strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return out.String(), nil
}

func (h *Host) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	// Own process group so the whole tree can be killed; SIGKILL if the
	// forking thread (hence normally the test process) dies.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return killGroup(cmd) }
	cmd.WaitDelay = 2 * time.Second
	return cmd
}

func killGroup(cmd *exec.Cmd) error {
	if cmd.Process == nil {
		return nil
	}
	err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	if errors.Is(err, syscall.ESRCH) {
		return nil
	}
	return err
}

// Proc is a background process started by StartProcess inside a host
// namespace. The lab kills it on Close.
type Proc struct {
	Cmd  *exec.Cmd
	host *Host
	out  lockedBuffer
	done chan struct{}
	err  error // valid after done is closed
}

// StartProcess starts a long-running command (e.g. iperf3 -s, socat) in the
// host's namespace. Its combined output is available via Output. The lab
// kills its process group on Close; Stop does it earlier.
func (h *Host) StartProcess(name string, args ...string) (*Proc, error) {
	p := &Proc{host: h, done: make(chan struct{})}
	p.Cmd = h.command(context.Background(), name, args...)
	p.Cmd.Stdout = &p.out
	p.Cmd.Stderr = &p.out
	if err := h.lab.track(p); err != nil {
		return nil, err
	}
	if err := h.Do(p.Cmd.Start); err != nil {
		h.lab.untrack(p)
		return nil, fmt.Errorf("netlab: %s: start %s: %w", h.Name, name, err)
	}
	go func() {
		p.err = p.Cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// Pid returns the process id.
func (p *Proc) Pid() int { return p.Cmd.Process.Pid }

// Output returns what the process has written to stdout/stderr so far.
func (p *Proc) Output() string { return p.out.String() }

// Done is closed when the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Wait waits up to timeout for the process to exit and returns its exit
// error, or ErrTimeout.
func (p *Proc) Wait(timeout time.Duration) error {
	select {
	case <-p.done:
		return p.err
	case <-time.After(timeout):
		return fmt.Errorf("netlab: %s: pid %d still running: %w", p.host.Name, p.Pid(), ErrTimeout)
	}
}

// Stop kills the process group and waits (bounded) for it to be reaped.
func (p *Proc) Stop() error {
	defer p.host.lab.untrack(p)
	select {
	case <-p.done:
		return nil
	default:
	}
	if err := killGroup(p.Cmd); err != nil {
		return fmt.Errorf("netlab: kill pid %d: %w", p.Pid(), err)
	}
	select {
	case <-p.done:
		return nil
	case <-time.After(5 * time.Second):
		return fmt.Errorf("netlab: pid %d did not exit after SIGKILL", p.Pid())
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// waitCarrier polls (bounded) until eth0 reports carrier.
func (h *Host) waitCarrier(timeout time.Duration) error {
	return Poll(timeout, 5*time.Millisecond, func() (bool, error) {
		var up bool
		err := h.Do(func() error {
			nl, err := netlink.NewHandle()
			if err != nil {
				return err
			}
			defer nl.Close()
			l, err := nl.LinkByName(h.IfName)
			if err != nil {
				return err
			}
			a := l.Attrs()
			up = a.RawFlags&syscall.IFF_RUNNING != 0 && a.OperState == netlink.OperUp
			return nil
		})
		return up, err
	})
}
