package pipeline_test

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/devfence/devfence/internal/dnstest"
	_ "github.com/devfence/devfence/internal/golden"
	"github.com/devfence/devfence/internal/pipeline"
	"github.com/devfence/devfence/rules"
)

const hostProfile = `version: 1
device: {name: plug}
networks:
  cloud: [api.vendor.example, 198.51.100.9]
egress:
  allow:
    - {name: api, to: [cloud], proto: tcp, port: 443}
`

func writeProfile(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "p.yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestBuildResolvesHostNames(t *testing.T) {
	dns := dnstest.Start(t, map[string][]netip.Addr{
		"api.vendor.example": {netip.MustParseAddr("203.0.113.7"), netip.MustParseAddr("2001:db8::7")},
	})
	path := writeProfile(t, hostProfile)

	unresolved, err := pipeline.Build(context.Background(), path, pipeline.Options{})
	if err != nil {
		t.Fatal(err)
	}
	text := unresolved.Table.String()
	for _, want := range []string{`comment "egress.allow api; hosts api.vendor.example"`, "elements = { 198.51.100.9 }", "set allow_api_v6 {"} {
		if !strings.Contains(text, want) {
			t.Errorf("unresolved table lacks %q:\n%s", want, text)
		}
	}

	res, err := pipeline.Build(context.Background(), path, pipeline.Options{Resolver: pipeline.DNSResolver(dns.Addr, "")})
	if err != nil {
		t.Fatal(err)
	}
	v4, v6 := res.Table.Set("allow_api_v4"), res.Table.Set("allow_api_v6")
	if got := elements(v4); got != "198.51.100.9 203.0.113.7" {
		t.Errorf("allow_api_v4 = %s", got)
	}
	if got := elements(v6); got != "2001:db8::7" {
		t.Errorf("allow_api_v6 = %s", got)
	}
}

func TestBuildWarnsOfUnresolvableHost(t *testing.T) {
	dns := dnstest.Start(t, nil)
	path := writeProfile(t, hostProfile)
	res, err := pipeline.Build(context.Background(), path, pipeline.Options{Resolver: pipeline.DNSResolver(dns.Addr, "")})
	if err != nil {
		t.Fatalf("an unresolvable host must not stop the build: %v", err)
	}
	if len(res.Warnings) != 1 || !strings.HasPrefix(res.Warnings[0], path+":4:11: networks.cloud[0]: api.vendor.example did not resolve") {
		t.Errorf("want one warning at the host's position, got %q", res.Warnings)
	}
	// Fail closed: the host contributes nothing; the literal address stays.
	if got := elements(res.Table.Set("allow_api_v4")); got != "198.51.100.9" {
		t.Errorf("allow_api_v4 = %s", got)
	}
	if got := elements(res.Table.Set("allow_api_v6")); got != "" {
		t.Errorf("allow_api_v6 = %s, want empty", got)
	}
}

func elements(s *rules.Set) string {
	if s == nil {
		return "<no set>"
	}
	var out []string
	for _, e := range s.Elements {
		out = append(out, e.String())
	}
	return strings.Join(out, " ")
}
