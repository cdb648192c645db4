package traffic

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"text/template"
	"time"

	_ "github.com/devfence/devfence/internal/golden" // every test binary accepts -update
	"github.com/devfence/devfence/internal/netlab"
	"github.com/devfence/devfence/internal/pipeline"
	"github.com/devfence/devfence/policies"
	"github.com/devfence/devfence/rules"
	"github.com/devfence/devfence/rules/netlink"
)

// How profiles are put in force.
//
// The suite must exercise the product's apply path, `devfence apply
// --netns NAME --state-dir DIR PROFILE`, which loads, checks (policies) and
// compiles the profile and sends the table to the kernel in one netlink
// transaction. TestMain builds the CLI once per run and every applyProfile
// runs it against the device's namespace.
//
// While cmd/devfence/apply.go does not exist in the tree there is no apply
// command to run; applyProfile then builds the profile through the same
// runner the CLI uses (internal/pipeline: load, built-in policies, compile)
// and loads rules.Replace(table) — the identical table, replaced in one
// atomic nft transaction — with `nft -f` inside the device namespace. The
// packets see the same ruleset either way; only the encoder differs (nft's
// instead of rules/netlink's).
//
// DEVFENCE_TRAFFIC_APPLY=cli makes the fallback an error (for CI once the
// command exists); DEVFENCE_TRAFFIC_APPLY=nft forces the fallback.
//
// DEVFENCE_TRAFFIC_BIN names a devfence binary built beforehand, used
// instead of building one: the kernel lab (internal/kernellab) runs this
// suite cross-compiled inside a VM that has no Go toolchain.
const (
	envApply = "DEVFENCE_TRAFFIC_APPLY"
	envBin   = "DEVFENCE_TRAFFIC_BIN"
)

const (
	applyCLI = "devfence apply"
	applyNFT = "nft -f (pipeline.Build + rules.Replace)"
)

var applier struct {
	mode   string // applyCLI or applyNFT
	bin    string // the built CLI (applyCLI)
	reason string // why this mode
	err    error  // set when the product's apply exists but cannot be used
	tmp    string // scratch directory of this run
}

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	tmp, err := os.MkdirTemp("", "devfence-traffic-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "traffic:", err)
		return 2
	}
	defer os.RemoveAll(tmp)
	applier.tmp = tmp
	setUpApply(tmp)
	return m.Run()
}

// setUpApply decides how profiles are applied and builds the CLI when the
// apply command exists. It does nothing expensive when the kernel tests
// will skip anyway.
func setUpApply(tmp string) {
	applier.mode, applier.reason = applyNFT, "not decided"
	switch strings.ToLower(os.Getenv(netlab.EnvKernelTests)) {
	case "skip", "off", "0", "false":
		return
	}
	if netlab.KernelAvailable() != nil {
		return
	}
	if bin := os.Getenv(envBin); bin != "" && strings.ToLower(os.Getenv(envApply)) != "nft" {
		if _, err := os.Stat(bin); err != nil {
			applier.err = fmt.Errorf("%s: %w", envBin, err)
			return
		}
		applier.mode, applier.bin, applier.reason = applyCLI, bin, envBin+"="+bin
		return
	}
	root, err := moduleRoot()
	if err != nil {
		applier.err = err
		return
	}
	force := strings.ToLower(os.Getenv(envApply))
	_, statErr := os.Stat(filepath.Join(root, "cmd", "devfence", "apply.go"))
	switch {
	case force == "nft":
		applier.reason = envApply + "=nft"
		return
	case statErr != nil && force == "cli":
		applier.err = fmt.Errorf("%s=cli but cmd/devfence/apply.go does not exist: %v", envApply, statErr)
		return
	case statErr != nil:
		applier.reason = "cmd/devfence/apply.go does not exist yet"
		return
	}
	bin := filepath.Join(tmp, "devfence")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goTool(), "build", "-o", bin, "./cmd/devfence")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		applier.err = fmt.Errorf("cmd/devfence/apply.go exists but `go build ./cmd/devfence` fails: %v\n%s", err, out)
		return
	}
	applier.mode, applier.bin, applier.reason = applyCLI, bin, "cmd/devfence/apply.go exists"
}

