package nflog

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/devfence/devfence/compiler"
	"github.com/devfence/devfence/rules"
)

// fakeSets is a SetReader over a fixed state, recording what was asked.
type fakeSets struct {
	elems  map[string]Meter // "set key", key as an address or "nfproto N"
	counts map[string]int
	err    error
	asked  []string
}

func keyText(key []byte) string {
	if len(key) == 1 {
		return fmt.Sprintf("nfproto %d", key[0])
	}
	a, _ := netip.AddrFromSlice(key)
	return a.String()
}

func (f *fakeSets) Element(set string, key []byte) (Meter, bool, error) {
	k := set + " " + keyText(key)
	f.asked = append(f.asked, k)
	if f.err != nil {
		return Meter{}, false, f.err
	}
	m, ok := f.elems[k]
	return m, ok, nil
}

func (f *fakeSets) Count(set string) (int, error) {
	f.asked = append(f.asked, "count "+set)
	return f.counts[set], f.err
}

func babyMonitor(t *testing.T) *rules.Table {
	t.Helper()
	p, err := compiler.Load("../../examples/baby-monitor.yaml", compiler.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tbl, err := compiler.Compile(p, compiler.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return tbl
}

// record is what the watcher makes of a logged packet.
func record(t *testing.T, dir string, payload []byte) Record {
	t.Helper()
	r := newRecord(Packet{Prefix: "devfence baby-monitor " + dir + " drop: ", Payload: payload}, time.Unix(0, 0), nil)
	if r.ParseError != "" {
		t.Fatal(r.ParseError)
	}
	return r
}

func TestClassify(t *testing.T) {
	tbl := babyMonitor(t)
	const (
		nfproto4 = "nfproto 2"
		nfproto6 = "nfproto 10"
	)
	spent := Meter{Used: 16384, Budget: 16384, Expires: 59*time.Minute + 30*time.Second}
	room := Meter{Used: 1000, Budget: 16384, Expires: time.Hour}
	tests := []struct {
		name      string
		dir       string
		payload   []byte
		table     *rules.Table
		sets      *fakeSets
		want      Reason
		detail    string // substring of the detail
		wantAsked []string
	}{{
		name:    "inbound SYN",
		dir:     "in",
		payload: ipv4("198.51.100.66", "192.0.2.10", ProtoTCP, 5, 0, tcp(40000, 23, 0x02)),
		table:   tbl,
		want:    Unsolicited,
	}, {
		name:    "outbound without a profile",
		dir:     "out",
		payload: ipv4("192.0.2.10", "198.51.100.250", ProtoUDP, 5, 0, udp(5000, 9999)),
		want:    Unknown,
		detail:  "give the profile",
	}, {
		name:    "no rule for the port",
		dir:     "out",
		payload: ipv4("192.0.2.10", "198.51.100.250", ProtoUDP, 5, 0, udp(5000, 9999)),
		table:   tbl,
		sets:    &fakeSets{},
		want:    NotAllowed,
		detail:  "no rule allows it",
	}, {
		name:    "cloud-api port to an address not in vendor-cloud",
		dir:     "out",
		payload: ipv4("192.0.2.10", "198.51.100.7", ProtoTCP, 5, 0, tcp(40000, 443, 0x02)),
		table:   tbl,
		sets:    &fakeSets{},
		want:    NotAllowed,
		detail:  "no rule allows it",
	}, {
		name:      "ntp quota spent",
		dir:       "out",
		payload:   ipv4("192.0.2.10", "198.51.100.101", ProtoUDP, 5, 0, udp(5000, 123)),
		table:     tbl,
		sets:      &fakeSets{elems: map[string]Meter{"quota_allow_ntp_v4 198.51.100.101": spent}},
		want:      QuotaSpent,
		detail:    "egress.allow ntp: 198.51.100.101 has used its 16KiB, window ends in 59m30s",
		wantAsked: []string{"quota_allow_ntp_v4 198.51.100.101"},
	}, {
		name:    "ntp table full",
		dir:     "out",
		payload: ipv4("192.0.2.10", "198.51.100.102", ProtoUDP, 5, 0, udp(5000, 123)),
		table:   tbl,
		sets:    &fakeSets{counts: map[string]int{"quota_allow_ntp_v4": 65536}},
		want:    TableFull,
		detail:  "set quota_allow_ntp_v4 already tracks 65536 of 65536 peers",
		// The total meter is not asked: it comes after the peer's.
		wantAsked: []string{"quota_allow_ntp_v4 198.51.100.102", "count quota_allow_ntp_v4"},
	}, {
		name:    "ntp absent from a set with room",
		dir:     "out",
		payload: ipv4("192.0.2.10", "198.51.100.102", ProtoUDP, 5, 0, udp(5000, 123)),
		table:   tbl,
		sets:    &fakeSets{counts: map[string]int{"quota_allow_ntp_v4": 3}},
		want:    NotAllowed,
		detail:  "egress.allow ntp matches address and port, but its meter has room",
	}, {
		name:    "egress.total spent",
		dir:     "out",
		payload: ipv4("192.0.2.10", "203.0.113.10", ProtoTCP, 5, 0, tcp(40000, 443, 0x18)),
		table:   tbl,
		sets: &fakeSets{elems: map[string]Meter{
			"quota_default_v4 203.0.113.10": room,
			"total " + nfproto4:             {Used: 64 << 20, Budget: 64 << 20, Expires: time.Minute},
		}},
		want:      QuotaSpent,
		detail:    "egress.total: metered ipv4 peers have used all 64MiB, window ends in 1m0s",
		wantAsked: []string{"quota_default_v4 203.0.113.10", "total " + nfproto4},
	}, {
		name:    "ipv6 peer is its /64",
		dir:     "out",
		payload: ipv6("2001:db8:1::10", "2001:db8:2::102", ProtoUDP, udp(5000, 123)),
		table:   tbl,
		sets: &fakeSets{elems: map[string]Meter{
			"quota_allow_ntp_v6 2001:db8:2::": spent,
			"total " + nfproto6:               room,
		}},
		want:   QuotaSpent,
		detail: "2001:db8:2::/64 has used its 16KiB",
	}, {
		name: "service reply over quota",
		dir:  "out",
		// Matches by port and address; `ct direction reply` is assumed.
		payload: ipv4("192.0.2.10", "192.168.1.20", ProtoTCP, 5, 0, tcp(8443, 50000, 0x18)),
		table:   tbl,
		sets:    &fakeSets{elems: map[string]Meter{"quota_default_v4 192.168.1.20": {Used: 1 << 20, Budget: 1 << 20}}},
		want:    QuotaSpent,
		detail:  "inbound.services viewer: replies: 192.168.1.20 has used its 1MiB",
	}, {
		name:    "bulk port to a peer that does not consent",
		dir:     "out",
		payload: ipv4("192.0.2.10", "192.168.1.20", ProtoUDP, 5, 0, udp(5000, 5004)),
		table:   tbl,
		sets:    &fakeSets{},
		want:    NotAllowed,
		detail:  "no rule allows it",
	}, {
		name:    "sets unreadable",
		dir:     "out",
		payload: ipv4("192.0.2.10", "198.51.100.101", ProtoUDP, 5, 0, udp(5000, 123)),
		table:   tbl,
		sets:    &fakeSets{err: errors.New("table inet devfence has no set quota_allow_ntp_v4")},
		want:    Unknown,
		detail:  "egress.allow ntp may allow it; reading its meter: table inet devfence has no set",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Classifier{Table: tt.table}
			if tt.sets != nil {
				c.Sets = tt.sets
			}
			r := record(t, tt.dir, tt.payload)
			c.Classify(&r)
			if r.Reason != tt.want || !strings.Contains(r.Detail, tt.detail) {
				t.Errorf("got %s (%s), want %s (...%s...)", r.Reason, r.Detail, tt.want, tt.detail)
			}
			if tt.wantAsked != nil && strings.Join(tt.sets.asked, "; ") != strings.Join(tt.wantAsked, "; ") {
				t.Errorf("asked %q, want %q", tt.sets.asked, tt.wantAsked)
			}
		})
	}
}

func TestClassifyForeignPrefix(t *testing.T) {
	r := newRecord(Packet{Prefix: "IN=eth0 ", Hook: HookLocalIn,
		Payload: ipv4("198.51.100.66", "192.0.2.10", ProtoTCP, 5, 0, tcp(40000, 23, 0x02))}, time.Unix(0, 0), nil)
	(&Classifier{Table: babyMonitor(t)}).Classify(&r)
	if r.Reason != Unknown || r.Direction != "in" || r.Device != "" {
		t.Errorf("foreign prefix: %+v", r)
	}
}

func TestIEC(t *testing.T) {
	for n, want := range map[uint64]string{0: "0B", 1500: "1500B", 16384: "16KiB", 1 << 20: "1MiB", 3 << 30: "3GiB", 1025: "1025B"} {
		if got := iec(n); got != want {
			t.Errorf("iec(%d) = %q, want %q", n, got, want)
		}
	}
}
