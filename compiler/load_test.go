package compiler_test

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/devfence/devfence/compiler"
)

// minimal is the smallest valid profile; cases append to it.
const minimal = "version: 1\ndevice: {name: cam}\n"

func TestLoadDiagnostics(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		want       []string // diagnostics, without the file name
	}{
		{"valid minimal", minimal, nil},
		{"unknown top-level field", minimal + "network: {}\n",
			[]string{`3:1: network: unknown field "network" (did you mean "networks"?)`}},
		{"field given twice", minimal + "log: {group: 1, group: 2}\n",
			[]string{`3:17: log.group: field "group" is given twice`}},
		{"any inside a list", minimal + "egress: {allow: [{name: a, to: [any], proto: udp, port: 1}]}\n",
			[]string{`3:33: egress.allow[0].to[0]: the word any stands alone (write ` + "`to: any`" + `), not inside a list`}},
		{"from any", minimal + "inbound: {services: [{name: a, from: any, proto: udp, port: 1}]}\n",
			[]string{`3:32: inbound.services[0].from: must name networks or CIDRs; any is not allowed here`}},
		{"clearToSend unquoted number", minimal + "networks: {c: [192.0.2.1]}\nconsent: {handshakes: [{name: h, to: [c], port: 1, clearToSend: 220}]}\n",
			[]string{`4:65: consent.handshakes[0].clearToSend: expected a string, got the number 220`}},
		{"clearToSend too long", minimal + "networks: {c: [192.0.2.1]}\nconsent: {handshakes: [{name: h, to: [c], port: 1, clearToSend: \"" + strings.Repeat("x", 65) + "\"}]}\n",
			[]string{`4:52: consent.handshakes[0].clearToSend: is 65 bytes; devfence matches at most 64`}},
		{"log group out of range", minimal + "log: {group: 70000}\n",
			[]string{`3:7: log.group: NFLOG groups are 0-65535, not 70000`}},
		// Past int32 on every CPU: on 32-bit ones 2^31 wrapped to -2^31.
		{"whole number past 32 bits", minimal + "log: {group: 2147483648}\n",
			[]string{`3:14: log.group: number 2147483648 is out of range`}},
		{"port on icmp", minimal + "egress: {allow: [{name: a, to: any, proto: icmp, port: 7}]}\n",
			[]string{`3:50: egress.allow[0].port: is for tcp and udp only; proto icmp has no ports`}},
		{"tcp without port", minimal + "egress: {allow: [{name: a, to: any, proto: tcp}]}\n",
			[]string{`3:18: egress.allow[0].port: is required: a port or a range "lo-hi"`}},
		{"types on udp", minimal + "egress: {allow: [{name: a, to: any, proto: udp, port: 53, types: [echo-request]}]}\n",
			[]string{`3:59: egress.allow[0].types: is for icmp only; proto udp has no ICMP types`}},
		{"unknown icmp type", minimal + "egress: {allow: [{name: a, to: any, proto: icmp, types: [echo-request, ping]}]}\n",
			[]string{`3:72: egress.allow[0].types[1]: "ping" is neither an ICMP nor an ICMPv6 type name (such as echo-request)`}},
		{"named protocol by number", minimal + "egress: {allow: [{name: a, to: any, proto: 17, port: 53}]}\n",
			[]string{`3:37: egress.allow[0].proto: protocol 17 is udp; write ` + "`proto: udp`"}},
		{"protocol past 255", minimal + "egress: {allow: [{name: a, to: any, proto: 256}]}\n",
			[]string{`3:37: egress.allow[0].proto: must be tcp, udp, icmp, igmp, any or an IP protocol number 0-255, not "256"`}},
		{"consent on igmp", minimal + "networks: {l: [10.0.0.0/8]}\ninbound: {services: [{name: a, proto: igmp, from: [l], consent: true}]}\n",
			[]string{`4:56: inbound.services[0].consent: needs proto: tcp; consent is granted on a completed TCP handshake`}},
		{"second document", minimal + "---\nversion: 1\n",
			[]string{`3:1: a profile file holds one YAML document; found a second`}},
		{"top level is a list", "- version: 1\n",
			[]string{`1:1: expected a mapping, got a list`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := compiler.Parse("p.yaml", []byte(tc.yaml))
			var got []string
			var diags compiler.Diagnostics
			if errors.As(err, &diags) {
				for _, d := range diags {
					got = append(got, strings.TrimPrefix(d.String(), "p.yaml:"))
				}
			} else if err != nil {
				t.Fatalf("want diagnostics, got %v", err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("%s: diagnostics (-want +got):\n%s", tc.name, diff)
			}
		})
	}
}

