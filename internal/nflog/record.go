package nflog

import (
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Reason is why a packet was dropped.
type Reason string

const (
	// Unsolicited: inbound that no connection of the device's, essential or
	// inbound service accepted.
	Unsolicited Reason = "unsolicited"
	// NotAllowed: outbound that no rule of the profile allows.
	NotAllowed Reason = "not-allowed"
	// QuotaSpent: outbound that a rule allows, but the destination's byte
	// budget (or egress.total) for the window is used up.
	QuotaSpent Reason = "quota-spent"
	// TableFull: outbound to a new peer while the rule's quota set holds as
	// many peers as limits.peers allows; fail closed.
	TableFull Reason = "table-full"
	// Unknown: the watcher cannot tell (no profile given, a prefix that is
	// not devfence's, or the live sets could not be read).
	Unknown Reason = "unknown"
)

// Text is the reason in words, for the text output.
func (r Reason) Text() string {
	switch r {
	case Unsolicited:
		return "unsolicited inbound"
	case NotAllowed:
		return "not allowed"
	case QuotaSpent:
		return "quota spent"
	case TableFull:
		return "table full"
	}
	return "dropped"
}

// LogPrefix is a devfence log prefix, "devfence <device> <dir> <tag>: ".
type LogPrefix struct {
	Device    string
	Direction string // "in" or "out"
	Tag       string // "drop"
}

// ParsePrefix reads a devfence log prefix; ok is false for any other.
func ParsePrefix(s string) (p LogPrefix, ok bool) {
	rest, ok := strings.CutPrefix(s, "devfence ")
	if !ok {
		return LogPrefix{}, false
	}
	rest, ok = strings.CutSuffix(strings.TrimRight(rest, " "), ":")
	f := strings.Fields(rest)
	if !ok || len(f) != 3 || (f[1] != "in" && f[1] != "out") {
		return LogPrefix{}, false
	}
	return LogPrefix{Device: f[0], Direction: f[1], Tag: f[2]}, true
}

// Record is one dropped packet, as the watcher prints it.
type Record struct {
	Time      time.Time `json:"time"`
	Direction string    `json:"direction,omitempty"` // "in" or "out"
	Device    string    `json:"device,omitempty"`
	Reason    Reason    `json:"reason"`
	Detail    string    `json:"detail,omitempty"`

	Family string     `json:"family,omitempty"` // "ipv4" or "ipv6"
	Proto  string     `json:"proto,omitempty"`  // "tcp", "udp", "icmp", "ipv6-icmp" or a number
	Peer   netip.Addr `json:"peer,omitzero"`    // the other end: source in, destination out
	Port   uint16     `json:"port,omitempty"`   // destination port: the device's in, the peer's out

	Src      netip.Addr `json:"src,omitzero"`
	Dst      netip.Addr `json:"dst,omitzero"`
	SrcPort  uint16     `json:"sport,omitempty"`
	DstPort  uint16     `json:"dport,omitempty"`
	TCPFlags string     `json:"tcp_flags,omitempty"`
	ICMPType *uint8     `json:"icmp_type,omitempty"`
	ICMPCode *uint8     `json:"icmp_code,omitempty"`
	Length   int        `json:"length,omitempty"`
	InIf     string     `json:"in_if,omitempty"`
	OutIf    string     `json:"out_if,omitempty"`

	Prefix string `json:"prefix"`
	Group  uint16 `json:"group"`

	// ParseError is set when the payload could not be decoded.
	ParseError string `json:"parse_error,omitempty"`

	headers Headers // what classification matches on
}

// newRecord fills a Record from a packet; received is when the watcher got
// it, the time used when the kernel sent no timestamp (it sends none for
// packets the device itself sent).
func newRecord(p Packet, received time.Time, names *ifNames) Record {
	r := Record{Time: p.Timestamp, Prefix: p.Prefix, Group: p.Group,
		InIf: names.name(p.InDev), OutIf: names.name(p.OutDev)}
	if r.Time.IsZero() {
		r.Time = received
	}
	if lp, ok := ParsePrefix(p.Prefix); ok {
		r.Device, r.Direction = lp.Device, lp.Direction
	} else {
		// Not devfence's prefix: the hook still tells the direction.
		switch p.Hook {
		case HookLocalIn:
			r.Direction = "in"
		case HookLocalOut:
			r.Direction = "out"
		}
	}
	h, err := ParseHeaders(p.Payload)
	if err != nil {
		r.ParseError = err.Error()
		switch p.Family {
		case unix.NFPROTO_IPV4:
			r.Family = "ipv4"
		case unix.NFPROTO_IPV6:
			r.Family = "ipv6"
		}
		return r
	}
	r.headers = h
	r.Family = "ipv" + fmt.Sprint(h.Version)
	r.Proto = h.ProtoName()
	r.Src, r.Dst, r.Length = h.Src, h.Dst, h.Length
	if h.HasPorts {
		r.SrcPort, r.DstPort, r.Port = h.SrcPort, h.DstPort, h.DstPort
	}
	if h.Proto == ProtoTCP {
		r.TCPFlags = h.TCPFlagString()
	}
	if h.HasICMP {
		t, c := h.ICMPType, h.ICMPCode
		r.ICMPType, r.ICMPCode = &t, &c
	}
	r.Peer = h.Src
	if r.Direction == "out" {
		r.Peer = h.Dst
	}
	return r
}

// Text is the record as one line:
//
//	2025-11-22 10:04:05.123 in  tcp 198.51.100.66 port 23: unsolicited inbound [SYN eth0]
func (r Record) Text() string {
	var b strings.Builder
	dir := r.Direction
	if dir == "" {
		dir = "?"
	}
	fmt.Fprintf(&b, "%s %-3s ", r.Time.Format("2006-01-02 15:04:05.000"), dir)
	switch {
	case r.ParseError != "":
		fmt.Fprintf(&b, "%s packet", orDash(r.Family))
	case r.ICMPType != nil:
		fmt.Fprintf(&b, "%s %s type %d code %d", r.Proto, r.Peer, *r.ICMPType, *r.ICMPCode)
	case r.Port != 0 || r.headers.HasPorts:
		fmt.Fprintf(&b, "%s %s port %d", r.Proto, r.Peer, r.Port)
	default:
		fmt.Fprintf(&b, "%s %s", r.Proto, r.Peer)
	}
	fmt.Fprintf(&b, ": %s", r.Reason.Text())
	if r.Detail != "" {
		fmt.Fprintf(&b, " (%s)", r.Detail)
	}
	var tags []string
	if r.TCPFlags != "" {
		tags = append(tags, r.TCPFlags)
	}
	if iface := r.InIf + r.OutIf; iface != "" {
		tags = append(tags, iface) // one of them: a drop is in input or output
	}
	if r.ParseError != "" {
		tags = append(tags, r.ParseError)
	}
	if r.Direction == "" || (r.Device == "" && r.Prefix != "") {
		tags = append(tags, fmt.Sprintf("prefix %q", r.Prefix))
	}
	if len(tags) > 0 {
		fmt.Fprintf(&b, " [%s]", strings.Join(tags, " "))
	}
	return b.String()
}

// JSON is the record as one line of JSON (no newline).
// The time is in UTC, as every point in time in devfence's JSON.
func (r Record) JSON() ([]byte, error) {
	r.Time = r.Time.UTC()
	return json.Marshal(r)
}

// LineWriter returns an emit function for Watcher.Run that writes each
// record to w as one line, text or JSON. Each line is one Write, so a
// reader of a pipe sees whole lines as they come.
func LineWriter(w io.Writer, asJSON bool) func(Record) error {
	return func(r Record) error {
		var line []byte
		if asJSON {
			b, err := r.JSON()
			if err != nil {
				return err
			}
			line = b
		} else {
			line = []byte(r.Text())
		}
		_, err := w.Write(append(line, '\n'))
		return err
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
