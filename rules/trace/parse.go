package trace

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/devfence/devfence/rules"
)

// Spec is a packet as written in the explain grammar (docs/EXPLAIN.md):
// what the user said, before the device's addresses and the conntrack
// model fill in the rest.
type Spec struct {
	Hook     rules.Hook
	Proto    string
	Src, Dst Endpoint
	Flags    *rules.TCPFlagBits
	Ct       CtOverride
	Size     int    // payload bytes per packet; -1: not given
	Bytes    uint64 // payload bytes in all, sent as packets of Size; 0: one packet
	Count    int    // packets of Size to send; 0: one (or as Bytes says)
	Data     []byte
	ICMPType *uint8
	HopLimit uint8
	Dev      string
	DataOff  uint8
}

// Endpoint is one side of a packet; either part may be left out.
type Endpoint struct {
	Addr netip.Addr
	Port uint16
}

// ParseError is a packet that does not parse: Column (from 1) is where
// the bad token starts.
type ParseError struct {
	Input  string
	Column int
	Msg    string
}

func (e *ParseError) Error() string { return fmt.Sprintf("column %d: %s", e.Column, e.Msg) }

// Caret is the input with a caret under the bad token.
func (e *ParseError) Caret() string {
	return e.Input + "\n" + strings.Repeat(" ", e.Column-1) + "^"
}

type token struct {
	text   string
	col    int
	quoted bool
}

func tokenize(s string) ([]token, error) {
	var toks []token
	for i := 0; i < len(s); {
		switch {
		case s[i] == ' ' || s[i] == '\t':
			i++
		case s[i] == '"':
			end := strings.IndexByte(s[i+1:], '"')
			if end < 0 {
				return nil, &ParseError{Input: s, Column: i + 1, Msg: "unterminated string"}
			}
			toks = append(toks, token{text: s[i+1 : i+1+end], col: i + 1, quoted: true})
			i += end + 2
		default:
			j := i
			for j < len(s) && s[j] != ' ' && s[j] != '\t' {
				j++
			}
			toks = append(toks, token{text: s[i:j], col: i + 1})
			i = j
		}
	}
	return toks, nil
}

// Parse reads one packet: DIRECTION PROTO [SRC] > [DST] OPTION...
func Parse(s string) (Spec, error) {
	toks, err := tokenize(s)
	if err != nil {
		return Spec{}, err
	}
	p := parser{in: s, toks: toks}
	spec, err := p.spec()
	var pe *ParseError
	if errors.As(err, &pe) {
		pe.Input = s
	}
	return spec, err
}

type parser struct {
	in   string
	toks []token
	i    int
}

func (p *parser) errAt(t token, format string, args ...any) error {
	return &ParseError{Column: t.col, Msg: fmt.Sprintf(format, args...)}
}

// next returns the next token, or an error at the end of the input.
func (p *parser) next(want string) (token, error) {
	if p.i >= len(p.toks) {
		return token{}, &ParseError{Column: len(p.in) + 1, Msg: "missing " + want}
	}
	t := p.toks[p.i]
	p.i++
	return t, nil
}

var protos = map[string]bool{"tcp": true, "udp": true, "icmp": true, "icmpv6": true}

func (p *parser) spec() (Spec, error) {
	s := Spec{Size: -1}
	t, err := p.next("direction (in or out)")
	if err != nil {
		return s, err
	}
	switch t.text {
	case "in":
		s.Hook = rules.HookInput
	case "out":
		s.Hook = rules.HookOutput
	default:
		return s, p.errAt(t, "direction %q: use in or out", t.text)
	}
	if t, err = p.next("protocol (tcp, udp, icmp or icmpv6)"); err != nil {
		return s, err
	}
	if !protos[t.text] {
		return s, p.errAt(t, "protocol %q: use tcp, udp, icmp or icmpv6", t.text)
	}
	s.Proto = t.text
	if t, err = p.next("source or >"); err != nil {
		return s, err
	}
	if t.text != ">" {
		if s.Src, err = p.endpoint(t, s.Proto); err != nil {
			return s, err
		}
		if t, err = p.next(">"); err != nil {
			return s, err
		}
		if t.text != ">" {
			return s, p.errAt(t, "expected > between source and destination, got %q", t.text)
		}
	}
	if p.i < len(p.toks) && !isOption(p.toks[p.i].text) {
		t, _ = p.next("")
		if s.Dst, err = p.endpoint(t, s.Proto); err != nil {
			return s, err
		}
	}
	for p.i < len(p.toks) {
		if err := p.option(&s); err != nil {
			return s, err
		}
	}
	if s.Count > 0 && s.Bytes > 0 {
		return s, &ParseError{Column: 1, Msg: "bytes and count exclude each other"}
	}
	return s, nil
}