func TestLoadDefaults(t *testing.T) {
	p, err := compiler.Parse("p.yaml", []byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	want := compiler.Defaults()
	want.Version, want.Device.Name = 1, "cam"
	if diff := cmp.Diff(want, *p, cmp.FilterPath(func(p cmp.Path) bool { return p.String() == "Source" }, cmp.Ignore())); diff != "" {
		t.Errorf("defaults (-want +got):\n%s", diff)
	}
}

func TestLoadValues(t *testing.T) {
	p, err := compiler.Parse("p.yaml", []byte(minimal+`
networks:
  mixed: [10.0.0.0/8, "2001:db8::1", 192.0.2.7]
egress:
  quota: 512B/90s
  allow:
    - {name: a, to: [mixed, 198.51.100.0/24], proto: tcp, port: "1000-2000", quota: 1GiB/1h}
log: {drops: 0}
`))
	if err != nil {
		t.Fatal(err)
	}
	nw, _ := p.Networks.Lookup("mixed")
	wantNet := []compiler.Address{
		{Prefix: netip.MustParsePrefix("10.0.0.0/8")},
		{Prefix: netip.MustParsePrefix("2001:db8::1/128")},
		{Prefix: netip.MustParsePrefix("192.0.2.7/32")},
	}
	if diff := cmp.Diff(wantNet, nw.Entries, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
		t.Errorf("network entries (-want +got):\n%s", diff)
	}
	if got := *p.Egress.Quota; got != (compiler.Quota{Bytes: 512, Window: 90 * time.Second}) {
		t.Errorf("egress.quota = %v", got)
	}
	r := p.Egress.Allow[0]
	if r.Port != (compiler.PortRange{Lo: 1000, Hi: 2000}) || r.Quota.Bytes != 1<<30 || len(r.To.Refs) != 2 || r.To.Refs[1].Address == nil {
		t.Errorf("allow rule decoded as %+v", r)
	}
	if p.Log.Drops.N != 0 {
		t.Errorf("log.drops 0 should turn logging off, got %+v", p.Log.Drops)
	}
	if pos := p.Source.Position("egress.allow[0].quota"); pos.Line != 9 {
		t.Errorf("position of egress.allow[0].quota = %+v, want line 9", pos)
	}
	if pos := p.Source.Position("consent.idle"); pos != (compiler.Pos{Line: 1, Column: 1}) {
		t.Errorf("an absent field should fall back to the document start, got %+v", pos)
	}
	if p.Source.Document()["egress"] == nil {
		t.Errorf("raw document lacks egress: %v", p.Source.Document())
	}
}

// After Release the tree is gone: a document built before stays, one
// never built is empty, and every position is the document start.
func TestSourceRelease(t *testing.T) {
	tests := []struct {
		name       string
		docBefore  bool
		wantEgress bool
	}{
		{name: "document built before", docBefore: true, wantEgress: true},
		{name: "document never built", docBefore: false, wantEgress: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := compiler.Parse("p.yaml", []byte(minimal+"egress:\n  allow: []\n"))
			if err != nil {
				t.Fatal(err)
			}
			if pos := p.Source.Position("egress"); pos.Line == 1 {
				t.Fatalf("position of egress before Release = %+v, want past line 1", pos)
			}
			if tt.docBefore {
				p.Source.Document()
			}
			p.Source.Release()
			if diff := cmp.Diff(compiler.Pos{Line: 1, Column: 1}, p.Source.Position("egress")); diff != "" {
				t.Errorf("position after Release (-want +got):\n%s", diff)
			}
			if _, got := p.Source.Document()["egress"]; got != tt.wantEgress {
				t.Errorf("document has egress after Release: %v, want %v", got, tt.wantEgress)
			}
		})
	}
}