func moduleRoot() (string, error) {
	out, err := exec.Command(goTool(), "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("not inside the devfence module")
	}
	return filepath.Dir(gomod), nil
}

func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	if root := os.Getenv("GOROOT"); root != "" {
		return filepath.Join(root, "bin", "go")
	}
	return "go"
}

var logModeOnce sync.Once

// applyProfile puts the profile yaml in force on lab.Device through the
// product's apply (see the comment on envApply). yaml is a text/template
// over the lab (see expand), e.g. `{{.Viewer.V4}}`. Any refusal — a
// malformed profile, a policy denial, a kernel error — fails the test.
func applyProfile(t testing.TB, lab *netlab.Lab, yaml string) {
	t.Helper()
	if applier.err != nil {
		t.Fatalf("cannot apply profiles: %v", applier.err)
	}
	logModeOnce.Do(func() {
		fmt.Fprintf(os.Stderr, "traffic: profiles are applied with %s (%s)\n", applier.mode, applier.reason)
	})
	dir := t.TempDir()
	path := filepath.Join(dir, "profile.yaml")
	if err := os.WriteFile(path, []byte(expand(t, lab, yaml)), 0o644); err != nil {
		t.Fatal(err)
	}
	if applier.mode == applyCLI {
		applyWithCLI(t, lab, path)
		return
	}
	applyWithNFT(t, lab, path)
}

var stateDirs sync.Map // *netlab.Lab -> string

// stateDir is the --state-dir of one lab's device: one per device, as on a
// real one, so consecutive applies see each other's saved state.
func stateDir(t testing.TB, lab *netlab.Lab) string {
	t.Helper()
	if d, ok := stateDirs.Load(lab); ok {
		return d.(string)
	}
	d, err := os.MkdirTemp(applier.tmp, "state-")
	if err != nil {
		t.Fatal(err)
	}
	actual, _ := stateDirs.LoadOrStore(lab, d)
	return actual.(string)
}

func applyWithCLI(t testing.TB, lab *netlab.Lab, path string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, applier.bin, "apply",
		"--netns", lab.Device.NetNS, "--state-dir", stateDir(t, lab), path)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("devfence apply %s: %v\n%s\nprofile:\n%s", path, err, out.String(), readFile(path))
	}
}

var (
	engineOnce sync.Once
	engine     *policies.Engine
	engineErr  error
)

func applyWithNFT(t testing.TB, lab *netlab.Lab, path string) {
	t.Helper()
	engineOnce.Do(func() { engine, engineErr = policies.New(context.Background(), policies.Options{}) })
	if engineErr != nil {
		t.Fatalf("policies: %v", engineErr)
	}
	res, err := pipeline.Build(context.Background(), path, pipeline.Options{Policies: engine})
	if err != nil {
		t.Fatalf("build %s: %v\nprofile:\n%s", path, err, readFile(path))
	}
	tx := rules.Replace(res.Table)
	if err := tx.Err(); err != nil {
		t.Fatal(err)
	}
	if out, err := lab.Device.ExecInput(tx.String(), "nft", "-f", "-"); err != nil {
		t.Fatalf("nft -f in %s: %v\n%s", lab.Device.NetNS, err, out)
	}
}

