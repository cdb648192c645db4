package trace_test

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	_ "github.com/devfence/devfence/internal/golden" // -update
	"github.com/devfence/devfence/internal/pipeline"
	"github.com/devfence/devfence/rules"
	"github.com/devfence/devfence/rules/trace"
)

// device is the address plan of the tests: the device on the camera's LAN.
var device = []netip.Addr{netip.MustParseAddr("192.168.1.50"), netip.MustParseAddr("fd00:1::50")}

func build(t *testing.T, path string) *rules.Table {
	t.Helper()
	res, err := pipeline.Build(context.Background(), path, pipeline.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return res.Table
}

// step is one packet spec, or a wait, and what it must come to.
type step struct {
	send    string
	wait    time.Duration
	verdict rules.VerdictKind // of every packet; "" with delivered
	entry   string            // the deciding profile entry of the last packet
	// delivered is the payload that got through, for bursts; -1: not checked
	delivered int
}

func send(spec string, v rules.VerdictKind, entry string) step {
	return step{send: spec, verdict: v, entry: entry, delivered: -1}
}

func burst(spec string, delivered int) step { return step{send: spec, delivered: delivered} }

func wait(d time.Duration) step { return step{wait: d} }

// handshake is a viewer's TCP handshake to the camera's service.
func handshake(peer string) []step {
	return []step{
		send("in tcp "+peer+" > 8443 syn", rules.Accept, "inbound.services viewer"),
		send("out tcp 8443 > "+peer+" syn,ack", rules.Accept, "inbound.services viewer: replies before the device spoke"),
		send("in tcp "+peer+" > 8443 ack", rules.Accept, "established"),
	}
}

func seq(parts ...any) []step {
	var out []step
	for _, p := range parts {
		switch p := p.(type) {
		case step:
			out = append(out, p)
		case []step:
			out = append(out, p...)
		}
	}
	return out
}

// TestSequences runs the camera's profile through the security properties
// of docs/THREAT.md, packet by packet, over simulated time.
func TestSequences(t *testing.T) {
	camera := build(t, "../../examples/baby-monitor.yaml")
	cases := []struct {
		name  string
		steps []step
	}{
		{"unsolicited inbound is dropped", seq(
			send("in tcp 198.51.100.7:40000 > 23", rules.Drop, "drop"),
			send("in udp 192.168.1.20 > 5000", rules.Drop, "drop"),
			// The service, but from outside its networks.
			send("in tcp 198.51.100.7 > 8443", rules.Drop, "drop"),
		)},
		{"a stray ack is not a connection", seq(
			// A mid-stream ACK is picked up as new: the service's rule
			// would take it, anything else drops it.
			send("in tcp 198.51.100.7 > 22 ack", rules.Drop, "drop"),
			send("in tcp 198.51.100.7 > 22 rst", rules.Drop, "invalid"),
		)},
		{"replies to the device's connections get in", seq(
			send("out tcp > 203.0.113.10:443 syn", rules.Accept, "egress.allow cloud-api"),
			send("in tcp 203.0.113.10:443 > 40000 syn,ack", rules.Accept, "established"),
		)},
		{"egress outside the allow list is dropped", seq(
			send("out tcp > 203.0.113.10:80", rules.Drop, "drop"),
			send("out udp > 203.0.113.10:443", rules.Drop, "drop"),
			send("out tcp > 198.51.100.7:443", rules.Drop, "drop"),
		)},
		{"the device cannot spoof", seq(
			send("out udp 192.168.1.20 > 203.0.113.9:123", rules.Drop, "anti-spoofing"),
			send("out udp 127.0.0.1 > 203.0.113.9:123 dev eth0", rules.Drop, "anti-spoofing"),
		)},
		{"per-peer quota stops a flood and renews after the window", seq(
			// 16 KiB: 15 datagrams of 1,028 bytes on the wire fit.
			burst("out udp > 198.51.100.101:123 bytes 200KiB size 1000", 15000),
			burst("out udp > 198.51.100.101:123 bytes 10KiB size 1000", 0),
			// Another victim has its own budget.
			burst("out udp > 198.51.100.102:123 bytes 200KiB size 1000", 15000),
			wait(59*time.Minute),
			burst("out udp > 198.51.100.101:123 bytes 1000", 0),
			wait(time.Minute),
			burst("out udp > 198.51.100.101:123 bytes 200KiB size 1000", 15000),
		)},
		{"ipv6 peers are counted per /64", seq(
			burst("out udp > [2001:db8:2::101]:123 bytes 200KiB size 1000", 15000),
			burst("out udp > [2001:db8:2::102]:123 bytes 10KiB size 1000", 0),
			burst("out udp > [2001:db8:3::1]:123 bytes 1000", 1000),
		)},
		{"consent: a viewer's session, then bulk until idle", seq(
			burst("out udp > 192.168.1.20:5000 bytes 10KiB", 0),
			handshake("192.168.1.20:40001"),
			// The handshake alone grants nothing: the device has not spoken.
			burst("out udp > 192.168.1.20:5000 bytes 10KiB", 0),
			send("out tcp 8443 > 192.168.1.20:40001 size 100", rules.Accept, "inbound.services viewer: replies"),
			send("in tcp 192.168.1.20:40001 > 8443 ack", rules.Accept, "established"),
			burst("out udp > 192.168.1.20:5000 bytes 200KiB", 200*1024),
			wait(29*time.Second),
			burst("out udp > 192.168.1.20:5000 bytes 10KiB", 10*1024),
			wait(2*time.Second),
			burst("out udp > 192.168.1.20:5000 bytes 10KiB", 0),
			// One packet of the session renews it.
			send("in tcp 192.168.1.20:40001 > 8443 ack size 1", rules.Accept, "established"),
			burst("out udp > 192.168.1.20:5000 bytes 10KiB", 10*1024),
		)},
		{"spoofed syns grant no consent", seq(
			send("in tcp 192.168.1.30:40002 > 8443 syn", rules.Accept, "inbound.services viewer"),
			send("out tcp 8443 > 192.168.1.30:40002 syn,ack", rules.Accept, "inbound.services viewer: replies before the device spoke"),
			// The retransmitted SYN is part of a connection that has
			// seen a reply: established, and still no grant.
			send("in tcp 192.168.1.30:40002 > 8443 syn", rules.Accept, "established"),
			send("in tcp 192.168.1.30:40002 > 8443 ack", rules.Accept, "established"),
			burst("out udp > 192.168.1.30:5000 bytes 10KiB", 0),
		)},
		{"cloud clear-to-send", seq(
			send("out tcp > 203.0.113.10:4433 syn", rules.Accept, "consent.handshakes cloud-upload"),
			send("in tcp 203.0.113.10:4433 > 40000 syn,ack", rules.Accept, "established"),
			send("out tcp > 203.0.113.10:4433 ack", rules.Accept, "consent.handshakes cloud-upload"),
			burst("out udp > 203.0.113.10:5000 bytes 10KiB", 0),
			send(`in tcp 203.0.113.10:4433 > 40000 data "220 ready"`, rules.Accept, "established"),
			burst("out udp > 203.0.113.10:5000 bytes 100KiB", 100*1024),
		)},
		{"cloud refuses first: a later 220 grants nothing", seq(
			send("out tcp > 203.0.113.10:4433 syn", rules.Accept, "consent.handshakes cloud-upload"),
			send("in tcp 203.0.113.10:4433 > 40000 syn,ack", rules.Accept, "established"),
			send("out tcp > 203.0.113.10:4433 ack", rules.Accept, "consent.handshakes cloud-upload"),
			send(`in tcp 203.0.113.10:4433 > 40000 data "500 no"`, rules.Accept, "established"),
			send(`in tcp 203.0.113.10:4433 > 40000 data "220 ready"`, rules.Accept, "established"),
			burst("out udp > 203.0.113.10:5000 bytes 10KiB", 0),
		)},
		{"forged syns do not spend a viewer's budget", seq(
			// 40 SYN-ACKs to a forged source: the unassured replies'
			// limit, not the viewer's quota, pays for them.
			burst("in tcp 192.168.1.20:40010 > 8443 syn", -1),
			burst("out tcp 8443 > 192.168.1.20:40010 syn,ack bytes 20 size 1", 20),
			burst("out tcp 8443 > 192.168.1.20:40010 syn,ack bytes 20 size 1", 0),
			wait(time.Second),
			burst("out tcp 8443 > 192.168.1.20:40010 syn,ack bytes 20 size 1", 10),
		)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tr := trace.New(camera, device)
			for i, s := range tc.steps {
				if s.wait > 0 {
					tr.Advance(s.wait)
					continue
				}
				spec, err := trace.Parse(s.send)
				if err != nil {
					t.Fatalf("step %d: %v", i+1, err)
				}
				rs, err := tr.Run(spec)
				if err != nil {
					t.Fatalf("step %d (%s): %v", i+1, s.send, err)
				}
				type outcome struct {
					Verdict   rules.VerdictKind
					Entry     string
					Delivered int
				}
				last := rs[len(rs)-1]
				got := outcome{trace.Verdict(rs), last.Entry(), int(trace.Summarize(rs).Delivered)}
				want := outcome{s.verdict, s.entry, s.delivered}
				if s.verdict == "" {
					got.Verdict, got.Entry = "", ""
				}
				if s.delivered < 0 {
					got.Delivered = -1
				}
				if d := cmp.Diff(want, got); d != "" {
					var b strings.Builder
					trace.WriteRun(&b, rs, trace.Statements)
					t.Errorf("step %d (%s) (-want +got):\n%s\n%s", i+1, s.send, d, b.String())
				}
			}
		})
	}
}

