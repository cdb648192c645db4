package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/devfence/devfence/compiler"
)

// TestProfileViewProtocols: rules without ports show their ICMP types, or
// nothing, where tcp and udp rules show the port, in text and in JSON.
func TestProfileViewProtocols(t *testing.T) {
	p, err := compiler.Parse("p.yaml", []byte(`version: 1
device: {name: hub}
networks: {lan: [192.0.2.0/24]}
inbound:
  services:
    - {name: ping, proto: icmp, types: [echo-request], from: [lan]}
    - {name: queries, proto: igmp, from: [lan]}
egress:
  quota: 1MiB/1h
  allow:
    - {name: reports, to: [224.0.0.22], proto: igmp}
    - {name: raw, to: [lan], proto: 253}
    - {name: dns, to: [lan], proto: udp, port: 53}
`))
	if err != nil {
		t.Fatal(err)
	}
	v := newProfileView("p.yaml", p)
	var got []string
	for _, l := range strings.Split(v.Text(), "\n") {
		if strings.HasPrefix(l, "  ") && !strings.Contains(l, "quota 1MiB") {
			got = append(got, l)
		}
	}
	want := []string{
		"  ping             icmp echo-request from lan",
		"  queries          igmp             from lan",
		"  reports          igmp             to 224.0.0.22/32  default quota",
		"  raw              253              to lan  default quota",
		"  dns              udp  53          to lan  default quota",
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("text (-want +got):\n%s", d)
	}
	js, err := json.Marshal(v.Inbound.Services)
	if err != nil {
		t.Fatal(err)
	}
	wantJSON := `[{"name":"ping","proto":"icmp","types":["echo-request"],"from":["lan"],"consent":false},{"name":"queries","proto":"igmp","from":["lan"],"consent":false}]`
	if d := cmp.Diff(wantJSON, string(js)); d != "" {
		t.Errorf("json (-want +got):\n%s", d)
	}
}
