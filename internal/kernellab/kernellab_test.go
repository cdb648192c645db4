package kernellab

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestClosure(t *testing.T) {
	deps := map[string][]string{
		"bridge":       {"llc", "stp"},
		"stp":          {"llc"},
		"nft_ct":       {"nf_tables", "nf_conntrack"},
		"nf_tables":    {"libcrc32c"},
		"nf_conntrack": {"libcrc32c", "nf_defrag_ipv4"},
	}
	for _, tc := range []struct {
		mod  string
		want []string
	}{
		{"llc", nil},
		// busybox modprobe loads from the end: llc before stp.
		{"bridge", []string{"stp", "llc"}},
		{"nft_ct", []string{"nf_conntrack", "nf_defrag_ipv4", "nf_tables", "libcrc32c"}},
	} {
		if d := cmp.Diff(tc.want, closure(tc.mod, deps)); d != "" {
			t.Errorf("closure(%s) (-want +got):\n%s", tc.mod, d)
		}
	}
}

func TestParseAndKnown(t *testing.T) {
	console := "\x1b[2JKLAB BOOTED kernel=5.10.0-46-amd64 machine=x86_64 cpus=2 memMB=964\n" +
		"KLAB MEASURE bin=devfence-device profile=baby-monitor rc=2 maxrss_kb=53248\n" +
		"KLAB MEASURE-ERROR devfence: kernel refused rule\n" +
		"KLAB SUITE netlink BEGIN\n" +
		"\x16=== RUN   TestA\n\x16--- PASS: TestA (0.01s)\n\x16=== NAME  \n" +
		"\x16=== RUN   TestB\n\x16=== RUN   TestB/x\n    b_test.go:9: the kernel lacks the payload expression\n" +
		"\x16--- FAIL: TestB/x (0.00s)\n\x16--- FAIL: TestB (0.00s)\n\x16=== NAME  \n" +
		"\x16=== RUN   TestC\n    c_test.go:3: something else\n\x16--- FAIL: TestC (0.00s)\n\x16=== NAME  \n" +
		// One subtest fails as known, the other not: the test fails.
		"\x16=== RUN   TestE\n\x16=== RUN   TestE/x\n    e_test.go:9: the kernel lacks the payload expression\n" +
		"\x16--- FAIL: TestE/x (0.00s)\n\x16=== RUN   TestE/y\n    e_test.go:9: could not resolve\n" +
		"\x16--- FAIL: TestE/y (0.00s)\n\x16--- FAIL: TestE (0.00s)\n\x16=== NAME  \n" +
		"\x16=== RUN   TestF\n\x16--- PASS: TestF (-9.08s)\n\x16=== NAME  \n" +
		"\x16FAIL\nKLAB SUITE netlink END rc=1\n" +
		"KLAB SUITE device BEGIN\n\x16=== RUN   TestD\n" +
		"[   70.611613] PC is at nft_quota_eval+0x34/0x78 [nft_quota]\n"
	r := &Result{Target: Target{Name: "5.10-amd64"}}
	Parse(r, console)
	known := []Known{{Targets: "5.10-*", Test: "netlink/*", Message: "lacks the payload", Line: 1}}
	markKnown(r, known, map[int]int{})
	got := map[string]string{}
	for k, v := range r.Tests {
		got[k] = v.Action
	}
	want := map[string]string{"netlink/TestA": "pass", "netlink/TestB": "known", "netlink/TestC": "fail", "netlink/TestE": "fail", "netlink/TestF": "pass"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("tests (-want +got):\n%s", d)
	}
	if r.Kernel != "5.10.0-46-amd64" {
		t.Errorf("kernel %q", r.Kernel)
	}
	wantM := []Measure{{Bin: "devfence-device", Profile: "baby-monitor", RC: "2", MaxRSSKiB: 53248, Error: []string{"devfence: kernel refused rule"}}}
	if d := cmp.Diff(wantM, r.Measures); d != "" {
		t.Errorf("measures (-want +got):\n%s", d)
	}
	wantB := []string{"TestB/x: b_test.go:9: the kernel lacks the payload expression"}
	if d := cmp.Diff(wantB, r.Tests["netlink/TestB"].Failures); d != "" {
		t.Errorf("failures of TestB, once each (-want +got):\n%s", d)
	}
	wantF := []string{"suite netlink: the VM's clock went backwards (TestF took -9.08s)", "kernel: [   70.611613] PC is at nft_quota_eval+0x34/0x78 [nft_quota]", "suite device did not finish (the VM stopped or timed out in it)"}
	if d := cmp.Diff(wantF, r.Fatal); d != "" {
		t.Errorf("fatal (-want +got):\n%s", d)
	}
}

func TestLoadKnown(t *testing.T) {
	f := filepath.Join(t.TempDir(), "known")
	if err := os.WriteFile(f, []byte("# c\n\n5.10-*  device/*   the kernel lacks it\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := LoadKnown(f)
	if err != nil {
		t.Fatal(err)
	}
	want := []Known{{Targets: "5.10-*", Test: "device/*", Message: "the kernel lacks it", Line: 3}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
}