func TestLoadRefusesLargeFiles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "big.yaml")
	big := minimal + "# " + strings.Repeat("x", compiler.DefaultMaxSize) + "\n"
	if err := os.WriteFile(path, []byte(big), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := compiler.Load(path, compiler.LoadOptions{})
	if err == nil || !strings.Contains(err.Error(), "larger than 1048576 bytes") {
		t.Fatalf("want a size error, got %v", err)
	}
	if _, err := compiler.Load(path, compiler.LoadOptions{MaxSize: 2 << 20}); err != nil {
		t.Errorf("a raised limit should admit the file: %v", err)
	}
}

func TestLoadAliasesWithinBudget(t *testing.T) {
	// Anchors for shared lists are legitimate and must keep working.
	p, err := compiler.Parse("p.yaml", []byte(minimal+`
networks:
  lan: &lan [192.0.2.0/24]
  also-lan: *lan
`))
	if err != nil {
		t.Fatal(err)
	}
	if nw, _ := p.Networks.Lookup("also-lan"); len(nw.Entries) != 1 {
		t.Errorf("alias not expanded: %+v", nw)
	}
}

func TestUnits(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want uint64
		err  string
	}{
		{in: "512B", want: 512},
		{in: "64KiB", want: 64 << 10},
		{in: "1MiB", want: 1 << 20},
		{in: "2GiB", want: 2 << 30},
		{in: "1MB", err: `size "1MB": unit MB is not one of B, KiB, MiB, GiB or TiB`},
		{in: "16EiB", err: `size "16EiB": unit EiB is not one of B, KiB, MiB, GiB or TiB`},
		{in: "1.5MiB", err: `size "1.5MiB" needs a whole number before MiB`},
		{in: "64", err: `size "64" needs an IEC unit: B, KiB, MiB, GiB or TiB`},
		{in: "99999999999999999999B", err: `size "99999999999999999999B" is too large`},
		{in: "KiB", err: `size "KiB" needs a whole number before KiB`},
		{in: "0B", err: `size "0B" is zero`},
		{in: "99999999999TiB", err: `size "99999999999TiB" is too large`},
	} {
		got, err := compiler.ParseSize(tc.in)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("ParseSize(%q) error = %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
		if back, _ := compiler.ParseSize(compiler.FormatSize(got)); back != got {
			t.Errorf("FormatSize(%d) = %q does not read back", got, compiler.FormatSize(got))
		}
	}
}

// TestParseRate: a rate's number is bounded alike on every CPU.
func TestParseRate(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want compiler.Rate
		err  string
	}{
		{in: "10/minute", want: compiler.Rate{N: 10, Unit: "minute"}},
		{in: "0", want: compiler.Rate{}},
		{in: "2147483647/second", want: compiler.Rate{N: 2147483647, Unit: "second"}},
		{in: "2147483648/second", err: `rate "2147483648/second" is too large`},
		{in: "3000000000/day", err: `rate "3000000000/day" is too large`},
		{in: "-1/second", err: `rate "-1/second" needs a whole number before /`},
		{in: "10/week", err: `rate "10/week": unit must be second, minute, hour or day`},
	} {
		got, err := compiler.ParseRate(tc.in)
		var gotErr string
		if err != nil {
			gotErr = err.Error()
		}
		if diff := cmp.Diff(tc.err, gotErr); diff != "" {
			t.Errorf("ParseRate(%q) error (-want +got):\n%s", tc.in, diff)
		}
		if diff := cmp.Diff(tc.want, got); err == nil && diff != "" {
			t.Errorf("ParseRate(%q) (-want +got):\n%s", tc.in, diff)
		}
	}
}
