package mud_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/devfence/devfence/compiler"
	"github.com/devfence/devfence/compiler/mud"
)

func TestParseBind(t *testing.T) {
	tests := []struct {
		in    string
		name  string
		cidrs []string
		err   string
	}{
		{in: "local-networks=192.168.1.0/24", name: "local-networks", cidrs: []string{"192.168.1.0/24"}},
		{in: "dns-api-vendor-example=203.0.113.10, 2001:db8::10 ,198.51.100.0/24",
			name: "dns-api-vendor-example", cidrs: []string{"203.0.113.10", "2001:db8::10", "198.51.100.0/24"}},
		{in: "my-controller=fd00:1::/64,", name: "my-controller", cidrs: []string{"fd00:1::/64"}},
		{in: "local-networks", err: `--bind "local-networks": want NAME=CIDR[,CIDR...]`},
		{in: "=10.0.0.0/8", err: `--bind "=10.0.0.0/8": want NAME=CIDR[,CIDR...]`},
		{in: "Local_Nets=10.0.0.0/8", err: `--bind "Local_Nets=10.0.0.0/8": "Local_Nets" is not a network name (lowercase letters, digits and '-')`},
		{in: "lan=", err: "--bind lan: no addresses; give at least one CIDR or address"},
		{in: "lan=10.0.0.0/33", err: `--bind lan: "10.0.0.0/33" is not a valid CIDR`},
		{in: "lan=192.168.1.1/24", err: `--bind lan: "192.168.1.1/24" has host bits set (did you mean 192.168.1.0/24?)`},
		{in: "lan=192.168.1.300", err: `--bind lan: "192.168.1.300" is not an IPv4 or IPv6 address or CIDR`},
		{in: "lan=fe80::1%eth0", err: `--bind lan: "fe80::1%eth0" is not an IPv4 or IPv6 address or CIDR`},
		{in: "lan=printer.local", err: `--bind lan: "printer.local" is not an IPv4 or IPv6 address or CIDR`},
	}
	for _, tc := range tests {
		name, cidrs, err := mud.ParseBind(tc.in)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("ParseBind(%q): error %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseBind(%q): %v", tc.in, err)
			continue
		}
		if name != tc.name || !cmp.Equal(cidrs, tc.cidrs) {
			t.Errorf("ParseBind(%q) = %q, %q; want %q, %q", tc.in, name, cidrs, tc.name, tc.cidrs)
		}
	}
}

func TestBind(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(examplesDir, "inbound.json"))
	if err != nil {
		t.Fatal(err)
	}
	unbound, err := mud.Convert(data, mud.Options{Source: "inbound.json"})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"local-networks", "my-controller"}, unbound.Unbound); diff != "" {
		t.Fatalf("Unbound before binding (-want +got):\n%s", diff)
	}

	// Binding one network leaves the other unbound and empty.
	name, cidrs, err := mud.ParseBind("local-networks=192.168.1.0/24,fd00:1::/64")
	if err != nil {
		t.Fatal(err)
	}
	half, err := mud.Convert(data, mud.Options{Source: "inbound.json", Binds: map[string][]string{name: cidrs}})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"my-controller"}, half.Unbound); diff != "" {
		t.Errorf("Unbound after one bind (-want +got):\n%s", diff)
	}
	for _, line := range []string{
		`  local-networks: [192.168.1.0/24, "fd00:1::/64"]  # MUD local-networks`,
		"  my-controller: []  # MUD my-controller",
		"#   - my-controller (MUD my-controller",
	} {
		if !strings.Contains(string(half.YAML), line) {
			t.Errorf("the half-bound profile lacks %q:\n%s", line, half.YAML)
		}
	}
	if strings.Contains(string(half.YAML), "#   - local-networks") {
		t.Errorf("a bound network is still listed as unbound:\n%s", half.YAML)
	}

	// Binding both: nothing unbound, the profile loads, and the addresses
	// come out canonical and without repeats, in the order given.
	full, err := mud.Convert(data, mud.Options{Source: "inbound.json", Binds: map[string][]string{
		"local-networks": {"192.168.1.0/24", "FD00:1::/64", "192.168.1.0/24"},
		"my-controller":  {"192.168.1.2"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if len(full.Unbound) != 0 {
		t.Errorf("Unbound after binding all: %v", full.Unbound)
	}
	p, err := compiler.Parse("inbound.yaml", full.YAML)
	if err != nil {
		t.Fatalf("bound profile does not load: %v\n%s", err, full.YAML)
	}
	var got []string
	for _, n := range p.Networks {
		for _, a := range n.Entries {
			got = append(got, n.Name+" "+a.Prefix.String())
		}
	}
	want := []string{"local-networks 192.168.1.0/24", "local-networks fd00:1::/64", "my-controller 192.168.1.2/32"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("bound networks (-want +got):\n%s", diff)
	}
	if strings.Contains(string(full.YAML), "Unbound networks") {
		t.Errorf("no network is unbound, yet the header lists some:\n%s", full.YAML)
	}
}

func TestBindErrors(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(examplesDir, "inbound.json"))
	if err != nil {
		t.Fatal(err)
	}
	minimal, err := os.ReadFile(filepath.Join(examplesDir, "minimal.json"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		data  []byte
		binds map[string][]string
		err   string
	}{
		{"invalid CIDR", data, map[string][]string{"local-networks": {"192.168.1.0/24", "10.0.0.0/40"}},
			`--bind local-networks: "10.0.0.0/40" is not a valid CIDR`},
		{"host bits", data, map[string][]string{"my-controller": {"10.1.2.3/8"}},
			`--bind my-controller: "10.1.2.3/8" has host bits set (did you mean 10.0.0.0/8?)`},
		{"not an address", data, map[string][]string{"my-controller": {"controller.local"}},
			`--bind my-controller: "controller.local" is not an IPv4 or IPv6 address or CIDR`},
		{"empty list", data, map[string][]string{"my-controller": nil},
			"--bind my-controller: no addresses; give at least one CIDR or address"},
		{"misspelt network", data, map[string][]string{"local-network": {"10.0.0.0/8"}},
			"--bind local-network: no such network in this import (networks: local-networks, my-controller)"},
		{"no networks at all", minimal, map[string][]string{"lan": {"10.0.0.0/8"}},
			"--bind lan: no such network in this import (the import produced no networks)"},
	}
	for _, tc := range tests {
		_, err := mud.Convert(tc.data, mud.Options{Source: "x.json", Binds: tc.binds})
		if err == nil || err.Error() != tc.err {
			t.Errorf("%s: error %v\nwant %s", tc.name, err, tc.err)
		}
	}
}
