package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/devfence/devfence/internal/device"
	"github.com/devfence/devfence/rules"
	"github.com/devfence/devfence/rules/netlink/nltest"
)

// The commands run in-process honour $DEVFENCE_TEST_FAKE_KERNEL, as the
// devfence the tests build does (fakekernel.go).
func init() { useFakeKernel() }

// onEachKernel runs test against the fake kernel and against the real
// one, as subtests named after them, with the --netns name to use. The
// fake is a device.FileKernel in a file of the test's own, which the
// commands run in-process and the built devfence (and the guard it
// starts) share through $DEVFENCE_TEST_FAKE_KERNEL: no privilege needed.
// The real one is a fresh namespace, skipped without CAP_NET_ADMIN.
func onEachKernel(t *testing.T, test func(t *testing.T, ns string)) {
	t.Run("fake", func(t *testing.T) {
		t.Setenv(device.EnvFakeKernel, filepath.Join(t.TempDir(), "kernel.json"))
		test(t, "fake")
	})
	t.Run("netlink", func(t *testing.T) { test(t, nltest.NS(t)) })
}

// fakeKernel is the fake kernel's namespace ns while a test runs on it
// (onEachKernel), else nil.
func fakeKernel(ns string) *device.FileKernel {
	if path := os.Getenv(device.EnvFakeKernel); path != "" {
		return device.OpenFileKernel(path, ns)
	}
	return nil
}

// ruleset is ns's ruleset as nft text: nft lists the real kernel's, the
// fake dumps its own.
func ruleset(t *testing.T, ns string) string {
	t.Helper()
	if k := fakeKernel(ns); k != nil {
		text, err := k.Dump()
		if err != nil {
			t.Fatal(err)
		}
		return text
	}
	nltest.RequireNFT(t)
	return nltest.NFT(t, ns, "", "list", "ruleset")
}

// addSentinel puts table inet sentinel, which devfence does not own, in
// force in ns; nft loads it into the real kernel.
func addSentinel(t *testing.T, ns string) {
	t.Helper()
	k := fakeKernel(ns)
	if k == nil {
		nltest.RequireNFT(t)
		nltest.NFT(t, ns, sentinel, "-f", "-")
		return
	}
	tbl := &rules.Table{Family: "inet", Name: "sentinel", Chains: []*rules.Chain{{Name: "c", Hook: rules.HookOutput, Priority: 10, Policy: rules.Accept,
		Rules: []*rules.Rule{{Stmts: []rules.Stmt{rules.Counter{}}}}}}}
	if _, err := k.Apply(rules.Replace(tbl)); err != nil {
		t.Fatal(err)
	}
}

// addHandRule adds `tcp dport 22 accept` to the input chain of the live
// table devfence, as someone would with nft; the fake takes the table
// with the rule added instead.
func addHandRule(t *testing.T, ns string) {
	t.Helper()
	k := fakeKernel(ns)
	if k == nil {
		nltest.RequireNFT(t)
		nltest.NFT(t, ns, "", "add", "rule", "inet", "devfence", "input", "tcp", "dport", "22", "accept")
		return
	}
	live, err := k.Read("inet", "devfence")
	if err != nil {
		t.Fatal(err)
	}
	in := live.Chain("input")
	in.Rules = append(in.Rules, &rules.Rule{Stmts: []rules.Stmt{rules.PortMatch{Proto: "tcp", Field: rules.Dst, Lo: 22, Hi: 22}, rules.Verdict{Kind: rules.Accept}}})
	if _, err := k.Apply(rules.Replace(live)); err != nil {
		t.Fatal(err)
	}
}
