package kernellab

import (
	"bytes"
	"context"
	"crypto/sha256"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"text/template"
	"time"

	"github.com/devfence/devfence/internal/bench/fleet"
)

//go:embed init.sh.tmpl
var initScript string

// nftSuite is the Debian suite nft(8) is taken from.
const nftSuite = "bookworm"

// Options configure a lab run.
type Options struct {
	Root    string          // module root of the tree under test
	Cache   string          // downloads and build products
	Run     string          // -test.run for every suite instead of the defaults
	Timeout time.Duration   // per VM
	Context context.Context // cancelling it (e.g. on SIGINT) stops the VM
	Console io.Writer       // copy of every VM's console, or nil
}

// Prepare downloads what t needs and builds its kernel and initramfs.
// It returns the kernel image and initramfs paths.
func Prepare(o Options, t Target, suites []Suite) (kernel, initrd string, err error) {
	if _, err := exec.LookPath(t.QEMU); err != nil {
		return "", "", fmt.Errorf("%s not found (apt-get install %s): %w", t.QEMU, t.Package, err)
	}
	a, err := newApt(o.Cache, t.Suite, t.Arch)
	if err != nil {
		return "", "", err
	}
	unlock, err := a.lock()
	if err != nil {
		return "", "", err
	}
	defer unlock()
	if err := a.update(); err != nil {
		return "", "", err
	}
	kpkg, err := a.kernelPackage(t.Flavour)
	if err != nil {
		return "", "", err
	}
	kroot, err := a.fetch(kpkg)
	if err != nil {
		return "", "", fmt.Errorf("kernel of %s: %w", t.Name, err)
	}
	images, _ := filepath.Glob(filepath.Join(kroot, "boot", "vmlinu[xz]-*"))
	if len(images) == 0 {
		return "", "", fmt.Errorf("%s holds no boot/vmlinuz-* or boot/vmlinux-*", kpkg)
	}
	kernel = images[0]

	r := newInitramfs()
	bb, err := a.fetch("busybox-static")
	if err != nil {
		return "", "", err
	}
	if err := r.addFile("bin/busybox", filepath.Join(bb, "bin", "busybox")); err != nil {
		return "", "", err
	}
	_, load, err := modules(r, kroot)
	if err != nil {
		return "", "", err
	}
	// nft comes from bookworm on every target: one nft version (the one
	// CI's host has) whatever the kernel, since the tests' nft syntax
	// (@ih) is newer than bullseye's nft 0.9.8.
	na := a
	if t.Suite != nftSuite {
		if na, err = newApt(o.Cache, nftSuite, t.Arch); err != nil {
			return "", "", err
		}
		unlock, err := na.lock()
		if err != nil {
			return "", "", err
		}
		defer unlock()
	}
	if err := na.update(); err != nil {
		return "", "", err
	}
	pkgs, err := na.closure("nftables")
	if err != nil {
		return "", "", err
	}
	var sysroots []string
	for _, p := range pkgs {
		root, err := na.fetch(p)
		if err != nil {
			return "", "", err
		}
		sysroots = append(sysroots, root)
	}
	if err := addNFT(r, sysroots); err != nil {
		return "", "", err
	}
	// nft resolves protocol and service names (ipv6-icmp) through these.
	netbase, err := na.fetch("netbase")
	if err != nil {
		return "", "", err
	}
	for _, f := range []string{"etc/protocols", "etc/services"} {
		if err := r.addFile(f, filepath.Join(netbase, f)); err != nil {
			return "", "", err
		}
	}

	// Trees (worktrees, clones) share the download cache but not builds.
	bins := filepath.Join(o.Cache, "build", fmt.Sprintf("%x", sha256.Sum256([]byte(o.Root)))[:12], t.Name)
	if err := os.MkdirAll(bins, 0o755); err != nil {
		return "", "", err
	}
	if err := build(o.Root, bins, t, suites); err != nil {
		return "", "", err
	}
	for _, b := range []string{"devfence", "devfence-device"} {
		if err := r.addFile("usr/local/bin/"+b, filepath.Join(bins, b)); err != nil {
			return "", "", err
		}
	}
	for _, s := range suites {
		if err := r.addFile("tests/"+s.Name+".test", filepath.Join(bins, s.Name+".test")); err != nil {
			return "", "", err
		}
		r.dir("src/" + s.Pkg)
	}
	if err := addSources(r, o.Root); err != nil {
		return "", "", err
	}
	script, err := renderInit(load, suites)
	if err != nil {
		return "", "", err
	}
	r.add("init", script, 0o755)

	initrd = filepath.Join(bins, "initrd.gz")
	f, err := os.Create(initrd)
	if err != nil {
		return "", "", err
	}
	if err := r.write(f); err != nil {
		f.Close()
		return "", "", err
	}
	return kernel, initrd, f.Close()
}

