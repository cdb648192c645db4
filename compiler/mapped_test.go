package compiler_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/devfence/devfence/compiler"
)

// TestIPv4MappedIsIPv4 checks the one rule for IPv4-mapped IPv6: an
// address or prefix inside ::ffff:0:0/96 is the IPv4 one it maps, so it
// lands in the IPv4 set where it matches; before, prefixes stayed in the
// IPv6 set, where no packet carries them.
func TestIPv4MappedIsIPv4(t *testing.T) {
	for _, tc := range []struct {
		entry      string
		wantV4     string
		wantV6None bool
	}{
		{entry: "::ffff:10.0.0.1", wantV4: "10.0.0.1"},
		{entry: "::ffff:10.0.0.0/104", wantV4: "10.0.0.0/8"},
		{entry: "::ffff:0.0.0.0/96", wantV4: "0.0.0.0/0"},
		{entry: "0:0:0:0:0:ffff:c000:200/120", wantV4: "192.0.2.0/24"},
		{entry: "::ffff:192.0.2.7/128", wantV4: "192.0.2.7"},
	} {
		t.Run(tc.entry, func(t *testing.T) {
			tbl := compile(t, strings.Replace(base, `cloud: [203.0.113.10]`, `cloud: ["`+tc.entry+`"]`, 1))
			v4 := tbl.Set("hs_up_v4")
			if v4 == nil {
				t.Fatalf("no IPv4 set for %s; sets: %v", tc.entry, tbl.Sets)
			}
			var got []string
			for _, e := range v4.Elements {
				got = append(got, e.String())
			}
			if d := cmp.Diff([]string{tc.wantV4}, got); d != "" {
				t.Errorf("hs_up_v4 elements (-want +got):\n%s", d)
			}
			if s := tbl.Set("hs_up_v6"); s != nil {
				t.Errorf("%s also left an IPv6 set: %v", tc.entry, s.Elements)
			}
		})
	}
}

// TestIPv6HoldingMappedRangeRefused: a prefix that holds ::ffff:0:0/96 and
// real IPv6 space would be half a disguised IPv4 network.
func TestIPv6HoldingMappedRangeRefused(t *testing.T) {
	for _, entry := range []string{"::/64", "::/1", "::/80", "::8000:0:0/81"} {
		_, err := compiler.Parse("p.yaml", []byte(strings.Replace(base, `cloud: [203.0.113.10]`, `cloud: ["`+entry+`"]`, 1)))
		want := `p.yaml:5:11: networks.cloud[0]: "` + entry + `" holds the IPv4-mapped range ::ffff:0.0.0.0/96; write IPv4 networks as IPv4 CIDRs and IPv6 ones without that range`
		if err == nil || err.Error() != want {
			t.Errorf("%s: got %v\nwant %s", entry, err, want)
		}
	}
	// ::/0 is the whole IPv6 internet, which policies judge.
	if _, err := compiler.Parse("p.yaml", []byte(strings.Replace(base, `cloud: [203.0.113.10]`, `cloud: ["::/0"]`, 1))); err != nil {
		t.Errorf("::/0: %v", err)
	}
}
