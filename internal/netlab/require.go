package netlab

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/devfence/devfence/internal/nsthread"

	"github.com/vishvananda/netns"
)

// Skip policy for kernel-level tests, shared by the whole project.
//
// EnvKernelTests (DEVFENCE_KERNEL_TESTS) controls what happens when a test
// needs namespaces/nftables (RequireKernel) or an external tool
// (RequireTool) that is not available:
//
//	unset / "auto"   skip the test with an explanation (default; keeps
//	                 "go test ./..." green for unprivileged developers)
//	"require"        fail the test instead (CI that runs as root must not
//	                 silently skip the security proofs)
//	"skip" / "off"   always skip kernel tests, even when running as root
const EnvKernelTests = "DEVFENCE_KERNEL_TESTS"

// Capability bits (linux/capability.h) needed by the lab.
const (
	capNetAdmin = 12 // links, addresses, routes, nftables
	capNetRaw   = 13 // raw sockets for forged packets
	capSysAdmin = 21 // setns, bind-mounting /var/run/netns
)

var (
	kernelOnce sync.Once
	kernelErr  error
)

// KernelAvailable reports (cached) whether this process can build labs: it
// needs CAP_NET_ADMIN, CAP_NET_RAW and CAP_SYS_ADMIN in its effective set
// (read from /proc/self/status CapEff) and must actually be able to create
// a network namespace (probed once with unshare on a locked thread that is
// moved back to its original namespace). nil means available.
func KernelAvailable() error {
	kernelOnce.Do(func() { kernelErr = probeKernel() })
	return kernelErr
}

func probeKernel() error {
	if runtime.GOOS != "linux" {
		return fmt.Errorf("network namespaces need Linux (running on %s)", runtime.GOOS)
	}
	capEff, err := readCapEff()
	if err != nil {
		return fmt.Errorf("cannot read effective capabilities: %w", err)
	}
	var missing []string
	for _, c := range []struct {
		bit  uint
		name string
	}{{capNetAdmin, "CAP_NET_ADMIN"}, {capNetRaw, "CAP_NET_RAW"}, {capSysAdmin, "CAP_SYS_ADMIN"}} {
		if capEff&(1<<c.bit) == 0 {
			missing = append(missing, c.name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("process lacks %s (run the tests as root, e.g. sudo go test)", strings.Join(missing, ", "))
	}
	if err := probeNetNS(); err != nil {
		return fmt.Errorf("cannot create a network namespace: %w", err)
	}
	return nil
}

// readCapEff parses the CapEff line of /proc/self/status.
func readCapEff() (uint64, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return parseCapEff(bufio.NewScanner(f))
}

func parseCapEff(sc *bufio.Scanner) (uint64, error) {
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "CapEff:"); ok {
			return strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, errors.New("no CapEff line")
}

// probeNetNS creates and immediately drops an anonymous namespace.
func probeNetNS() error {
	return nsthread.Locked(func() error {
		h, err := netns.New() // unshare(CLONE_NEWNET) on this thread
		if err == nil {
			h.Close()
		}
		return err
	})
}

// RequireKernel skips t (or fails it under DEVFENCE_KERNEL_TESTS=require)
// unless the process can build network labs. See EnvKernelTests.
func RequireKernel(t testing.TB) {
	t.Helper()
	if policy() == policySkip {
		t.Skipf("netlab: kernel tests disabled by %s=%s", EnvKernelTests, os.Getenv(EnvKernelTests))
	}
	if err := KernelAvailable(); err != nil {
		skipOrFail(t, "netlab: kernel tests unavailable: %v", err)
	}
}

// RequireTool skips t (or fails it under DEVFENCE_KERNEL_TESTS=require)
// unless the executable is found in PATH, and returns its path.
func RequireTool(t testing.TB, name string) string {
	t.Helper()
	if policy() == policySkip {
		t.Skipf("netlab: kernel tests disabled by %s=%s", EnvKernelTests, os.Getenv(EnvKernelTests))
	}
	p, err := exec.LookPath(name)
	if err != nil {
		skipOrFail(t, "netlab: required tool %q not found in PATH: %v", name, err)
	}
	return p
}

type kernelPolicy int

const (
	policyAuto kernelPolicy = iota
	policyRequire
	policySkip
)

func policy() kernelPolicy {
	switch strings.ToLower(strings.TrimSpace(os.Getenv(EnvKernelTests))) {
	case "require", "required", "1", "true":
		return policyRequire
	case "skip", "off", "0", "false":
		return policySkip
	}
	return policyAuto
}

// skipOrFail skips, or fails when the policy is "require".
func skipOrFail(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if policy() == policyRequire {
		t.Fatalf("%s (%s=require forbids skipping)", msg, EnvKernelTests)
	}
	t.Skipf("%s (set %s=require to make this a failure)", msg, EnvKernelTests)
}
