package mud_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/devfence/devfence/compiler/mud"
)

// withACE wraps one ACE into a MUD file whose from-device policy uses it.
func withACE(ace string) string {
	return `{"ietf-mud:mud":{"from-device-policy":{"access-lists":{"access-list":[{"name":"a"}]}}},` +
		`"ietf-access-control-list:acls":{"acl":[{"name":"a","aces":{"ace":[` + ace + `]}}]}}`
}

// aceWith is an ACE with the given matches and an accept action.
func aceWith(matches string) string {
	return fmt.Sprintf(`{"name":"x","matches":%s,"actions":{"forwarding":"accept"}}`, matches)
}

func TestErrors(t *testing.T) {
	const policy = `"from-device-policy":{"access-lists":{"access-list":[{"name":"a"}]}}`
	tests := []struct {
		name, in, err string
	}{
		{"ACL inlined in the policy", `{"ietf-mud:mud":{"from-device-policy":{"access-lists":{"access-list":[{"name":"a","aces":{"ace":[]}}]}}}}`,
			`t.json:1:90: mud.from-device-policy.access-lists.access-list[0].aces: an ACL written inside the policy; RFC 8520 expects each ACL in ietf-access-control-list:acls (acl list) and the policy to reference it by name only`},
		// JSON syntax: the position of the offending byte, and its offset.
		{"empty file", "  \n", "t.json:1:1: malformed JSON at byte offset 0: the file is empty"},
		{"truncated", `{"ietf-mud:mud": {`,
			"t.json:1:19: malformed JSON at byte offset 18: unexpected end of input (truncated file?)"},
		{"trailing comma", "{\n  \"ietf-mud:mud\": {},\n}",
			"t.json:3:1: malformed JSON at byte offset 24: invalid character '}' looking for beginning of object key string"},
		{"missing colon", "{\"ietf-mud:mud\" {}}",
			"t.json:1:17: malformed JSON at byte offset 16: invalid character '{' after object key"},
		{"trailing data", `{"ietf-mud:mud": {}} x`,
			"t.json:1:22: malformed JSON at byte offset 21: invalid character 'x' after top-level value"},
		{"duplicate key", "{\"ietf-mud:mud\": {\"mud-url\": \"a\",\n \"mud-url\": \"b\"}}",
			`t.json:2:2: malformed JSON at byte offset 35: duplicate key "mud-url" in one object`},

		// Structure.
		{"not an object", `[1]`, "t.json:1:1: a MUD file is a JSON object, this is an array"},
		{"no mud container", `{"ietf-access-control-list:acls": {}}`,
			`t.json:1:1: no "ietf-mud:mud" container; is this a MUD file?`},
		{"both spellings", `{"ietf-mud:mud": {}, "mud": {}}`,
			`t.json:1:29: mud: both "ietf-mud:mud" and "mud" are given and mean the same; keep one`},
		{"ACL missing", `{"ietf-mud:mud":{` + policy + `},"ietf-access-control-list:acls":{"acl":[{"name":"b"}]}}`,
			`t.json:1:79: mud.from-device-policy.access-lists.access-list[0].name: ACL "a" is not defined in acls.acl`},
		{"no acls at all", `{"ietf-mud:mud":{` + policy + `}}`,
			`t.json:1:79: mud.from-device-policy.access-lists.access-list[0].name: ACL "a" is not defined: the file has no ietf-access-control-list:acls`},
		{"ACL without name", `{"ietf-mud:mud":{` + policy + `},"ietf-access-control-list:acls":{"acl":[{"type":"ipv4-acl-type"}]}}`,
			"t.json:1:128: acls.acl[0]: the ACL has no name, so no policy can refer to it"},
	}
	for _, tc := range tests {
		res, err := mud.Convert([]byte(tc.in), mud.Options{Source: "t.json"})
		if err == nil {
			t.Errorf("%s: no error; got profile:\n%s", tc.name, res.YAML)
			continue
		}
		if err.Error() != tc.err {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, err, tc.err)
		}
		var me *mud.Error
		if !errors.As(err, &me) {
			t.Errorf("%s: %T is not a *mud.Error", tc.name, err)
		}
	}
}

