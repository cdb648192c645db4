// Command mkpkg builds devfence's device packages (.deb and OpenWrt .ipk)
// for each target from one description, packaging/nfpm.yaml, with nfpm as
// a library. It lives in its own module so that nfpm and its dependencies
// never enter devfence's own go.mod or the device binary.
//
//	cd packaging/mkpkg && go run . -out ../../dist amd64 arm64 arm7 mipsle
//
// Targets are GOARCH, with the GOARM or GOMIPS variant appended where it
// matters: amd64, 386, arm64, arm7 (armhf), arm5 (armel), mipsle and mips
// (both soft-float). Packages are reproducible: every timestamp is
// SOURCE_DATE_EPOCH, by default the commit's time.
package main

import (
	"bytes"
	"compress/gzip"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/goreleaser/nfpm/v2"
	_ "github.com/goreleaser/nfpm/v2/deb"
	_ "github.com/goreleaser/nfpm/v2/ipk"
)

// target is one device architecture.
type target struct {
	goarch, variant string // variant: GOARM or GOMIPS
	nfpmArch        string // the name nfpm maps to Debian's and OpenWrt's
}

var targets = map[string]target{
	"amd64":  {"amd64", "", "amd64"},
	"386":    {"386", "", "386"},
	"arm64":  {"arm64", "", "arm64"},
	"arm7":   {"arm", "7", "arm7"},
	"arm5":   {"arm", "5", "arm5"},
	"mipsle": {"mipsle", "softfloat", "mipsle"},
	"mips":   {"mips", "softfloat", "mips"},
}

// profileHeader heads the example profile installed as
// /etc/devfence/profile.yaml.
const profileHeader = `# /etc/devfence/profile.yaml: the profile that devfence.service (systemd) or
# /etc/init.d/devfence (OpenWrt) puts in force. This is an EXAMPLE (a smart
# plug): replace it with your device's profile, check it with
# "devfence compile /etc/devfence/profile.yaml", then enable the service.
# Upgrades keep your version of this file.
`

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "mkpkg: "+err.Error())
		os.Exit(1)
	}
}