// maxCount bounds count, so that one packet spec stays a burst, not a
// benchmark.
const maxCount = 1000000

// options that take a value, and those that stand alone.
var (
	valueOptions = map[string]bool{"size": true, "bytes": true, "count": true, "data": true, "type": true, "hoplimit": true, "dev": true, "doff": true, "mark": true, "flags": true}
	states       = map[string]rules.CtStates{"new": rules.CtNew, "established": rules.CtEstablished, "related": rules.CtRelated, "invalid": rules.CtInvalid}
)

func isOption(s string) bool {
	if valueOptions[s] || states[s] != 0 || s == "reply" || s == "original" || s == "assured" {
		return true
	}
	_, ok := parseFlags(s)
	return ok
}

func (p *parser) endpoint(t token, proto string) (Endpoint, error) {
	s := t.text
	ports := proto == "tcp" || proto == "udp"
	if n, err := strconv.ParseUint(strings.TrimPrefix(s, ":"), 10, 16); err == nil && !strings.Contains(strings.TrimPrefix(s, ":"), ":") {
		if !ports {
			return Endpoint{}, p.errAt(t, "%s has no ports", proto)
		}
		if n == 0 {
			return Endpoint{}, p.errAt(t, "port 0")
		}
		return Endpoint{Port: uint16(n)}, nil
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return Endpoint{Addr: a.Unmap()}, nil
	}
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return Endpoint{}, p.errAt(t, "%q is not an address, address:port, [v6]:port or port", s)
	}
	if !ports {
		return Endpoint{}, p.errAt(t, "%s has no ports", proto)
	}
	if ap.Port() == 0 {
		return Endpoint{}, p.errAt(t, "port 0")
	}
	return Endpoint{Addr: ap.Addr().Unmap(), Port: ap.Port()}, nil
}

