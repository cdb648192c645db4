package nflog

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestRecordText(t *testing.T) {
	at := time.Date(2025, 11, 22, 10, 4, 5, 123e6, time.Local)
	tests := []struct {
		name string
		p    Packet
		why  Reason
		det  string
		want string
	}{{
		name: "inbound syn",
		p: Packet{Prefix: "devfence cam in drop: ",
			Payload: ipv4("198.51.100.66", "192.0.2.10", ProtoTCP, 5, 0, tcp(40000, 23, 0x02))},
		why:  Unsolicited,
		want: "2025-11-22 10:04:05.123 in  tcp 198.51.100.66 port 23: unsolicited inbound [SYN]",
	}, {
		name: "outbound quota",
		p: Packet{Prefix: "devfence cam out drop: ",
			Payload: ipv6("2001:db8:1::10", "2001:db8:2::101", ProtoUDP, udp(5000, 123))},
		why:  QuotaSpent,
		det:  "egress.allow ntp: 2001:db8:2::/64 has used its 2KiB, window ends in 59m59s",
		want: "2025-11-22 10:04:05.123 out udp 2001:db8:2::101 port 123: quota spent (egress.allow ntp: 2001:db8:2::/64 has used its 2KiB, window ends in 59m59s)",
	}, {
		name: "outbound ping",
		p: Packet{Prefix: "devfence cam out drop: ",
			Payload: ipv4("192.0.2.10", "198.51.100.9", ProtoICMP, 5, 0, []byte{8, 0, 0, 0})},
		why:  NotAllowed,
		det:  "no rule allows it",
		want: "2025-11-22 10:04:05.123 out icmp 198.51.100.9 type 8 code 0: not allowed (no rule allows it)",
	}, {
		name: "foreign prefix",
		p: Packet{Prefix: "IN=eth0 ", Hook: HookLocalIn,
			Payload: ipv4("198.51.100.66", "192.0.2.10", ProtoUDP, 5, 0, udp(1, 161))},
		why:  Unknown,
		want: `2025-11-22 10:04:05.123 in  udp 198.51.100.66 port 161: dropped [prefix "IN=eth0 "]`,
	}, {
		name: "undecodable",
		p:    Packet{Prefix: "devfence cam out drop: ", Family: unix.NFPROTO_IPV6, Payload: []byte{0x60}},
		why:  Unknown,
		want: "2025-11-22 10:04:05.123 out ipv6 packet: dropped [nflog: IPv6 header cut at 1 bytes]",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRecord(tt.p, at, nil)
			r.Reason, r.Detail = tt.why, tt.det
			if got := r.Text(); got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestRecordJSON(t *testing.T) {
	p := Packet{Prefix: "devfence cam in drop: ", Group: 7, InDev: 2,
		// A kernel timestamp in local time is written in UTC.
		Timestamp: time.Date(2025, 11, 22, 12, 4, 5, 0, time.FixedZone("UTC+2", 2*3600)),
		Payload:   ipv4("198.51.100.66", "192.0.2.10", ProtoTCP, 5, 0, tcp(40000, 23, 0x02))}
	r := newRecord(p, time.Time{}, nil) // the kernel's time wins
	r.Reason = Unsolicited
	b, err := r.JSON()
	if err != nil {
		t.Fatal(err)
	}
	want := `{"time":"2025-11-22T10:04:05Z","direction":"in","device":"cam","reason":"unsolicited",` +
		`"family":"ipv4","proto":"tcp","peer":"198.51.100.66","port":23,"src":"198.51.100.66","dst":"192.0.2.10",` +
		`"sport":40000,"dport":23,"tcp_flags":"SYN","length":40,"in_if":"if2","prefix":"devfence cam in drop: ","group":7}`
	if string(b) != want {
		t.Errorf("got  %s\nwant %s", b, want)
	}
	var back Record
	if err := json.Unmarshal(b, &back); err != nil || back.Peer != r.Peer || back.Reason != r.Reason {
		t.Errorf("round trip: %+v, %v", back, err)
	}
}

func TestLineWriter(t *testing.T) {
	r := newRecord(Packet{Prefix: "devfence cam out drop: ",
		Payload: ipv4("192.0.2.10", "198.51.100.250", ProtoUDP, 5, 0, udp(5000, 9999))},
		time.Date(2025, 11, 22, 10, 4, 5, 0, time.UTC), nil)
	r.Reason = NotAllowed
	var text, js strings.Builder
	for range 2 {
		if err := LineWriter(&text, false)(r); err != nil {
			t.Fatal(err)
		}
		if err := LineWriter(&js, true)(r); err != nil {
			t.Fatal(err)
		}
	}
	if want := r.Text() + "\n" + r.Text() + "\n"; text.String() != want {
		t.Errorf("text lines %q", text.String())
	}
	lines := strings.Split(strings.TrimSuffix(js.String(), "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("json lines %q", js.String())
	}
	for _, l := range lines {
		var back Record
		if err := json.Unmarshal([]byte(l), &back); err != nil || back.Reason != NotAllowed || back.Port != 9999 {
			t.Errorf("line %q: %+v, %v", l, back, err)
		}
	}
}