// applyFitted is an apply that puts the profile in force as it would be
// on kernel k: built as the CLI builds it, fitted by rules.Lower and sent
// by the product's netlink encoder. It fails the test unless the lowered
// table contains want and not gone, the proof that the lowering happened.
func applyFitted(k *rules.Kernel, want, gone string) func(testing.TB, *netlab.Lab, string) {
	return func(t testing.TB, lab *netlab.Lab, yaml string) {
		t.Helper()
		path := filepath.Join(t.TempDir(), "profile.yaml")
		if err := os.WriteFile(path, []byte(expand(t, lab, yaml)), 0o644); err != nil {
			t.Fatal(err)
		}
		engineOnce.Do(func() { engine, engineErr = policies.New(context.Background(), policies.Options{}) })
		if engineErr != nil {
			t.Fatalf("policies: %v", engineErr)
		}
		res, err := pipeline.Build(context.Background(), path, pipeline.Options{Policies: engine})
		if err != nil {
			t.Fatalf("build %s: %v", path, err)
		}
		conn, err := netlink.Open(lab.Device.NetNS)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		// k on top of what the running kernel lacks, as apply would fit
		// it there: a lab kernel may need more than k says (a 32-bit ARM
		// 5.10 lacks @ih and faults on element quotas).
		here, err := conn.Probe()
		if err != nil {
			t.Fatal(err)
		}
		both := &rules.Kernel{Release: k.Release + " on " + here.Release, Has: maps.Clone(here.Has), Notes: here.Notes}
		for f, has := range k.Has {
			both.Has[f] = both.Has[f] && has
		}
		low, err := rules.Lower(res.Table, both)
		if err != nil {
			t.Fatal(err)
		}
		if text := low.String(); strings.Contains(text, gone) || !strings.Contains(text, want) {
			t.Fatalf("the table lowered for kernel %q still has %q or lacks %q:\n%s", both.Release, gone, want, text)
		}
		if _, err := conn.Apply(rules.Replace(low)); err != nil {
			t.Fatalf("apply the lowered table: %v", err)
		}
	}
}

// applyLowered: as on a kernel without the inner-header payload base
// (Linux 5.10), where @ih matches become @th at each TCP data offset.
var applyLowered = applyFitted(&rules.Kernel{Release: "no @ih", Has: map[rules.Feature]bool{rules.FeatPayloadInner: false}},
	"tcp doff", "@ih")

// applyBucketed: as on a 32-bit ARM kernel, where every set element's
// quota becomes a byte token bucket (rules.QuotaBucket).
var applyBucketed = applyFitted(&rules.Kernel{Release: "32-bit ARM", Has: map[rules.Feature]bool{rules.FeatDynsetQuota: false},
	Notes: map[rules.Feature]string{rules.FeatDynsetQuota: rules.ElementQuotaNote("armv7l")}},
	" bytes/", "quota until")

// meterForms are the two forms of the per-peer and total meters: as
// compiled (a quota per set element) and as fitted to a 32-bit ARM kernel
// (a byte token bucket per set element).
var meterForms = []struct {
	name  string
	apply func(testing.TB, *netlab.Lab, string)
}{{"quota", applyProfile}, {"bucket", applyBucketed}}

func readFile(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

// expand fills a profile template with the lab's addresses. The data is the
// lab itself ({{.Viewer.V4}}, {{.Cloud.V6}}, ...) plus:
//
//	{{victim4 N}} {{victim6 N}}   victim N's addresses
//	{{.LAN4}} {{.LAN6}}           the LAN prefixes
func expand(t testing.TB, lab *netlab.Lab, text string) string {
	t.Helper()
	victim := func(n int, f netlab.Family) (netip.Addr, error) {
		if n < 0 || n >= len(lab.Victims) {
			return netip.Addr{}, fmt.Errorf("the lab has %d victims, no victim %d", len(lab.Victims), n)
		}
		return lab.Victims[n].Addr(f), nil
	}
	tmpl, err := template.New("profile").Option("missingkey=error").Funcs(template.FuncMap{
		"victim4": func(n int) (netip.Addr, error) { return victim(n, netlab.IPv4) },
		"victim6": func(n int) (netip.Addr, error) { return victim(n, netlab.IPv6) },
	}).Parse(text)
	if err != nil {
		t.Fatalf("profile template: %v", err)
	}
	data := struct {
		*netlab.Lab
		LAN4, LAN6 netip.Prefix
	}{lab, netlab.LAN4, netlab.LAN6}
	var b strings.Builder
	if err := tmpl.Execute(&b, data); err != nil {
		t.Fatalf("profile template: %v", err)
	}
	return b.String()
}
