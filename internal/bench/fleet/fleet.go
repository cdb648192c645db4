// Package fleet generates the varied, valid device profiles that the fleet
// benchmarks compile (internal/bench/genprofiles writes them to files).
package fleet

import (
	"fmt"
	"strings"
)

// Profile is the i-th fleet profile: a camera-like device whose addresses,
// ports and quotas vary with i, with extra addresses in its cloud network.
func Profile(i, extra int) string {
	var b strings.Builder
	fmt.Fprintf(&b, `version: 1
device:
  name: device-%05d
  description: generated fleet profile %d
networks:
  lan: [10.%d.%d.0/24, "fd00:%x::/64"]
  resolvers: [10.%d.%d.1]
  cloud: [198.51.100.%d, "2001:db8:%x::10"`, i, i, i/256%256, i%256, i, i/256%256, i%256, i%250+1, i)
	for k := range extra {
		fmt.Fprintf(&b, ", 100.%d.%d.%d", 64+k>>16&63, k>>8&255, k&255)
	}
	fmt.Fprintf(&b, `]
inbound:
  services:
    - {name: viewer, proto: tcp, port: %d, from: [lan], consent: true}
egress:
  quota: %dKiB/1h
  total: 64MiB/1h
  allow:
    - {name: dns, to: [resolvers], proto: udp, port: 53, quota: 64KiB/10m}
    - {name: cloud-api, to: [cloud], proto: tcp, port: 443}
    - {name: ntp, to: any, proto: udp, port: 123, quota: 16KiB/1h}
consent:
  idle: 30s
  bulk: [{proto: udp, port: 5000-5100}]
  handshakes: [{name: upload, to: [cloud], port: 4433, clearToSend: "220"}]
`, 8000+i%1000, 256+i%768)
	return b.String()
}

// BigNetwork returns the baby-monitor profile base with a network "big" of
// n addresses (10.0.0.1, 10.0.0.3, ...: none adjacent, so none merge) that
// egress.allow cloud-api may reach: a table with n interval set ranges.
func BigNetwork(base string, n int) (string, error) {
	const api = "      to: [vendor-cloud]\n      proto: tcp\n      port: 443"
	if !strings.Contains(base, "networks:\n") || !strings.Contains(base, api) {
		return "", fmt.Errorf("profile has no networks section or no cloud-api rule to [vendor-cloud] tcp 443")
	}
	var b strings.Builder
	b.WriteString("networks:\n  big:\n")
	for i := range n {
		a := 10<<24 + 2*i + 1
		fmt.Fprintf(&b, "    - %d.%d.%d.%d\n", a>>24, a>>16&255, a>>8&255, a&255)
	}
	p := strings.Replace(base, "networks:\n", b.String(), 1)
	return strings.Replace(p, api, "      to: [vendor-cloud, big]\n      proto: tcp\n      port: 443", 1), nil
}
