package device

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/devfence/devfence/internal/dnstest"
	"github.com/devfence/devfence/internal/pipeline"
	"github.com/devfence/devfence/rules"
)

const refreshProfile = `version: 1
device: {name: plug}
networks:
  cloud: [api.vendor.example, 198.51.100.9]
egress:
  quota: 64KiB/1h
  allow:
    - {name: api, to: [cloud], proto: tcp, port: 443}
`

// TestRefresh re-resolves a host name through a DNS server on loopback and
// checks that only the host's sets change, in one transaction, keeping
// the datapath's state; an unchanged answer sends nothing.
func TestRefresh(t *testing.T) {
	onEachKernel(t, func(t *testing.T, newEnv func(*testing.T) *env) {
		e := newEnv(t)
		dns := dnstest.Start(t, map[string][]netip.Addr{"api.vendor.example": {netip.MustParseAddr("203.0.113.7")}})
		path := filepath.Join(t.TempDir(), "plug.yaml")
		if err := os.WriteFile(path, []byte(refreshProfile), 0o644); err != nil {
			t.Fatal(err)
		}
		build := func() *rules.Table {
			t.Helper()
			res, err := pipeline.Build(context.Background(), path, pipeline.Options{Resolver: pipeline.DNSResolver(dns.Addr, "")})
			if err != nil || len(res.Warnings) > 0 {
				t.Fatalf("build: %v %v", err, res.Warnings)
			}
			return res.Table
		}
		if _, err := Refresh(e.conn, build(), e.state); err == nil || !strings.Contains(err.Error(), "run devfence apply first") {
			t.Errorf("refresh without a table: %v", err)
		}
		e.mustApply(t, build())
		// State the datapath made, which a refresh must keep.
		e.addElement(t, "quota_default_v4", "203.0.113.7")

		dns.Set(map[string][]netip.Addr{"api.vendor.example": {netip.MustParseAddr("203.0.113.8"), netip.MustParseAddr("2001:db8::8")}})
		gen, _ := e.conn.Generation()
		res, err := Refresh(e.conn, build(), e.state)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(res.Sets, " "); got != "allow_api_v4 allow_api_v6" {
			t.Errorf("refreshed sets %q, want both families of the host's sets", got)
		}
		if g, _ := e.conn.Generation(); g != gen+1 {
			t.Errorf("generation moved from %d to %d, want exactly one transaction", gen, g)
		}
		live, err := e.conn.Read("inet", "devfence")
		if err != nil {
			t.Fatal(err)
		}
		if got := elementsText(live.Set("allow_api_v4")); got != "198.51.100.9,203.0.113.8" {
			t.Errorf("allow_api_v4 after refresh: %s", got)
		}
		if got := elementsText(live.Set("allow_api_v6")); got != "2001:db8::8" {
			t.Errorf("allow_api_v6 after refresh: %s", got)
		}
		if q := live.Set("quota_default_v4"); q == nil || len(q.Elements) != 1 {
			t.Errorf("refresh lost the quota meter's element: %+v", q)
		}

		gen, _ = e.conn.Generation()
		if res, err := Refresh(e.conn, build(), e.state); err != nil || len(res.Sets) != 0 {
			t.Errorf("an unchanged answer: %+v, %v", res, err)
		}
		if g, _ := e.conn.Generation(); g != gen {
			t.Errorf("an unchanged answer sent a transaction")
		}

		// A profile changed beyond host addresses needs apply.
		changed := build()
		changed.Chain("output").Rules = changed.Chain("output").Rules[1:]
		if _, err := Refresh(e.conn, changed, e.state); err == nil || !strings.Contains(err.Error(), "differs from the profile in more than host addresses") {
			t.Errorf("refresh of a changed profile: %v", err)
		}
	})
}