// TestFailClosed: a full quota table and a full consent table refuse
// new peers instead of letting them through unmetered.
func TestFailClosed(t *testing.T) {
	dir := t.TempDir()
	src, err := os.ReadFile("../../examples/baby-monitor.yaml")
	if err != nil {
		t.Fatal(err)
	}
	profile := strings.Replace(string(src), "  peers: 65536", "  peers: 2", 1)
	profile = strings.Replace(profile, "  peers: 1024", "  peers: 1", 1)
	path := filepath.Join(dir, "small.yaml")
	if err := os.WriteFile(path, []byte(profile), 0o644); err != nil {
		t.Fatal(err)
	}
	tr := trace.New(build(t, path), device)
	var got []string
	for _, victim := range []string{"198.51.100.101", "198.51.100.102", "198.51.100.103"} {
		rs, err := tr.Run(mustParse(t, "out udp > "+victim+":123 size 100"))
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, victim+" "+string(rs[0].Verdict)+" "+rs[0].Entry())
	}
	for _, peer := range []string{"192.168.1.20:40001", "192.168.1.21:40001"} {
		for _, s := range []string{"in tcp " + peer + " > 8443 syn", "out tcp 8443 > " + peer + " syn,ack", "in tcp " + peer + " > 8443 ack",
			"out tcp 8443 > " + peer + " size 10", "in tcp " + peer + " > 8443 ack"} {
			if _, err := tr.Run(mustParse(t, s)); err != nil {
				t.Fatal(err)
			}
		}
		rs, err := tr.Run(mustParse(t, "out udp > "+strings.Split(peer, ":")[0]+":5000 size 100"))
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, "bulk to "+peer+" "+string(rs[0].Verdict)+" "+rs[0].Entry())
	}
	want := []string{
		"198.51.100.101 accept egress.allow ntp",
		"198.51.100.102 accept egress.allow ntp",
		"198.51.100.103 drop drop",
		"bulk to 192.168.1.20:40001 accept consent.bulk udp 5000-5100",
		"bulk to 192.168.1.21:40001 drop drop",
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
}

