// Package kernellab boots Debian kernels under qemu (TCG) and runs
// devfence's kernel tests inside each VM: the traffic suite through
// `devfence apply`, the netlink round trip of every example and the
// device tests, plus peak-RSS measurements of `devfence apply`.
// cmd/kernellab is the command; docs/KERNEL-LAB.md describes it.
package kernellab

import (
	"fmt"
	"sort"
	"strings"
)

// Target is one kernel to test: a Debian suite and architecture, the
// kernel flavour of that architecture and how qemu boots it.
type Target struct {
	Name    string // "6.1-mipsel": kernel series and Debian architecture
	Suite   string // Debian suite carrying that kernel series
	Arch    string // Debian architecture
	Flavour string // linux-image-FLAVOUR metapackage
	GoEnv   []string
	QEMU    string   // qemu-system-* binary
	Package string   // Debian package holding QEMU
	Machine []string // machine and CPU arguments
	Console string   // serial console device of the kernel command line
	Cmdline string   // more kernel command line, each word with its reason
	MemMB   int
	SMP     int
}

// Targets are the kernels the lab knows, by name. 5.10 is bullseye's and
// 6.1 bookworm's kernel; bullseye has no mipsel/s390x here, so the MIPS and
// big-endian targets are 6.1 only.
var Targets = map[string]Target{
	"5.10-amd64": {Suite: "bullseye", Arch: "amd64", Flavour: "amd64", GoEnv: []string{"GOARCH=amd64"},
		QEMU: "qemu-system-x86_64", Package: "qemu-system-x86", Machine: []string{"-cpu", "max"}, Console: "ttyS0"},
	"6.1-amd64": {Suite: "bookworm", Arch: "amd64", Flavour: "amd64", GoEnv: []string{"GOARCH=amd64"},
		QEMU: "qemu-system-x86_64", Package: "qemu-system-x86", Machine: []string{"-cpu", "max"}, Console: "ttyS0"},
	"5.10-armhf": {Suite: "bullseye", Arch: "armhf", Flavour: "armmp-lpae", GoEnv: []string{"GOARCH=arm", "GOARM=7"},
		QEMU: "qemu-system-arm", Package: "qemu-system-arm", Machine: []string{"-M", "virt", "-cpu", "cortex-a15"}, Console: "ttyAMA0"},
	"5.10-arm64": {Suite: "bullseye", Arch: "arm64", Flavour: "cloud-arm64", GoEnv: []string{"GOARCH=arm64"},
		QEMU: "qemu-system-aarch64", Package: "qemu-system-arm", Machine: []string{"-M", "virt", "-cpu", "max"}, Console: "ttyAMA0"},
	"6.1-arm64": {Suite: "bookworm", Arch: "arm64", Flavour: "cloud-arm64", GoEnv: []string{"GOARCH=arm64"},
		QEMU: "qemu-system-aarch64", Package: "qemu-system-arm", Machine: []string{"-M", "virt", "-cpu", "max"}, Console: "ttyAMA0"},
	"6.1-mipsel": {Suite: "bookworm", Arch: "mipsel", Flavour: "4kc-malta", GoEnv: []string{"GOARCH=mipsle", "GOMIPS=softfloat"},
		QEMU: "qemu-system-mipsel", Package: "qemu-system-mips", Machine: []string{"-M", "malta", "-cpu", "24Kf"}, Console: "ttyS0", MemMB: 256, SMP: 1,
		// The MIPS clocksource, the 32-bit CP0 counter at 167 MHz, wraps
		// every 12.9 s. Under emulation the guest's timekeeping now and
		// then misses a wrap, and its monotonic clock jumps by seconds,
		// backwards too: tests measured negative durations, and a 10 s
		// confirm window ran out early. Jiffies cannot go backwards; a
		// late tick only makes the clock slow.
		Cmdline: "clocksource=jiffies"},
	"6.1-s390x": {Suite: "bookworm", Arch: "s390x", Flavour: "s390x", GoEnv: []string{"GOARCH=s390x"},
		QEMU: "qemu-system-s390x", Package: "qemu-system-misc", Console: "ttysclp0"},
}

// DefaultTargets is the matrix run without -targets.
var DefaultTargets = []string{"5.10-amd64", "5.10-armhf", "6.1-arm64", "6.1-mipsel", "6.1-s390x"}

func init() {
	for name, t := range Targets {
		t.Name = name
		if t.MemMB == 0 {
			t.MemMB = 1024
		}
		if t.SMP == 0 {
			t.SMP = 2
		}
		Targets[name] = t
	}
}

// Lookup resolves a comma-separated list of target names.
func Lookup(list string) ([]Target, error) {
	var out []Target
	for _, name := range strings.Split(list, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		t, ok := Targets[name]
		if !ok {
			return nil, fmt.Errorf("unknown target %q (known: %s)", name, strings.Join(Names(), ", "))
		}
		out = append(out, t)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no targets in %q", list)
	}
	return out, nil
}

// Names lists the known targets, sorted.
func Names() []string {
	var n []string
	for name := range Targets {
		n = append(n, name)
	}
	sort.Strings(n)
	return n
}