// addSources puts what the tests read from the tree into /src (go.mod
// marks the module root for nltest.Examples) and the profiles measured
// into /profiles.
func addSources(r *initramfs, root string) error {
	if err := r.addFile("src/go.mod", filepath.Join(root, "go.mod")); err != nil {
		return err
	}
	examples, _ := filepath.Glob(filepath.Join(root, "examples", "*.yaml"))
	for _, e := range examples {
		if err := r.addFile("src/examples/"+filepath.Base(e), e); err != nil {
			return err
		}
	}
	baby, err := os.ReadFile(filepath.Join(root, "examples", "baby-monitor.yaml"))
	if err != nil {
		return err
	}
	big, err := fleet.BigNetwork(string(baby), 10000)
	if err != nil {
		return err
	}
	r.add("profiles/baby-monitor.yaml", baby, 0o644)
	r.add("profiles/big-10000.yaml", []byte(big), 0o644)
	return nil
}

func renderInit(load []string, suites []Suite) ([]byte, error) {
	type suite struct{ Name, Pkg, Env, Args string }
	data := struct {
		Load   string
		Suites []suite
	}{Load: strings.Join(load, " ")}
	for _, s := range suites {
		data.Suites = append(data.Suites, suite{s.Name, s.Pkg, shellJoin(s.Env), shellJoin(s.Args)})
	}
	var b bytes.Buffer
	err := template.Must(template.New("init").Parse(initScript)).Execute(&b, data)
	return b.Bytes(), err
}

func shellJoin(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(q, " ")
}

// Boot runs the VM to its end (or the timeout) and returns its console and
// how long the kernel took to start /init.
func Boot(o Options, t Target, kernel, initrd string) (string, time.Duration, error) {
	ctx, cancel := context.WithTimeout(o.Context, o.Timeout)
	defer cancel()
	args := append([]string{"-nographic", "-monitor", "none", "-no-reboot", "-nic", "none",
		"-m", fmt.Sprint(t.MemMB), "-smp", fmt.Sprint(t.SMP), "-accel", "tcg",
		"-kernel", kernel, "-initrd", initrd,
		"-append", strings.TrimSpace("console=" + t.Console + " rdinit=/init panic=-1 quiet " + t.Cmdline)}, t.Machine...)
	cmd := exec.CommandContext(ctx, t.QEMU, args...)
	out := &bootWatch{start: time.Now()}
	var w io.Writer = out
	if o.Console != nil {
		w = io.MultiWriter(out, o.Console)
	}
	cmd.Stdout, cmd.Stderr = w, w
	err := cmd.Run()
	console := strings.ReplaceAll(out.buf.String(), "\r", "")
	if errors.Is(ctx.Err(), context.Canceled) {
		return console, out.booted, fmt.Errorf("interrupted")
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return console, out.booted, fmt.Errorf("qemu still running after %v, killed", o.Timeout)
	}
	if err != nil {
		return console, out.booted, fmt.Errorf("%s: %w", t.QEMU, err)
	}
	return console, out.booted, nil
}

// bootWatch collects the console and notes when /init said it booted.
type bootWatch struct {
	buf    bytes.Buffer
	start  time.Time
	booted time.Duration
}

func (b *bootWatch) Write(p []byte) (int, error) {
	n, err := b.buf.Write(p)
	if b.booted == 0 && bytes.Contains(b.buf.Bytes(), []byte("KLAB BOOTED")) {
		b.booted = time.Since(b.start)
	}
	return n, err
}