// TestSkipped: an ACE that breaks RFC 8519/8520 is left out with one
// positioned line, and the rest of the file is imported.
func TestSkipped(t *testing.T) {
	tests := []struct {
		name, in, err string
	}{
		{"ACE not an object", withACE(`"x"`), "t.json:1:155: acls.acl[0].aces.ace[0]: expected an object, got a string"},

		// Ports.
		{"unknown operator", withACE(aceWith(`{"tcp":{"destination-port":{"operator":"approx","port":80}}}`)),
			`t.json:1:216: acls.acl[0].aces.ace[0].matches.tcp.destination-port.operator: unknown operator "approx" (want eq, neq, lt, lte, gt, gte or a lower-port/upper-port range)`},
		{"reversed range", withACE(aceWith(`{"tcp":{"destination-port":{"lower-port":90,"upper-port":80}}}`)),
			"t.json:1:204: acls.acl[0].aces.ace[0].matches.tcp.destination-port: the range 90-80 is reversed"},
		{"port too large", withACE(aceWith(`{"udp":{"source-port":{"operator":"eq","port":70000}}}`)),
			"t.json:1:223: acls.acl[0].aces.ace[0].matches.udp.source-port.port: 70000 is out of range 0-65535"},
		{"negative port", withACE(aceWith(`{"tcp":{"destination-port":{"port":-1}}}`)),
			"t.json:1:212: acls.acl[0].aces.ace[0].matches.tcp.destination-port.port: expected a whole number from 0 to 65535, got -1"},
		{"operator and range", withACE(aceWith(`{"tcp":{"destination-port":{"operator":"eq","port":80,"lower-port":1}}}`)),
			`t.json:1:216: acls.acl[0].aces.ace[0].matches.tcp.destination-port.operator: operator "eq" cannot go with lower-port/upper-port`},
		{"operator without port", withACE(aceWith(`{"tcp":{"destination-port":{"operator":"eq"}}}`)),
			"t.json:1:204: acls.acl[0].aces.ace[0].matches.tcp.destination-port: a port match needs port (with operator) or lower-port and upper-port"},
		{"unknown port member", withACE(aceWith(`{"tcp":{"destination-port":{"port":80,"step":2}}}`)),
			"t.json:1:222: acls.acl[0].aces.ace[0].matches.tcp.destination-port.step: unknown member of a port match (want operator and port, or lower-port and upper-port)"},
		{"ports without tcp or udp", withACE(aceWith(`{"ipv4":{"protocol":1,"destination-port-range":{"lower-port":1}}}`)),
			"t.json:1:177: acls.acl[0].aces.ace[0].matches: port matches need protocol 6 (tcp) or 17 (udp), not ICMP (protocol 1)"},

		// Matches that contradict each other.
		{"tcp with protocol 17", withACE(aceWith(`{"ipv4":{"protocol":17},"tcp":{}}`)),
			"t.json:1:207: acls.acl[0].aces.ace[0].matches.tcp: a tcp match contradicts protocol 17 in the ipv4 match"},
		{"ipv4 and ipv6", withACE(aceWith(`{"ipv4":{},"ipv6":{}}`)),
			"t.json:1:177: acls.acl[0].aces.ace[0].matches: ipv4 and ipv6 matches exclude each other (one ACE matches one IP family)"},
		{"tcp and udp", withACE(aceWith(`{"tcp":{},"udp":{}}`)),
			"t.json:1:177: acls.acl[0].aces.ace[0].matches: tcp and udp matches exclude each other (one ACE matches one transport protocol)"},
		{"protocol out of range", withACE(aceWith(`{"ipv4":{"protocol":300}}`)),
			"t.json:1:197: acls.acl[0].aces.ace[0].matches.ipv4.protocol: 300 is out of range 0-255"},

		// Values.
		{"bad CIDR", withACE(aceWith(`{"ipv4":{"destination-ipv4-network":"10.0.0.0/33"}}`)),
			`t.json:1:213: acls.acl[0].aces.ace[0].matches.ipv4.destination-ipv4-network: "10.0.0.0/33" is not a CIDR`},
		{"IPv6 prefix in ipv4", withACE(aceWith(`{"ipv4":{"destination-ipv4-network":"2001:db8::/32"}}`)),
			`t.json:1:213: acls.acl[0].aces.ace[0].matches.ipv4.destination-ipv4-network: "2001:db8::/32" is not an IPv4 prefix`},
		{"bad DNS name", withACE(aceWith(`{"ipv4":{"ietf-acldns:dst-dnsname":"cloud example.com"}}`)),
			`t.json:1:212: acls.acl[0].aces.ace[0].matches.ipv4.dst-dnsname: "cloud example.com" is not a DNS name (an internationalised name must be written in its xn-- form)`},
		{"unknown direction", withACE(aceWith(`{"tcp":{"ietf-mud:direction-initiated":"sideways"}}`)),
			`t.json:1:216: acls.acl[0].aces.ace[0].matches.tcp.direction-initiated: unknown direction "sideways" (want from-device or to-device)`},
		{"class not empty", withACE(aceWith(`{"ietf-mud:mud":{"same-manufacturer":"yes"}}`)),
			`t.json:1:214: acls.acl[0].aces.ace[0].matches.mud.same-manufacturer: expected [null] (a YANG empty leaf), got "yes"`},
		{"class not a string", withACE(aceWith(`{"ietf-mud:mud":{"controller":7}}`)),
			"t.json:1:207: acls.acl[0].aces.ace[0].matches.mud.controller: expected a string, got a number"},

		// Actions.
		{"unknown action", withACE(`{"name":"x","actions":{"forwarding":"maybe"}}`),
			`t.json:1:191: acls.acl[0].aces.ace[0].actions.forwarding: unknown forwarding action "maybe" (want accept, drop or reject)`},
		{"no actions", withACE(`{"name":"x","matches":{}}`), "t.json:1:155: acls.acl[0].aces.ace[0]: the ACE has no actions"},
		{"no forwarding", withACE(`{"name":"x","actions":{}}`),
			"t.json:1:177: acls.acl[0].aces.ace[0].actions: no forwarding action (accept, drop or reject)"},
		{"actions inside matches", withACE(`{"name":"x","matches":{"ipv4":{"protocol":6},"actions":{"forwarding":"accept"}}}`),
			"t.json:1:210: acls.acl[0].aces.ace[0].matches.actions: actions is inside matches; RFC 8519 puts it beside matches, in the ACE"},
		{"IPv4 address in an IPv6 network", withACE(aceWith(`{"ipv6":{"destination-ipv6-network":"192.0.2.1"}}`)),
			`t.json:1:213: acls.acl[0].aces.ace[0].matches.ipv6.destination-ipv6-network: "192.0.2.1" is not an IPv6 prefix`},
	}
	for _, tc := range tests {
		res, err := mud.Convert([]byte(tc.in), mud.Options{Source: "t.json"})
		if err != nil {
			t.Errorf("%s: the file failed: %v", tc.name, err)
			continue
		}
		name := "a/x"
		if !strings.Contains(tc.in, `"name":"x"`) {
			name = "a/ace0" // an ACE without a name is called by its index
		}
		var got []string
		for _, s := range res.Skipped {
			got = append(got, s.Error())
		}
		want := []string{tc.err + "; ACE acls.acl[0].aces.ace[0] (" + name + ") skipped"}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s: Skipped (-want +got):\n%s", tc.name, diff)
		}
		wantOut := []mud.ACEOutcome{{Path: "acls.acl[0].aces.ace[0]", Name: name, Reason: mud.ReasonDefective}}
		if diff := cmp.Diff(wantOut, res.Report.NotImported); diff != "" {
			t.Errorf("%s: Report.NotImported (-want +got):\n%s", tc.name, diff)
		}
	}
}

