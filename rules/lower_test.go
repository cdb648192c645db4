package rules

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// lowerTable has a clear-to-send grant and its first-data mark (the @ih
// rules), a UDP rule with @ih (nothing devfence emits, but not TCP), and a
// rule with neither.
func lowerTable() *Table {
	tcp := PortMatch{Proto: "tcp", Field: Src, Lo: 4433, Hi: 4433}
	return &Table{Family: "inet", Name: "t",
		Sets: []*Set{{Name: "consent_v4", Key: KeyIPv4, Flags: FlagDynamic | FlagTimeout, Size: 8, Comment: "consenting peers"}},
		Chains: []*Chain{{Name: "input", Hook: HookInput, Policy: Drop, Rules: []*Rule{
			{Comment: "cts", Stmts: []Stmt{tcp, CtMark{Mask: 1 << 31}, InnerPayload{Data: []byte("220")},
				DynsetUpdate{Op: SetUpdate, Set: "consent_v4", Key: Key{Family: IPv4, Field: Src}}}},
			{Comment: "first", Stmts: []Stmt{tcp, PayloadPresent{}, CtMarkOr{Bits: 1 << 31}}},
			{Comment: "plain", Stmts: []Stmt{CtState{States: CtEstablished}, Verdict{Kind: Accept}}},
		}}}}
}

func ruleTexts(t *Table) []string {
	var out []string
	for _, ch := range t.Chains {
		for _, r := range ch.Rules {
			out = append(out, r.String())
		}
	}
	return out
}

// TestLowerInnerPayload: without @ih, each @ih rule becomes one rule per
// TCP data offset, in place and in order, with the bytes read at N*4 on;
// other rules stay as they are, and so does the input table.
func TestLowerInnerPayload(t *testing.T) {
	tbl := lowerTable()
	before := tbl.String()
	k := &Kernel{Release: "5.10.0-test", Has: map[Feature]bool{FeatPayloadInner: false, FeatPayloadTransport: true}}
	low, err := Lower(tbl, k)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for doff := 5; doff <= 15; doff++ {
		want = append(want, strings.NewReplacer("N", strconv.Itoa(doff), "OFF", strconv.Itoa(doff*32)).Replace(
			`tcp sport 4433 ct mark & 0x80000000 == 0x0 tcp doff N @th,OFF,24 0x323230 update @consent_v4 { ip saddr } comment "cts"`))
	}
	for doff := 5; doff <= 15; doff++ {
		want = append(want, strings.NewReplacer("N", strconv.Itoa(doff), "OFF", strconv.Itoa(doff*32)).Replace(
			`tcp sport 4433 tcp doff N @th,OFF,8 & 0x0 == 0x0 ct mark set ct mark | 0x80000000 comment "first"`))
	}
	want = append(want, `ct state established accept comment "plain"`)
	if d := cmp.Diff(want, ruleTexts(low)); d != "" {
		t.Errorf("lowered rules (-want +got):\n%s", d)
	}
	if tbl.String() != before {
		t.Errorf("Lower changed its input table")
	}
	// A kernel with @ih, or no probe at all, changes nothing.
	for _, k := range []*Kernel{nil, {Release: "6.1", Has: map[Feature]bool{FeatPayloadInner: true}}} {
		same, err := Lower(tbl, k)
		if err != nil || same.String() != before {
			t.Errorf("kernel %+v: lowered to\n%s, %v", k, same, err)
		}
	}
}

