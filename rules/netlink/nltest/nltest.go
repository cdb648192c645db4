// Package nltest is the kernel test machinery shared by rules/netlink and
// internal/device: throw-away named network namespaces and the nft tool
// run inside them. Tests skip when the process cannot create namespaces,
// and fail instead under DEVFENCE_KERNEL_TESTS=require (netlab's policy).
package nltest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/devfence/devfence/internal/nsthread"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/devfence/devfence/compiler"
	"github.com/devfence/devfence/internal/netlab"
	"github.com/devfence/devfence/internal/pipeline"
	"github.com/devfence/devfence/rules"
)

// Dir is where the namespaces are bind-mounted, as `ip netns` does.
const Dir = "/var/run/netns"

var (
	seq       atomic.Uint64
	staleOnce sync.Once
)

// NS creates a fresh, empty network namespace named after the test and
// removes it when the test ends. It skips (or fails, see above) when the
// process lacks the privileges.
func NS(t testing.TB) string {
	t.Helper()
	netlab.RequireKernel(t)
	// netlab's naming (dfl<pid>-<seq>-<host>, host "nl"), so that its
	// RemoveStale also clears what a crashed test binary left.
	staleOnce.Do(func() { netlab.RemoveStale() }) //nolint:errcheck // best effort
	name := fmt.Sprintf("%s%d-%d-nl", netlab.NamePrefix, os.Getpid(), seq.Add(1))
	if err := create(name); err != nil {
		t.Fatalf("create network namespace %s: %v", name, err)
	}
	t.Cleanup(func() {
		if err := remove(name); err != nil {
			t.Errorf("remove network namespace %s: %v", name, err)
		}
	})
	return name
}

// create makes /var/run/netns/NAME; unsharing moves the calling thread, so
// it runs on a thread nsthread moves back.
func create(name string) error {
	return nsthread.Locked(func() error {
		h, err := netns.NewNamed(name)
		if err == nil {
			h.Close()
		}
		return err
	})
}

func remove(name string) error {
	p := filepath.Join(Dir, name)
	if err := unix.Unmount(p, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// Do runs fn on a thread inside the namespace (internal/nsthread). Sockets
// fn creates stay in the namespace.
func Do(ns string, fn func() error) error {
	f, err := os.Open(filepath.Join(Dir, ns))
	if err != nil {
		return err
	}
	defer f.Close()
	return nsthread.Do(int(f.Fd()), fn)
}

// Start starts cmd inside the namespace: a child inherits the network
// namespace of the thread that forks it.
func Start(ns string, cmd *exec.Cmd) error { return Do(ns, cmd.Start) }

// Run runs a command in the namespace with stdin and returns its stdout;
// stderr is part of the error.
func Run(ns, stdin, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := Start(ns, cmd); err != nil {
		return "", fmt.Errorf("%s: %w", name, err)
	}
	if err := cmd.Wait(); err != nil {
		return out.String(), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}

// RequireNFT skips (or fails) the test unless the nft tool is installed.
func RequireNFT(t testing.TB) {
	t.Helper()
	netlab.RequireTool(t, "nft")
}

// NFT runs nft in the namespace and fails the test on error.
func NFT(t testing.TB, ns, stdin string, args ...string) string {
	t.Helper()
	out, err := Run(ns, stdin, "nft", args...)
	if err != nil {
		t.Fatalf("netns %s: %v", ns, err)
	}
	return out
}

// ListJSON is `nft -j list table FAMILY NAME` decoded, with the handles
// (which depend on the order objects were created in) removed, for a
// semantic comparison.
func ListJSON(t testing.TB, ns, family, name string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(NFT(t, ns, "", "-j", "list", "table", family, name)), &v); err != nil {
		t.Fatalf("nft -j list: %v", err)
	}
	return StripHandles(v)
}

// StripHandles removes "handle" members and the metainfo object (nft's
// version), recursively.
func StripHandles(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, x := range v {
			if k == "handle" || k == "metainfo" {
				continue
			}
			out[k] = StripHandles(x)
		}
		return out
	case []any:
		out := make([]any, 0, len(v))
		for _, x := range v {
			if m, ok := x.(map[string]any); ok && len(m) == 1 && m["metainfo"] != nil {
				continue
			}
			out = append(out, StripHandles(x))
		}
		return out
	}
	return v
}

// Examples lists the top-level example profiles (examples/*.yaml).
func Examples(t testing.TB) []string {
	t.Helper()
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	paths, err := filepath.Glob(filepath.Join(root, "examples", "*.yaml"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no examples under %s: %v", root, err)
	}
	return paths
}

// Compile builds a profile the way the CLI does (load, compile; policies
// are the pipeline's concern and host names stay unresolved).
func Compile(t testing.TB, path string) *rules.Table {
	t.Helper()
	res, err := pipeline.Build(context.Background(), path, pipeline.Options{Load: compiler.LoadOptions{MaxSize: 1 << 30}})
	if err != nil {
		t.Fatalf("compile %s: %v", path, err)
	}
	return res.Table
}

// Prober finds out what the running kernel has (rules/netlink's Probe).
// The kernel tests of packages that can import rules/netlink set it in an
// init function; nltest cannot import that package itself, whose own
// tests use nltest.
var Prober func(t testing.TB) (*rules.Kernel, error)

var probed struct {
	once sync.Once
	k    *rules.Kernel
	err  error
}

// Fit lowers tbl to what the running kernel has, as apply does (e.g.
// clear-to-send without @ih below Linux 5.16), so that kernel tests
// exercise on every kernel the table devfence would put in force there.
// The kernel is probed once per test binary.
func Fit(t testing.TB, tbl *rules.Table) *rules.Table {
	t.Helper()
	if Prober == nil {
		t.Fatal("nltest.Fit: no Prober registered")
	}
	probed.once.Do(func() { probed.k, probed.err = Prober(t) })
	if probed.err != nil {
		t.Fatalf("probe the kernel: %v", probed.err)
	}
	low, err := rules.Lower(tbl, probed.k)
	if err != nil {
		t.Fatalf("fit table %s to kernel %s: %v", tbl.Ref(), probed.k.Release, err)
	}
	return low
}

func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}