func run() error {
	root := flag.String("root", "../..", "the devfence repository")
	out := flag.String("out", "dist", "write the packages to `DIR`")
	version := flag.String("version", "", "package `VERSION` (default: from git describe, else 0.0.0+git<date>.<commit>)")
	formats := flag.String("formats", "deb,ipk", "comma-separated packagers")
	var ipkArch archMap = map[string]string{}
	flag.Var(ipkArch, "ipk-arch", "OpenWrt architecture for a `TARGET=ARCH` (e.g. mipsle=mipsel_24kc; repeatable); default: nfpm's generic name")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: mkpkg [flags] TARGET...\ntargets: %s\n", strings.Join(targetNames(), " "))
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() == 0 {
		flag.Usage()
		return errors.New("no targets")
	}
	for _, name := range flag.Args() {
		if _, ok := targets[name]; !ok {
			return fmt.Errorf("unknown target %q (known: %s)", name, strings.Join(targetNames(), " "))
		}
	}
	repo, err := filepath.Abs(*root)
	if err != nil {
		return err
	}
	if *out, err = filepath.Abs(*out); err != nil {
		return err
	}
	commit, err := git(repo, "rev-parse", "--short=12", "HEAD")
	if err != nil {
		return err
	}
	if os.Getenv("SOURCE_DATE_EPOCH") == "" {
		epoch, err := git(repo, "log", "-1", "--format=%ct")
		if err != nil {
			return err
		}
		os.Setenv("SOURCE_DATE_EPOCH", epoch)
	}
	if *version == "" {
		if *version, err = gitVersion(repo, commit); err != nil {
			return err
		}
	}

	stage, err := os.MkdirTemp("", "mkpkg-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(stage)
	if err := stageShared(repo, stage); err != nil {
		return err
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	for _, name := range flag.Args() {
		t := targets[name]
		dir := filepath.Join(stage, name)
		if err := os.MkdirAll(filepath.Join(dir, "bin"), 0o755); err != nil {
			return err
		}
		if err := buildDevice(repo, filepath.Join(dir, "bin", "devfence"), t, *version, commit); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		// The shared files, linked next to this target's binary so that
		// the description names one ${STAGE}.
		for _, sub := range []string{"share", "etc", "systemd", "openwrt"} {
			if err := os.Symlink(filepath.Join(stage, "shared", sub), filepath.Join(dir, sub)); err != nil {
				return err
			}
		}
		env := map[string]string{"ARCH": t.nfpmArch, "VERSION": *version, "STAGE": dir}
		for _, format := range strings.Split(*formats, ",") {
			file, err := pack(filepath.Join(repo, "packaging", "nfpm.yaml"), format, env, ipkArch[name], *out)
			if err != nil {
				return fmt.Errorf("%s %s: %w", name, format, err)
			}
			fmt.Println(file)
		}
	}
	return nil
}

// stageShared writes the files every package carries: the man page and the
// completions (from binaries built for this host), the example profile and
// the service files.
func stageShared(repo, stage string) error {
	shared := filepath.Join(stage, "shared")
	for _, sub := range []string{"share", "etc", "systemd", "openwrt", "host"} {
		if err := os.MkdirAll(filepath.Join(shared, sub), 0o755); err != nil {
			return err
		}
	}
	// The full build has the man command; the page documents the commands
	// and flags, which the device build shares. The completions come from
	// the device build itself, so they offer exactly what it has.
	full := filepath.Join(shared, "host", "devfence")
	device := filepath.Join(shared, "host", "devfence-device")
	if err := goBuild(repo, full, nil, nil); err != nil {
		return fmt.Errorf("host build: %w", err)
	}
	if err := goBuild(repo, device, []string{"-tags", "nopolicy"}, nil); err != nil {
		return fmt.Errorf("host device build: %w", err)
	}
	page, err := output(repo, full, "man")
	if err != nil {
		return err
	}
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression) // no name, no time: reproducible
	zw.Write([]byte(page))
	if err := zw.Close(); err != nil {
		return err
	}
	files := map[string][]byte{"share/devfence.1.gz": gz.Bytes()}
	for shell, name := range map[string]string{"bash": "share/devfence.bash", "zsh": "share/_devfence"} {
		script, err := output(repo, device, "completion", shell)
		if err != nil {
			return err
		}
		files[name] = []byte(script)
	}
	profile, err := os.ReadFile(filepath.Join(repo, "examples", "smart-plug.yaml"))
	if err != nil {
		return err
	}
	files["etc/profile.yaml"] = append([]byte(profileHeader+"\n"), profile...)
	// The example units run /usr/local/bin/devfence, where an operator
	// installs a binary by hand; the package puts it in /usr/sbin.
	for _, unit := range []string{"devfence.service", "devfence-refresh.service", "devfence-refresh.timer"} {
		b, err := os.ReadFile(filepath.Join(repo, "examples", "systemd", unit))
		if err != nil {
			return err
		}
		files["systemd/"+unit] = bytes.ReplaceAll(b, []byte("/usr/local/bin/devfence"), []byte("/usr/sbin/devfence"))
	}
	initScript, err := os.ReadFile(filepath.Join(repo, "examples", "openwrt", "devfence"))
	if err != nil {
		return err
	}
	files["openwrt/devfence"] = initScript
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(shared, name), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// buildDevice builds the device binary (packaging/device-build.sh), its
// version and commit stamped.
func buildDevice(repo, out string, t target, version, commit string) error {
	env := []string{"GOOS=linux", "GOARCH=" + t.goarch, "CGO_ENABLED=0"}
	switch t.goarch {
	case "arm":
		env = append(env, "GOARM="+t.variant)
	case "mips", "mipsle":
		env = append(env, "GOMIPS="+t.variant)
	}
	env = append(env, fmt.Sprintf("EXTRA_LDFLAGS=-X main.version=%s -X main.commit=%s", version, commit), "GOFLAGS=-buildvcs=false")
	cmd := exec.Command("sh", filepath.Join(repo, "packaging", "device-build.sh"), out)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	return cmd.Run()
}

func goBuild(repo, out string, args, env []string) error {
	cmd := exec.Command("go", append(append([]string{"build", "-buildvcs=false", "-o", out}, args...), "./cmd/devfence")...)
	cmd.Dir = repo
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	return cmd.Run()
}

// pack makes one package from the description and returns its path.
// ipkArch, if set, replaces nfpm's generic OpenWrt architecture name.
func pack(description, format string, env map[string]string, ipkArch, outDir string) (string, error) {
	config, err := nfpm.ParseFileWithEnvMapping(description, func(k string) string { return env[k] })
	if err != nil {
		return "", fmt.Errorf("%s: %w", description, err)
	}
	info, err := config.Get(format)
	if err != nil {
		return "", err
	}
	info = nfpm.WithDefaults(info)
	if format == "ipk" && ipkArch != "" {
		info.IPK.Arch = ipkArch
	}
	if err := nfpm.Validate(info); err != nil {
		return "", err
	}
	packager, err := nfpm.Get(format)
	if err != nil {
		return "", err
	}
	path := filepath.Join(outDir, packager.ConventionalFileName(info))
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	info.Target = path
	if err := packager.Package(info, f); err != nil {
		f.Close()
		os.Remove(path)
		return "", err
	}
	return path, f.Close()
}

// gitVersion is the package version: the latest tag vX.Y.Z as X.Y.Z (plus
// +git.<commit> past it), else 0.0.0+git<commit date>.<commit> (the date in
// the commit's own time zone, so the same everywhere), which sorts
// by date as Debian and opkg compare versions.
func gitVersion(repo, commit string) (string, error) {
	if tag, err := git(repo, "describe", "--tags", "--exact-match", "--match", "v[0-9]*"); err == nil {
		return strings.TrimPrefix(tag, "v"), nil
	}
	if tag, err := git(repo, "describe", "--tags", "--abbrev=0", "--match", "v[0-9]*"); err == nil {
		return strings.TrimPrefix(tag, "v") + "+git." + commit, nil
	}
	date, err := git(repo, "log", "-1", "--date=format:%Y%m%d", "--format=%cd")
	if err != nil {
		return "", err
	}
	return "0.0.0+git" + date + "." + commit, nil
}

func git(repo string, args ...string) (string, error) {
	s, err := output(repo, "git", args...)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(s), nil
}

// output runs a command in repo and returns its standard output.
func output(repo, name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	cmd.Dir = repo
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%s %s: %w: %s", filepath.Base(name), strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return string(out), nil
}

func targetNames() []string {
	return []string{"amd64", "386", "arm64", "arm7", "arm5", "mipsle", "mips"}
}

// archMap is a repeatable TARGET=VALUE flag.
type archMap map[string]string

func (m archMap) String() string { return fmt.Sprint(map[string]string(m)) }

func (m archMap) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if _, known := targets[k]; !ok || !known || v == "" {
		return fmt.Errorf("%q: want TARGET=ARCH with a known target", s)
	}
	m[k] = v
	return nil
}