// TestLowerRefuses: what has no equivalent is refused, naming the profile
// entry (the rule's or set's comment), the kernel and the feature.
func TestLowerRefuses(t *testing.T) {
	udp := lowerTable()
	udp.Chains[0].Rules = append(udp.Chains[0].Rules, &Rule{Comment: "udp banner",
		Stmts: []Stmt{PortMatch{Proto: "udp", Field: Src, Lo: 53, Hi: 53}, InnerPayload{Data: []byte("x")}, Counter{}}})
	for _, tc := range []struct {
		name string
		tbl  *Table
		has  map[Feature]bool
		want []string
	}{
		{"no ct mark", lowerTable(), map[Feature]bool{FeatCtMark: false},
			[]string{"cts: kernel 5.4-test lacks ct-mark (ct mark match), and devfence has no equivalent",
				"first: kernel 5.4-test lacks ct-mark (ct mark match), and devfence has no equivalent"}},
		{"neither @ih nor @th", lowerTable(), map[Feature]bool{FeatPayloadInner: false, FeatPayloadTransport: false},
			[]string{"cts: kernel 5.4-test lacks payload-transport (transport header payload (@th: ports, tcp flags, tcp doff, raw)), and devfence has no equivalent",
				"cts: kernel 5.4-test lacks payload-inner (inner header payload (@ih, payload base 3: transport payload)), and devfence has no equivalent",
				"first: kernel 5.4-test lacks payload-transport (transport header payload (@th: ports, tcp flags, tcp doff, raw)), and devfence has no equivalent",
				"first: kernel 5.4-test lacks payload-inner (inner header payload (@ih, payload base 3: transport payload)), and devfence has no equivalent"}},
		{"@ih on a rule that is not TCP-only", udp, map[Feature]bool{FeatPayloadInner: false},
			[]string{"udp banner: kernel 5.4-test lacks payload-inner (inner header payload (@ih, payload base 3: transport payload)), and devfence has no equivalent"}},
		{"no timeout sets", lowerTable(), map[Feature]bool{FeatSetTimeout: false},
			[]string{"consenting peers: kernel 5.4-test lacks set-timeout (dynamic sets with timeout and size), and devfence has no equivalent",
				"cts: kernel 5.4-test lacks set-timeout (dynamic sets with timeout and size), and devfence has no equivalent"}},
	} {
		low, err := Lower(tc.tbl, &Kernel{Release: "5.4-test", Has: tc.has})
		if low != nil || err == nil {
			t.Errorf("%s: lowered without error", tc.name)
			continue
		}
		var got []string
		for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
			var me *MissingError
			if !errors.As(e, &me) {
				t.Errorf("%s: %T is not a *MissingError", tc.name, e)
			}
			got = append(got, e.Error())
		}
		if d := cmp.Diff(tc.want, got); d != "" {
			t.Errorf("%s: errors (-want +got):\n%s", tc.name, d)
		}
	}
}

// TestQuotaBucket: the bucket passes n-1 bytes like a quota of n, with the
// longest unit whose bucket in nanoseconds stays below 2^62.
func TestQuotaBucket(t *testing.T) {
	for _, tc := range []struct {
		n    uint64
		want Limit
		ok   bool
	}{
		{16 << 10, Limit{Rate: 1, Unit: "day", Burst: 16<<10 - 2, Bytes: true}, true},
		{1 << 20, Limit{Rate: 1, Unit: "hour", Burst: 1<<20 - 2, Bytes: true}, true},
		{64 << 20, Limit{Rate: 1, Unit: "minute", Burst: 64<<20 - 2, Bytes: true}, true},
		{4 << 30, Limit{Rate: 1, Unit: "second", Burst: 4<<30 - 2, Bytes: true}, true},
		{4<<30 + 2, Limit{}, false}, // the burst is 32 bits
		{1, Limit{}, false},
	} {
		got, ok := QuotaBucket(tc.n)
		if d := cmp.Diff(tc.want, got); d != "" || ok != tc.ok {
			t.Errorf("QuotaBucket(%d) ok %v, want %v (-want +got):\n%s", tc.n, ok, tc.ok, d)
			continue
		}
		if !ok {
			continue
		}
		secs := map[string]uint64{"week": 604800, "day": 86400, "hour": 3600, "minute": 60, "second": 1}[got.Unit]
		if ns := secs * 1e9 * (got.Rate + uint64(got.Burst)); ns >= 1<<62 || got.Rate+uint64(got.Burst) != tc.n-1 {
			t.Errorf("QuotaBucket(%d): a bucket of %d ns holding %d bytes", tc.n, ns, got.Rate+uint64(got.Burst))
		}
	}
}

