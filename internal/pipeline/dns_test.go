package pipeline_test

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/devfence/devfence/compiler"
	"github.com/devfence/devfence/internal/dnstest"
	"github.com/devfence/devfence/internal/pipeline"
	"github.com/devfence/devfence/rules/netlink/nltest"
)

var (
	api4 = netip.MustParseAddr("203.0.113.7")
	api6 = netip.MustParseAddr("2001:db8::7")
)

func resolve(t *testing.T, r pipeline.Resolver) ([]netip.Addr, []string) {
	t.Helper()
	p, err := compiler.Parse("p.yaml", []byte(hostProfile))
	if err != nil {
		t.Fatal(err)
	}
	got, warnings := pipeline.Resolve(context.Background(), p, r)
	return got["api.vendor.example"], warnings
}

// TestDNSWarningNamesTheServerAsked: with --dns, a host that does not
// resolve is reported with the server devfence asked, not the system's.
func TestDNSWarningNamesTheServerAsked(t *testing.T) {
	dns := dnstest.Start(t, nil)
	_, warnings := resolve(t, pipeline.DNSResolver(dns.Addr, ""))
	want := "p.yaml:4:11: networks.cloud[0]: api.vendor.example did not resolve, so nothing is allowed to it until it does (devfence refresh): lookup api.vendor.example on " + dns.Addr + ": no such host"
	if len(warnings) != 1 || warnings[0] != want {
		t.Errorf("warnings:\n%q\nwant\n%q", warnings, want)
	}
}

// startInNS starts a DNS server on addr inside network namespace ns.
func startInNS(t *testing.T, ns, addr string, hosts map[string][]netip.Addr) *dnstest.Server {
	t.Helper()
	var s *dnstest.Server
	if err := nltest.Do(ns, func() error { s = dnstest.StartOn(t, addr, hosts); return nil }); err != nil {
		t.Fatal(err)
	}
	return s
}

// nsWithLoopback is a fresh namespace whose loopback is up.
func nsWithLoopback(t *testing.T) string {
	t.Helper()
	ns := nltest.NS(t)
	if out, err := nltest.Run(ns, "", "ip", "link", "set", "lo", "up"); err != nil {
		t.Fatalf("lo up: %v\n%s", err, out)
	}
	return ns
}

// TestResolveInNamespaceResolvConf: with --netns and no --dns, host names
// are resolved through the namespace's /etc/netns/NS/resolv.conf, as `ip
// netns exec` would, over the namespace's own loopback, where the only
// server answering is.
func TestResolveInNamespaceResolvConf(t *testing.T) {
	ns := nsWithLoopback(t)
	startInNS(t, ns, "127.0.0.1:53", map[string][]netip.Addr{"api.vendor.example": {api4, api6}})
	dir := filepath.Join("/etc/netns", ns)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.WriteFile(filepath.Join(dir, "resolv.conf"), []byte("# test\nnameserver 127.0.0.1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, warnings := resolve(t, pipeline.DNSResolver("", ns))
	if len(warnings) > 0 || len(got) != 2 || got[0] != api4 || got[1] != api6 {
		t.Errorf("resolved %v, warnings %q; want %v %v", got, warnings, api4, api6)
	}
}

// TestResolveInNamespaceWithDNS: --dns ADDR is reached over the target
// namespace's network; the caller's namespace has no server there.
func TestResolveInNamespaceWithDNS(t *testing.T) {
	ns := nsWithLoopback(t)
	dns := startInNS(t, ns, "127.0.0.1:0", map[string][]netip.Addr{"api.vendor.example": {api4}})
	got, warnings := resolve(t, pipeline.DNSResolver(dns.Addr, ns))
	if len(warnings) > 0 || len(got) != 1 || got[0] != api4 {
		t.Errorf("in namespace %s: resolved %v, warnings %q; want %v", ns, got, warnings, api4)
	}
	// The same server from the caller's namespace is not there.
	if got, warnings := resolve(t, pipeline.DNSResolver(dns.Addr, "")); len(got) != 0 || len(warnings) != 1 || !strings.Contains(warnings[0], "on "+dns.Addr+":") {
		t.Errorf("from the caller's namespace: resolved %v, warnings %q; want one naming %s", got, warnings, dns.Addr)
	}
}

// TestResolveOverTCPWhenTruncated: a truncated UDP answer is asked again
// over TCP, and the TCP answer is the one used.
func TestResolveOverTCPWhenTruncated(t *testing.T) {
	dns := dnstest.Start(t, map[string][]netip.Addr{"api.vendor.example": {api4, api6}})
	dns.TruncateUDP(true)
	got, warnings := resolve(t, pipeline.DNSResolver(dns.Addr, ""))
	if len(warnings) > 0 || len(got) != 2 || got[0] != api4 || got[1] != api6 {
		t.Errorf("resolved %v, warnings %q; want %v %v", got, warnings, api4, api6)
	}
	if n := dns.TCPQueries(); n != 2 {
		t.Errorf("%d queries over TCP, want 2 (A and AAAA)", n)
	}
}

// TestResolveInNamespaceHostsFile: without --dns, the namespace's hosts
// file answers first, as for a program under `ip netns exec`, where no
// server answers; with --dns only that server is asked.
func TestResolveInNamespaceHostsFile(t *testing.T) {
	ns := nsWithLoopback(t)
	dir := filepath.Join("/etc/netns", ns)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	hosts := "# test\n203.0.113.7\tAPI.vendor.example. api # v4\n2001:db8::7 other api.vendor.example\n198.51.100.9 elsewhere.example\n"
	if err := os.WriteFile(filepath.Join(dir, "hosts"), []byte(hosts), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "resolv.conf"), []byte("nameserver 127.0.0.1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, warnings := resolve(t, pipeline.DNSResolver("", ns))
	if len(warnings) > 0 || len(got) != 2 || got[0] != api4 || got[1] != api6 {
		t.Errorf("from the hosts file: resolved %v, warnings %q; want %v %v", got, warnings, api4, api6)
	}
	server := netip.MustParseAddr("198.51.100.7")
	dns := startInNS(t, ns, "127.0.0.1:0", map[string][]netip.Addr{"api.vendor.example": {server}})
	got, warnings = resolve(t, pipeline.DNSResolver(dns.Addr, ns))
	if len(warnings) > 0 || len(got) != 1 || got[0] != server {
		t.Errorf("with --dns: resolved %v, warnings %q; want %v", got, warnings, server)
	}
}
