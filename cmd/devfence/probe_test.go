package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/devfence/devfence/rules"
	"github.com/devfence/devfence/rules/netlink/nltest"
)

// simulateKernel makes the CLI's probe report the real kernel's answer
// with the given features missing, for the rest of the test.
func simulateKernel(t *testing.T, release string, lacks ...rules.Feature) {
	t.Helper()
	real := probeKernel
	t.Cleanup(func() { probeKernel = real })
	probeKernel = func(conn kernelConn) (*rules.Kernel, error) {
		k, err := real(conn)
		if err != nil {
			return nil, err
		}
		k.Release = release
		for _, f := range lacks {
			k.Has[f] = false
		}
		return k, nil
	}
}

// TestProbeCommand: the feature table names every feature with yes or no
// and the kernel release, as text and as JSON.
func TestProbeCommand(t *testing.T) {
	ns := nltest.NS(t)
	code, out, errs := devfence(t, "probe", "--netns", ns)
	if code != exitOK {
		t.Fatalf("probe: exit %d: %s", code, errs)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != len(rules.Features)+1 || !strings.HasPrefix(lines[0], "FEATURE") {
		t.Fatalf("probe printed %d lines, want a header and %d features:\n%s", len(lines), len(rules.Features), out)
	}
	for i, f := range rules.Features {
		if fields := strings.Fields(lines[i+1]); len(fields) < 3 || fields[0] != string(f.Feature) || fields[1] != "yes" {
			t.Errorf("line %q: want feature %s available on this kernel", lines[i+1], f.Feature)
		}
	}

	simulateKernel(t, "5.10.0-test", rules.FeatPayloadInner)
	code, out, errs = devfence(t, "probe", "--netns", ns, "--format", "json")
	if code != exitOK {
		t.Fatalf("probe --format json: exit %d: %s", code, errs)
	}
	var got struct {
		Kernel   string
		Features []struct {
			Feature   string
			Available bool
		}
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("probe json: %v\n%s", err, out)
	}
	if got.Kernel != "5.10.0-test" || len(got.Features) != len(rules.Features) {
		t.Fatalf("probe json: kernel %q, %d features:\n%s", got.Kernel, len(got.Features), out)
	}
	for _, f := range got.Features {
		if want := f.Feature != string(rules.FeatPayloadInner); f.Available != want {
			t.Errorf("probe json: %s available %v, want %v", f.Feature, f.Available, want)
		}
	}
	if code, _, _ := devfence(t, "probe", "--netns", ns, "--format", "yaml"); code != exitUsage {
		t.Errorf("probe --format yaml: exit %d, want %d", code, exitUsage)
	}
}

// TestApplyFitsTheKernel: on a kernel without @ih apply puts the lowered
// clear-to-send in force and diff is clean against it; on a kernel
// without something that has no equivalent apply refuses before touching
// anything, naming the profile entry, the kernel and the feature, and the
// live table stays as it was.
func TestApplyFitsTheKernel(t *testing.T) {
	onEachKernel(t, func(t *testing.T, ns string) {
		state := t.TempDir()
		t.Run("no inner header: lowered", func(t *testing.T) {
			simulateKernel(t, "5.10.0-test", rules.FeatPayloadInner)
			if code, _, errs := devfence(t, "apply", "--netns", ns, "--state-dir", state, babyMonitor); code != exitOK {
				t.Fatalf("apply: exit %d: %s", code, errs)
			}
			live := ruleset(t, ns)
			if strings.Contains(live, "@ih") || strings.Count(live, "tcp doff") != 2*2*11 {
				t.Errorf("live table: want clear-to-send and first data per family at 11 data offsets, no @ih:\n%s", live)
			}
			if code, out, errs := devfence(t, "diff", "--netns", ns, babyMonitor); code != exitOK || out != "" {
				t.Errorf("diff after a lowered apply: exit %d, stdout %q, stderr %q", code, out, errs)
			}
		})
		t.Run("no ct mark: refused, nothing changed", func(t *testing.T) {
			before := ruleset(t, ns)
			simulateKernel(t, "5.4.0-test", rules.FeatCtMarkSet)
			code, _, errs := devfence(t, "apply", "--netns", ns, "--state-dir", state, root+"examples/ipv6-sensor.yaml")
			if code != exitUsage {
				t.Fatalf("apply on a kernel without ct mark set: exit %d, want %d: %s", code, exitUsage, errs)
			}
			want := "inbound.services pull: device spoke: kernel 5.4.0-test lacks ct-mark-set (ct mark set), and devfence has no equivalent"
			if !strings.Contains(errs, want) {
				t.Errorf("apply's error does not name the entry, kernel and feature %q:\n%s", want, errs)
			}
			if after := ruleset(t, ns); after != before {
				t.Errorf("the refused apply changed the live table:\nbefore:\n%s\nafter:\n%s", before, after)
			}
		})
	})
}
