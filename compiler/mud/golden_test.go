package mud_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/devfence/devfence/internal/golden"

	"github.com/google/go-cmp/cmp"

	"github.com/devfence/devfence/compiler"
	"github.com/devfence/devfence/compiler/mud"
)

const (
	examplesDir = "../../examples/mud"
	goldenDir   = "../../golden/mud"
)

// checkGolden compares got with the golden file, or rewrites it under -update.
func checkGolden(t *testing.T, name, path string, got []byte) {
	t.Helper()
	golden.Compare(t, path, got)
}

// testAddrs gives every network that still needs a --bind an address from
// the documentation ranges, one IPv4 and one IPv6 each.
func testAddrs(names []string) map[string][]string {
	binds := map[string][]string{}
	for i, n := range names {
		binds[n] = []string{fmt.Sprintf("192.0.2.%d", i+1), fmt.Sprintf("2001:db8::%x/128", i+1)}
	}
	return binds
}

// loadBound converts data, binds every network, and loads the result (see
// loadProfile): an import must yield a valid profile once bound.
func loadBound(t *testing.T, name string, data []byte) (*mud.Result, *compiler.Profile, []string) {
	t.Helper()
	res, err := mud.Convert(data, mud.Options{Source: name})
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	bound, err := mud.Convert(data, mud.Options{Source: name, Binds: testAddrs(res.Unbound)})
	if err != nil {
		t.Fatalf("%s: with every network bound: %v", name, err)
	}
	if len(bound.Unbound) != 0 {
		t.Errorf("%s: still unbound after binding all: %v", name, bound.Unbound)
	}
	p, summary := loadProfile(t, name+".yaml", bound.YAML)
	return res, p, summary
}

// examples says, for each example, what its import must contain; the golden
// files pin the exact bytes, these pin the meaning.
var examples = map[string]struct {
	rules    []string
	unbound  []string
	unmapped []string // each must occur in some line of Result.Unmapped
}{
	"rfc8520-lightbulb": {
		rules: []string{
			"out cl0-frdev tcp 443 to dns-test-example-com",
			"out cl1-frdev tcp 443 to dns-updates-example-com",
		},
		unbound:  nil,
		unmapped: []string{"mud.cache-validity: 48 hours", "mud.is-supported: true"},
	},
	"inbound": {
		rules: []string{
			"in ui-todev tcp 8443 from local-networks",
			"in ssdp-todev udp 1900 from local-networks",
			"in ctl-todev tcp 1-65535 from my-controller",
			"out coap-frdev udp 5683 to my-controller",
		},
		unbound: []string{"local-networks", "my-controller"},
	},
	"ports": {
		rules: []string{
			"in rtp-todev udp 5000-5100 from 198.51.100.0/24",
			"in admin-todev tcp 60001-65535 from 198.51.100.0/24",
			"out range tcp 8000-8080 to 198.51.100.0/24",
			"out range-one-port tcp 9000 to 198.51.100.0/24",
			"out range-from-zero tcp 1-100 to 198.51.100.0/24",
			"out lt tcp 1-1023 to 198.51.100.0/24",
			"out lte udp 1-10 to 198.51.100.0/24",
			"out gt tcp 49152-65535 to 198.51.100.0/24",
			"out gte udp 65000-65535 to 198.51.100.0/24",
			"out neq-1 tcp 1-24 to 198.51.100.0/24",
			"out neq-2 tcp 26-65535 to 198.51.100.0/24",
			"out neq-first udp 2-65535 to 198.51.100.0/24",
			"out operator-omitted tcp 8883 to 198.51.100.0/24",
			"out port-as-string tcp 1883 to 198.51.100.0/24",
			"out range-operator tcp 6000-6010 to 198.51.100.0/24",
		},
		unmapped: []string{
			"(ports-fr/eq-zero): port eq 0 matches no port",
			"(ports-fr/lt-one): port lt 1 matches no port",
			"(ports-fr/gt-max): port gt 65535 matches no port",
		},
	},
	"classes": {
		rules: []string{
			"in local-todev tcp 8080 from local-networks",
			"in samemfg-todev udp 5353 from same-manufacturer",
			"in model-todev tcp 9000 from model-bulbs-example-net-bulb-7",
			"out local-frdev tcp 80 to local-networks",
			"out ctl-frdev udp 53 to controller-urn-ietf-params-mud-dns",
			"out ctl2-frdev tcp 8883 to controller-controller-example-com-coordinator",
			"out myctl-frdev tcp 443 to my-controller",
			"out samemfg-frdev udp 5353 to same-manufacturer",
			"out mfg-frdev tcp 8080 to manufacturer-bulbs-example-net",
			"out model-frdev tcp 8081 to model-bulbs-example-net-bulb-7",
		},
		unbound: []string{"controller-controller-example-com-coordinator", "controller-urn-ietf-params-mud-dns", "local-networks", "manufacturer-bulbs-example-net", "model-bulbs-example-net-bulb-7", "my-controller", "same-manufacturer"},
	},
	"networks": {
		rules: []string{
			"in v4-peer-todev tcp 22 from 192.0.2.0/24",
			"in v6-peer-todev tcp 22 from fd00:1::/64",
			"in v6-anyone-todev tcp 80 from ::/0",
			"in anyone-todev tcp 443 from 0.0.0.0/0,::/0",
			"out v4-net tcp 443 to 192.0.2.0/24",
			"out v4-host udp 123 to 203.0.113.10",
			"out v4-anywhere udp 53 to 0.0.0.0/0",
			"out v4-by-type tcp 80 to 0.0.0.0/0",
			"out v6-net tcp 443 to 2001:db8:10::/48",
			"out v6-host udp 123 to 2001:db8:10::10",
			"out anywhere tcp 8443 to any",
		},
	},
	"unmapped": {
		rules: []string{
			"out ping-frdev icmp [echo-request] to dns-cloud-example-com",
			"out gre-frdev 47 to dns-cloud-example-com",
			"out srcport-frdev udp 123 to dns-ntp-example-com",
			"out after-drops-frdev tcp 8443 to dns-cloud-example-com",
		},
		unbound: nil,
		unmapped: []string{
			"example-vendor:signature-hint: unknown top-level member",
			"mud.mud-version: 2",
			"mud.cache-validity: 48 hours",
			"mud.is-supported: true",
			`mud.extensions[0]: extension "ol"`,
			`mud.extensions[1]: extension "example-ext"`,
			"mud.example-vendor:telemetry: unknown MUD member",
			"(odd-fr/no-telnet): action drop; not needed",
			"(odd-fr/cloud-frdev): the earlier drop ACE odd-fr/no-telnet may carve an exception out of it",
			"(odd-fr/everything-frdev): the earlier drop ACE odd-fr/no-telnet may carve an exception out of it",
			"(odd-fr/dscp-frdev): matches.ipv4.dscp 46; devfence cannot match this",
			"(odd-fr/eth-frdev): matches.eth {\"ethertype\":35020} (an ethernet match)",
			"(odd-fr/srcport-frdev): matches.udp.source-port eq 123, the device's own port, is not enforced: the rule matches the peer's port eq 123",
			"(odd-fr/own-address-frdev): network 10.0.0.5 is the device's own address",
			"(odd-fr/two-peers-frdev): the peer must be all of DNS name printer.example.com and local-networks at once",
			"(odd-fr/flags-frdev): matches.tcp.flags \"syn\"",
			"(odd-fr/unknown-class-frdev): matches.mud.example-class \"x\"",
			"(odd-fr/reject-frdev): action reject",
			"acls.acl[0].aces.ace[13].statistics (odd-fr/logged-frdev)",
			"(odd-fr/logged-frdev): logging action",
			"(odd-fr/logged-frdev): the earlier reject ACE odd-fr/reject-frdev",
			"(odd-to/peer-port-todev): matches.tcp.source-port eq 80 fixes the peer's port",
			"(odd-to/unclear-todev): to-device ACE with no port match and no ietf-mud:direction-initiated",
			"(odd-to/both-ports-todev): to-device ACE with ports fixed on both sides",
			"(odd-to/nothing-todev): port gt 65535 matches no port",
			"acls.acl[2] (unreferenced): not referenced",
		},
	},
	"pre-rfc": {
		rules: []string{
			"in viewer-todev tcp 554 from 192.168.1.0/24",
			"out cloud-frdev tcp 443 to dns-cloud-legacy-example-com",
			"out stream-frdev udp 10000 to dns-stream-legacy-example-com",
		},
		unbound:  nil,
		unmapped: []string{"access-lists.access-list[0].access-list-entries.ace[2] (cam-1-fr/block-rest): action drop"},
	},
	"names": {
		rules: []string{
			"in cloud-api-https tcp 443 from dns-api-example-com-2",
			"out cloud-api-https tcp 443 to dns-api-example-com-2",
			"out cloud-api-https-2 tcp 443 to dns-api-example-com",
			"out 1 udp 7 to dns-any",
			"out true tcp 8443 to dns-a-very-long-host-name-that-goes-on-and-on-and-on-example-cl",
			"out a-very-long-host-name-that-goes-on-and-on-and-on-example-cloud tcp 8443 to dns-a-very-long-host-name-that-goes-on-and-on-and-on-example-2",
			"out rule udp 123 to dns-ntp-example-com",
			"out ace7 udp 4123 to dns-ntp-example-com",
		},
		unbound: []string{"dns-any"},
	},
	"minimal": {},
}