// TestLowerQuotaToBucket: where a set element's quota is unsafe, each one
// becomes its bucket in place; a quota no bucket stands for is refused.
func TestLowerQuotaToBucket(t *testing.T) {
	key := Key{Family: IPv4, Field: Dst}
	tbl := &Table{Family: "inet", Name: "t",
		Sets: []*Set{{Name: "q", Key: KeyIPv4, Flags: FlagDynamic | FlagTimeout, Size: 8}},
		Chains: []*Chain{{Name: "output", Hook: HookOutput, Policy: Drop, Rules: []*Rule{
			{Comment: "metered", Stmts: []Stmt{DynsetUpdate{Op: SetAdd, Set: "q", Key: key, Quota: 1 << 20},
				DynsetUpdate{Op: SetAdd, Set: "total", Key: Key{NFProto: true}, Quota: 64 << 20}, Verdict{Kind: Accept}}},
			{Comment: "replies", Stmts: []Stmt{DynsetUpdate{Op: SetAdd, Set: "q", Key: key, Limit: &Limit{Rate: 10, Unit: "second", Burst: 20}}}},
		}}}}
	before := tbl.String()
	arm := &Kernel{Release: "5.10.0-32-armmp-lpae", Has: map[Feature]bool{FeatDynsetQuota: false},
		Notes: map[Feature]string{FeatDynsetQuota: ElementQuotaNote("armv7l")}}
	low, err := Lower(tbl, arm)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`add @q { ip daddr limit rate 1 bytes/hour burst 1048574 bytes } add @total { meta nfproto limit rate 1 bytes/minute burst 67108862 bytes } accept comment "metered"`,
		`add @q { ip daddr limit rate 10/second burst 20 packets } comment "replies"`,
	}
	if d := cmp.Diff(want, ruleTexts(low)); d != "" {
		t.Errorf("lowered rules (-want +got):\n%s", d)
	}
	if tbl.String() != before {
		t.Errorf("Lower changed its input table")
	}

	tbl.Chains[0].Rules[0].Stmts[0] = DynsetUpdate{Op: SetAdd, Set: "q", Key: key, Quota: 8 << 30}
	if _, err := Lower(tbl, arm); err == nil || !strings.Contains(err.Error(), "metered: kernel 5.10.0-32-armmp-lpae lacks dynset-quota") {
		t.Errorf("an 8 GiB quota on the bucket kernel: %v, want it refused", err)
	}
	noLimit := &Kernel{Release: "x", Has: map[Feature]bool{FeatDynsetQuota: false, FeatDynsetLimit: false}}
	if _, err := Lower(lowerTableWithQuota(), noLimit); err == nil {
		t.Errorf("no element quota and no element limit: lowered, want refused")
	}
}

func lowerTableWithQuota() *Table {
	return &Table{Family: "inet", Name: "t", Chains: []*Chain{{Name: "output", Hook: HookOutput, Policy: Drop, Rules: []*Rule{
		{Comment: "metered", Stmts: []Stmt{DynsetUpdate{Op: SetAdd, Set: "q", Key: Key{Family: IPv4, Field: Dst}, Quota: 1 << 20}}}}}}}
}

// TestElementQuotaNote: only 32-bit ARM kernels with LDREXD (ARMv6 and
// up) get the bucket; an arm64 kernel shows 32-bit tasks "armv8l".
func TestElementQuotaNote(t *testing.T) {
	for machine, want := range map[string]bool{
		"armv7l": true, "armv6l": true, "armv5tejl": false, "armv8l": false, "aarch64": false,
		"mips": false, "x86_64": false, "i686": false, "s390x": false,
	} {
		if got := ElementQuotaNote(machine) != ""; got != want {
			t.Errorf("ElementQuotaNote(%q) notes %v, want %v", machine, got, want)
		}
	}
}