func mustParse(t *testing.T, s string) trace.Spec {
	t.Helper()
	spec, err := trace.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return spec
}

// TestUninterpretedIsAnError: a statement the tracer has no meaning for
// stops the trace with an error naming it.
func TestUninterpretedIsAnError(t *testing.T) {
	for _, tc := range []struct {
		name string
		stmt rules.Stmt
		want string
	}{
		{"raw", rules.Raw{Text: "meta mark 0x1"}, "input rule 1 (test): meta mark 0x1: a raw expression is not interpreted"},
		{"meta key", rules.Meta{Key: "skuid", Value: "0"}, `input rule 1 (test): meta skuid 0: meta key "skuid" is not interpreted`},
		{"verdict", rules.Verdict{Kind: "jump x"}, `input rule 1 (test): jump x: verdict "jump x" is not interpreted`},
		{"missing set", rules.AddrMatch{Family: rules.IPv4, Field: rules.Src, Set: "nope"}, `input rule 1 (test): ip saddr @nope: no set "nope" in the table`},
		{"header bytes", rules.TransportPayload{Offset: 2, Data: []byte{1}}, "input rule 1 (test): @th,16,8 0x01: @th reads the TCP header at byte 2, which is not modelled"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			table := &rules.Table{Family: "inet", Name: "t", Chains: []*rules.Chain{{
				Name: "input", Hook: rules.HookInput, Policy: rules.Drop,
				Rules: []*rules.Rule{{Stmts: []rules.Stmt{tc.stmt, rules.Verdict{Kind: rules.Accept}}, Comment: "test"}},
			}}}
			_, err := trace.New(table, device).Run(mustParse(t, "in tcp 198.51.100.7 > 22"))
			if err == nil || err.Error() != tc.want {
				t.Errorf("error %v, want %s", err, tc.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		in, want string
	}{
		{"sideways tcp 1.2.3.4 > 22", "sideways tcp 1.2.3.4 > 22\n^\ncolumn 1: direction \"sideways\": use in or out"},
		{"in sctp 1.2.3.4 > 22", "in sctp 1.2.3.4 > 22\n   ^\ncolumn 4: protocol \"sctp\": use tcp, udp, icmp or icmpv6"},
		{"in tcp 1.2.3.400 > 22", "in tcp 1.2.3.400 > 22\n       ^\ncolumn 8: \"1.2.3.400\" is not an address, address:port, [v6]:port or port"},
		{"in tcp 1.2.3.4 22", "in tcp 1.2.3.4 22\n               ^\ncolumn 16: expected > between source and destination, got \"22\""},
		{"out udp > 1.2.3.4:53 bytes lots", "out udp > 1.2.3.4:53 bytes lots\n                           ^\ncolumn 28: bytes: \"lots\" is not a size (1000, 64KiB, 1MiB)"},
		{"out udp > 1.2.3.4:53 syn", "out udp > 1.2.3.4:53 syn\n                     ^\ncolumn 22: tcp flags on udp"},
		{"in icmp 1.2.3.4:5 > 22", "in icmp 1.2.3.4:5 > 22\n        ^\ncolumn 9: icmp has no ports"},
		{"in tcp", "in tcp\n      ^\ncolumn 7: missing source or >"},
		{`in tcp 1.2.3.4 > 22 data "abc`, "in tcp 1.2.3.4 > 22 data \"abc\n                         ^\ncolumn 26: unterminated string"},
		{"in tcp 1.2.3.4 > 22 wobble", "in tcp 1.2.3.4 > 22 wobble\n                    ^\ncolumn 21: unknown option \"wobble\""},
	} {
		_, err := trace.Parse(tc.in)
		var pe *trace.ParseError
		if !errors.As(err, &pe) {
			t.Errorf("%q: error %v, want a *ParseError", tc.in, err)
			continue
		}
		if d := cmp.Diff(tc.want, pe.Caret()+"\n"+pe.Error()); d != "" {
			t.Errorf("%q (-want +got):\n%s", tc.in, d)
		}
	}
}
