package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The real devfence binaries, each built once for the tests that need a
// process of their own: apply --confirm re-executes it as its detached
// guard, signals must reach a real process, and the README's commands run
// in a shell.
var (
	binMu     sync.Mutex
	binDir    string
	binBuilds = map[string]*binBuild{} // by build tags
)

type binBuild struct {
	path string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// binary returns the path of the built devfence (device build: no OPA,
// which the tests here do not need, and half the build time), which
// honours $DEVFENCE_TEST_FAKE_KERNEL (see onEachKernel).
func binary(t *testing.T) string {
	t.Helper()
	return builtBinary(t, "nopolicy,devfence_fakekernel")
}

// builtBinary returns the path of devfence built with tags ("" for the
// full build, what `go run ./cmd/devfence` runs), building it on first use.
func builtBinary(t *testing.T, tags string) string {
	t.Helper()
	binMu.Lock()
	defer binMu.Unlock()
	b, ok := binBuilds[tags]
	if !ok {
		b = &binBuild{}
		binBuilds[tags] = b
		b.path, b.err = buildBinary(tags)
	}
	if b.err != nil {
		t.Fatalf("build devfence (tags %q): %v", tags, b.err)
	}
	return b.path
}

// buildBinary builds into a directory of its own under binDir, so that
// each build is a file named devfence, as a shell finds it in PATH.
func buildBinary(tags string) (string, error) {
	if binDir == "" {
		dir, err := os.MkdirTemp("", "devfence-bin-")
		if err != nil {
			return "", err
		}
		binDir = dir
	}
	dir, err := os.MkdirTemp(binDir, "build-")
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "devfence")
	gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
	out, err := exec.Command(gobin, "build", "-tags", tags, "-o", path, ".").CombinedOutput()
	if err != nil {
		return "", &buildError{err: err, out: string(out)}
	}
	return path, nil
}

type buildError struct {
	err error
	out string
}

func (e *buildError) Error() string { return e.err.Error() + ": " + e.out }

// proc is a devfence process started from the built binary, in a process
// group of its own (as a shell job is), its stderr collected.
type proc struct {
	cmd  *exec.Cmd
	errb syncBuffer
	done chan struct{}
}

func startBinary(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(binary(t), args...), done: make(chan struct{})}
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stderr = &p.errb
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() { p.cmd.Process.Kill(); <-p.done })
	return p
}

// runBinary runs the built devfence to its end and returns its exit code
// (-1 if a signal ended it) and stderr.
func runBinary(t *testing.T, env []string, args ...string) (int, string) {
	t.Helper()
	p := startBinary(t, env, args...)
	if !p.wait(t, watchWait) {
		t.Fatalf("devfence %s did not end within %v: %s", strings.Join(args, " "), watchWait, p.errb.String())
	}
	return p.cmd.ProcessState.ExitCode(), p.errb.String()
}

// wait reports whether the process ended within d.
func (p *proc) wait(t *testing.T, d time.Duration) bool {
	t.Helper()
	select {
	case <-p.done:
		return true
	case <-time.After(d):
		return false
	}
}

// waitStderr waits for stderr to contain s.
func (p *proc) waitStderr(t *testing.T, s string) {
	t.Helper()
	for deadline := time.Now().Add(watchWait); !strings.Contains(p.errb.String(), s); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("stderr never said %q: %s", s, p.errb.String())
		}
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