func TestExamples(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(examplesDir, "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples in %s: %v", examplesDir, err)
	}
	seen := map[string]bool{}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".json")
		seen[name] = true
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			res, _, got := loadBound(t, filepath.Base(f), data)
			checkGolden(t, name, filepath.Join(goldenDir, name+".yaml"), res.YAML)

			want, ok := examples[name]
			if !ok {
				t.Fatalf("%s: no expectations in the examples table", name)
			}
			if diff := cmp.Diff(want.rules, got); diff != "" {
				t.Errorf("%s: rules (-want +got):\n%s", name, diff)
			}
			if diff := cmp.Diff(want.unbound, res.Unbound); diff != "" {
				t.Errorf("%s: Unbound (-want +got):\n%s", name, diff)
			}
			for _, w := range want.unmapped {
				if !containsPart(res.Unmapped, w) {
					t.Errorf("%s: no Unmapped line contains %q; got:\n%s", name, w, strings.Join(res.Unmapped, "\n"))
				}
			}
			// Every unmapped line is also in the profile, as a comment
			// above the first key.
			head, _, _ := strings.Cut(string(res.YAML), "\nversion: 1\n")
			for _, u := range res.Unmapped {
				if !strings.Contains(head, "\n#   - "+u+"\n") {
					t.Errorf("%s: Unmapped line missing from the header comment: %s", name, u)
				}
			}
			// Converting twice gives the same bytes (no map order leaks).
			again, err := mud.Convert(data, mud.Options{Source: filepath.Base(f)})
			if err != nil || string(again.YAML) != string(res.YAML) {
				t.Errorf("%s: a second conversion differs (err %v)", name, err)
			}
		})
	}
	for name := range examples {
		if !seen[name] {
			t.Errorf("%s: in the examples table but not in %s", name, examplesDir)
		}
	}
}

func containsPart(lines []string, part string) bool {
	for _, l := range lines {
		if strings.Contains(l, part) {
			return true
		}
	}
	return false
}
