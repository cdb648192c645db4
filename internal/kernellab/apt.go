package kernellab

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"
)

// apt is one suite+architecture view of the Debian archive with its own
// sources, package lists and empty dpkg status, so it neither touches nor
// depends on the host's apt state (the host's installed versions would
// otherwise win as candidates).
type apt struct {
	dir         string // cache/apt/SUITE-ARCH
	suite, arch string
}

// Mirror is the Debian archive the lab downloads from.
var Mirror = "http://deb.debian.org/debian"

// keyring verifies the archive's Release files; debian-archive-keyring
// installs it on every Debian host.
const keyring = "/usr/share/keyrings/debian-archive-keyring.gpg"

// lock serialises lab runs (of any tree) on one suite+arch, since apt-get
// runs without its own locks here; the returned func releases it.
func (a *apt) lock() (func(), error) {
	f, err := os.OpenFile(filepath.Join(a.dir, "lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() { f.Close() }, nil
}

func newApt(cache, suite, arch string) (*apt, error) {
	a := &apt{dir: filepath.Join(cache, "apt", suite+"-"+arch), suite: suite, arch: arch}
	if err := os.MkdirAll(filepath.Join(a.dir, "lists", "partial"), 0o755); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(a.dir, "debs"), 0o755); err != nil {
		return nil, err
	}
	if err := a.writeSources(true); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(a.dir, "status"), nil, 0o644); err != nil {
		return nil, err
	}
	return a, nil
}

// writeSources lists the suite, and with updates its -updates and
// -security suites (newest kernels). The mirror may not carry those for
// every architecture (bullseye-security has no armhf here) or be mid-sync;
// update then falls back to the suite alone.
func (a *apt) writeSources(updates bool) error {
	line := func(uri, suite string) string {
		return fmt.Sprintf("deb [signed-by=%s] %s %s main\n", keyring, uri, suite)
	}
	sources := line(Mirror, a.suite)
	if updates {
		security := strings.Replace(Mirror, "/debian", "/debian-security", 1)
		sources += line(Mirror, a.suite+"-updates") + line(security, a.suite+"-security")
	}
	return os.WriteFile(filepath.Join(a.dir, "sources.list"), []byte(sources), 0o644)
}

func (a *apt) options() []string {
	return []string{
		"-o", "Dir::Etc::SourceList=" + filepath.Join(a.dir, "sources.list"),
		"-o", "Dir::Etc::SourceParts=/dev/null",
		"-o", "Dir::State::Lists=" + filepath.Join(a.dir, "lists"),
		"-o", "Dir::State::status=" + filepath.Join(a.dir, "status"),
		"-o", "Dir::Cache=" + filepath.Join(a.dir, "cache"),
		"-o", "APT::Architecture=" + a.arch,
		"-o", "APT::Architectures=" + a.arch,
		"-o", "Debug::NoLocking=1",
	}
}

func (a *apt) run(dir, tool string, args ...string) (string, error) {
	cmd := exec.Command(tool, append(a.options(), args...)...)
	cmd.Dir = dir
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("%s %s (%s %s): %w\n%s", tool, strings.Join(args, " "), a.suite, a.arch, err, strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}

// update refreshes the package lists when they are missing or a day old.
func (a *apt) update() error {
	stamp := filepath.Join(a.dir, "updated")
	if st, err := os.Stat(stamp); err == nil && time.Since(st.ModTime()) < 24*time.Hour {
		return nil
	}
	if _, err := a.run(a.dir, "apt-get", "-q", "update"); err != nil {
		if err := a.writeSources(false); err != nil {
			return err
		}
		if _, err2 := a.run(a.dir, "apt-get", "-q", "update"); err2 != nil {
			return fmt.Errorf("%w\nand without -updates and -security: %w", err, err2)
		}
	}
	return os.WriteFile(stamp, nil, 0o644)
}

// kernelPackage resolves linux-image-FLAVOUR to the versioned image package.
func (a *apt) kernelPackage(flavour string) (string, error) {
	meta := "linux-image-" + flavour
	out, err := a.run(a.dir, "apt-cache", "depends", "--no-recommends", "--no-suggests", meta)
	if err != nil {
		return "", err
	}
	re := regexp.MustCompile(`Depends: (linux-image-[0-9][^\s]*)`)
	m := re.FindStringSubmatch(out)
	if m == nil {
		return "", fmt.Errorf("%s (%s %s) depends on no versioned linux-image package:\n%s", meta, a.suite, a.arch, out)
	}
	return m[1], nil
}

// closure lists pkg and everything it depends on (no recommends).
func (a *apt) closure(pkg string) ([]string, error) {
	out, err := a.run(a.dir, "apt-cache", "depends", "--recurse", "--no-recommends", "--no-suggests",
		"--no-conflicts", "--no-breaks", "--no-replaces", "--no-enhances", "--no-pre-depends", pkg)
	if err != nil {
		return nil, err
	}
	var pkgs []string
	for _, l := range strings.Split(out, "\n") {
		if l != "" && !strings.HasPrefix(l, " ") && !strings.HasPrefix(l, "<") {
			pkgs = append(pkgs, l)
		}
	}
	return pkgs, nil
}

// candidate is the version apt would take of pkg in this suite.
func (a *apt) candidate(pkg string) (string, error) {
	out, err := a.run(a.dir, "apt-cache", "policy", pkg)
	if err != nil {
		return "", err
	}
	m := regexp.MustCompile(`Candidate: (\S+)`).FindStringSubmatch(out)
	if m == nil || m[1] == "(none)" {
		return "", fmt.Errorf("package %s is not in %s for %s", pkg, a.suite, a.arch)
	}
	return m[1], nil
}

// fetch downloads pkg (at the suite's candidate version) unless the .deb
// is cached, extracts it into cache/apt/SUITE-ARCH/root/PKG and returns
// that directory.
func (a *apt) fetch(pkg string) (string, error) {
	ver, err := a.candidate(pkg)
	if err != nil {
		return "", err
	}
	debs := filepath.Join(a.dir, "debs")
	file := fmt.Sprintf("%s_%s_", pkg, strings.ReplaceAll(ver, ":", "%3a"))
	matches, _ := filepath.Glob(filepath.Join(debs, file+"*.deb"))
	if len(matches) == 0 {
		if _, err := a.run(debs, "apt-get", "-q", "download", pkg+"="+ver); err != nil {
			return "", err
		}
		if matches, _ = filepath.Glob(filepath.Join(debs, file+"*.deb")); len(matches) == 0 {
			return "", fmt.Errorf("apt-get download %s=%s left no %s*.deb in %s", pkg, ver, file, debs)
		}
	}
	root := filepath.Join(a.dir, "root", pkg+"_"+ver)
	if _, err := os.Stat(filepath.Join(root, ".done")); err == nil {
		return root, nil
	}
	os.RemoveAll(root)
	if err := os.MkdirAll(root, 0o755); err != nil {
		return "", err
	}
	if out, err := exec.Command("dpkg-deb", "-x", matches[0], root).CombinedOutput(); err != nil {
		return "", fmt.Errorf("dpkg-deb -x %s: %w\n%s", matches[0], err, out)
	}
	return root, os.WriteFile(filepath.Join(root, ".done"), nil, 0o644)
}