func (p *parser) option(s *Spec) error {
	t, _ := p.next("")
	if st, ok := states[t.text]; ok {
		if s.Ct.State != 0 {
			return p.errAt(t, "a second conntrack state")
		}
		s.Ct.State = st
		return nil
	}
	switch t.text {
	case "reply", "original":
		r := t.text == "reply"
		s.Ct.Reply = &r
		return nil
	case "assured":
		s.Ct.Status |= rules.CtAssured | rules.CtSeenReply
		return nil
	}
	if f, ok := parseFlags(t.text); ok {
		if s.Proto != "tcp" {
			return p.errAt(t, "tcp flags on %s", s.Proto)
		}
		s.Flags = &f
		return nil
	}
	if !valueOptions[t.text] {
		return p.errAt(t, "unknown option %q", t.text)
	}
	v, err := p.next("value of " + t.text)
	if err != nil {
		return err
	}
	switch t.text {
	case "flags":
		f, ok := parseFlags(v.text)
		if !ok || s.Proto != "tcp" {
			return p.errAt(v, "tcp flags %q: use names such as syn,ack (tcp only)", v.text)
		}
		s.Flags = &f
	case "size", "bytes":
		n, err := parseSize(v.text)
		if err != nil {
			return p.errAt(v, "%s: %v", t.text, err)
		}
		if t.text == "size" {
			if n > 65000 {
				return p.errAt(v, "size %d: one packet carries at most 65000 bytes; use bytes for more", n)
			}
			s.Size = int(n)
		} else {
			if n == 0 {
				return p.errAt(v, "bytes 0")
			}
			s.Bytes = n
		}
	case "count":
		n, err := strconv.ParseUint(v.text, 10, 32)
		if err != nil || n == 0 || n > maxCount {
			return p.errAt(v, "count %q: a number of packets, 1-%d", v.text, maxCount)
		}
		s.Count = int(n)
	case "data":
		if v.quoted {
			s.Data = []byte(v.text)
		} else if h, ok := strings.CutPrefix(v.text, "0x"); ok {
			b, err := hex.DecodeString(h)
			if err != nil || len(b) == 0 {
				return p.errAt(v, "data %q: hex bytes after 0x, or a \"quoted string\"", v.text)
			}
			s.Data = b
		} else {
			return p.errAt(v, "data %q: a \"quoted string\" or 0x and hex bytes", v.text)
		}
	case "type":
		typ, ok := icmpTypeByName(s.Proto, v.text)
		if !ok {
			return p.errAt(v, "icmp type %q on %s", v.text, s.Proto)
		}
		s.ICMPType = &typ
	case "hoplimit", "doff":
		n, err := strconv.ParseUint(v.text, 10, 8)
		if err != nil || n == 0 || (t.text == "doff" && (n < 5 || n > 15)) {
			return p.errAt(v, "%s %q: a number (hoplimit 1-255, doff 5-15)", t.text, v.text)
		}
		if t.text == "doff" {
			s.DataOff = uint8(n)
		} else {
			s.HopLimit = uint8(n)
		}
	case "dev":
		s.Dev = v.text
	case "mark":
		n, err := strconv.ParseUint(v.text, 0, 32)
		if err != nil {
			return p.errAt(v, "mark %q: a 32-bit number (0x40000000)", v.text)
		}
		s.Ct.Mark |= uint32(n)
	}
	return nil
}

var flagBits = map[string]rules.TCPFlagBits{
	"fin": rules.TCPFin, "syn": rules.TCPSyn, "rst": rules.TCPRst, "psh": rules.TCPPsh,
	"ack": rules.TCPAck, "urg": rules.TCPUrg, "ecn": rules.TCPEcn, "cwr": rules.TCPCwr,
}

func parseFlags(s string) (rules.TCPFlagBits, bool) {
	if s == "none" {
		return 0, true
	}
	var f rules.TCPFlagBits
	for _, n := range strings.Split(s, ",") {
		b, ok := flagBits[n]
		if !ok {
			return 0, false
		}
		f |= b
	}
	return f, true
}

var (
	icmpTypes   = map[string]uint8{"echo-reply": 0, "destination-unreachable": 3, "echo-request": 8, "time-exceeded": 11}
	icmpv6Types = map[string]uint8{
		"destination-unreachable": 1, "packet-too-big": 2, "time-exceeded": 3,
		"echo-request": 128, "echo-reply": 129, "mld2-listener-report": 143,
		"nd-router-solicit": 133, "nd-router-advert": 134, "nd-neighbor-solicit": 135, "nd-neighbor-advert": 136,
	}
)

func icmpTypeByName(proto, s string) (uint8, bool) {
	names := icmpTypes
	switch proto {
	case "icmpv6":
		names = icmpv6Types
	case "icmp":
	default:
		return 0, false
	}
	if t, ok := names[s]; ok {
		return t, true
	}
	n, err := strconv.ParseUint(s, 10, 8)
	return uint8(n), err == nil
}

// parseSize reads a byte count: a number with an optional B, KiB, MiB or
// GiB, as profiles write sizes.
func parseSize(s string) (uint64, error) {
	mult := uint64(1)
	num := s
	for _, u := range []struct {
		suffix string
		mult   uint64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"B", 1}} {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			num, mult = n, u.mult
			break
		}
	}
	n, err := strconv.ParseUint(num, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a size (1000, 64KiB, 1MiB)", s)
	}
	if n > (1<<40)/mult {
		return 0, fmt.Errorf("%q is more than 1TiB", s)
	}
	return n * mult, nil
}