// TestSkippedContext: what skipping an ACE or ACL does to the rest.
func TestSkippedContext(t *testing.T) {
	accept := named("web", `{"ipv4":{"protocol":6},"tcp":{"destination-port":{"port":443}}}`)
	tests := []struct {
		name    string
		in      string
		rules   []string
		skipped []string
		warns   []string
		reasons map[string]int
	}{
		{name: "a skipped ACE that may be a drop keeps the later accepts out",
			in:      twoPolicies([]string{`{"name":"bad","matches":{"ipv4":{"protocol":6}},"actions":{"forwarding":"maybe"}}`, accept}, nil),
			skipped: []string{`t.json:1:330: acls.acl[0].aces.ace[0].actions.forwarding: unknown forwarding action "maybe" (want accept, drop or reject); ACE acls.acl[0].aces.ace[0] (f/bad) skipped`},
			reasons: map[string]int{mud.ReasonDefective: 1, mud.ReasonDropOverlap: 1}},
		{name: "accept and deny at once: maybe a drop",
			in:      twoPolicies([]string{`{"name":"bad","actions":{"forwarding":"accept","deny":[null]}}`, accept}, nil),
			skipped: []string{`t.json:1:312: acls.acl[0].aces.ace[0].actions.deny: a second forwarding action; ACE acls.acl[0].aces.ace[0] (f/bad) skipped`},
			reasons: map[string]int{mud.ReasonDefective: 1, mud.ReasonDropOverlap: 1}},
		{name: "a skipped accepting ACE leaves the rest as they are",
			in:      twoPolicies([]string{`{"name":"bad","matches":{"tcp":{"destination-port":{"operator":"eq","port":80,"upper-port":90}}},"actions":{"forwarding":"accept"}}`, accept}, nil),
			rules:   []string{"out web tcp 443 to 0.0.0.0/0"},
			skipped: []string{`t.json:1:321: acls.acl[0].aces.ace[0].matches.tcp.destination-port.operator: operator "eq" cannot go with lower-port/upper-port; ACE acls.acl[0].aces.ace[0] (f/bad) skipped`},
			reasons: map[string]int{mud.ReasonDefective: 1}},
		{name: "two different ACLs of one name: the second is skipped",
			in: `{"ietf-mud:mud":{"from-device-policy":{"access-lists":{"access-list":[{"name":"a"}]}}},` +
				`"ietf-access-control-list:acls":{"acl":[{"name":"a","aces":{"ace":[` + accept + `]}},{"name":"a","aces":{"ace":[` + accept + `,` + accept + `]}}]}}`,
			rules:   []string{"out web tcp 443 to 0.0.0.0/0"},
			skipped: []string{`t.json:1:281: acls.acl[1]: ACL name "a" is already used by acls.acl[0]; this ACL (2 ACEs) skipped`},
			reasons: map[string]int{mud.ReasonDefective: 2}},
		{name: "an exact copy of an ACL is only warned about",
			in: `{"ietf-mud:mud":{"from-device-policy":{"access-lists":{"access-list":[{"name":"a"}]}}},` +
				`"ietf-access-control-list:acls":{"acl":[{"name":"a","aces":{"ace":[` + accept + `]}},{"name":"a","aces":{"ace":[` + accept + `]}}]}}`,
			rules: []string{"out web tcp 443 to 0.0.0.0/0"},
			warns: []string{`t.json:1:281: acls.acl[1]: ACL "a" repeats acls.acl[0] exactly; the copy is ignored`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, _, rules := loadBound(t, "t.json", []byte(tc.in))
			if diff := cmp.Diff(tc.rules, rules); diff != "" {
				t.Errorf("rules (-want +got):\n%s", diff)
			}
			var skipped, warns []string
			for _, s := range res.Skipped {
				skipped = append(skipped, s.Error())
			}
			for _, w := range res.Warnings {
				warns = append(warns, w.Error())
			}
			if diff := cmp.Diff(tc.skipped, skipped); diff != "" {
				t.Errorf("Skipped (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.warns, warns); diff != "" {
				t.Errorf("Warnings (-want +got):\n%s", diff)
			}
			var reasons map[string]int
			for _, o := range res.Report.NotImported {
				if reasons == nil {
					reasons = map[string]int{}
				}
				reasons[o.Reason]++
			}
			if diff := cmp.Diff(tc.reasons, reasons); diff != "" {
				t.Errorf("Report.NotImported by reason (-want +got):\n%s", diff)
			}
		})
	}
}
