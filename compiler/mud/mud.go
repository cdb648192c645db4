// Package mud imports RFC 8520 Manufacturer Usage Description (MUD) files as
// devfence profiles (PROFILE.md).
//
// A MUD file lists what a device may talk to in two ACL sets: from-device-policy
// (packets the device sends) and to-device-policy (packets it receives). A
// devfence profile instead lists the connections the device may open
// (egress.allow) and the ones it may accept (inbound.services), and lets every
// reply through (inbound.policy: established-only). So each accepting MUD ACE
// is first classified by who opens the connection:
//
//	from-device ACE, device opens it -> egress.allow rule (to: the peer, port: the peer's port)
//	to-device ACE, peer opens it     -> inbound.services entry (from: the peer, port: the device's port)
//	from-device ACE, peer opened it  -> nothing: a reply of an inbound service
//	to-device ACE, device opened it  -> nothing: a reply of an egress rule
//
// ietf-mud:direction-initiated says who opens the connection when present.
// When absent, a from-device ACE is taken as device-initiated, except one that
// fixes only the device's own (source) port; a to-device ACE is taken as
// inbound only when it fixes only the device's own (destination) port, and as a
// reply when it fixes only the peer's port: the side with the fixed port is the
// server. A to-device ACE that fixes both ports or neither is listed as not
// imported.
//
// The peer becomes the rule's to/from: a literal ipv4/ipv6 network is written
// as is; a DNS name (ietf-acldns) and each MUD class (local-networks,
// controller, my-controller, same-manufacturer, manufacturer, model) becomes
// a named network, empty until bound with --bind. No peer at all is `to: any`,
// or 0.0.0.0/0 or ::/0 when the ACE or its ACL type is of one IP family only
// (inbound services cannot say any, so theirs is spelt as prefixes). Ports: eq
// n is n; a lower-port/upper-port range is "lo-hi"; lt/lte/gt/gte are the
// ranges below or above n within 1-65535; neq n is split into two rules, the
// ranges below and above n; no port match is "1-65535".
//
// Protocols: tcp and udp as above; ICMP (in an IPv4 match) and ICMPv6 (in
// an IPv6 match) become icmp, an ICMP type its name in types; IGMP becomes
// igmp, no protocol match any, any other protocol its number. Those have no
// ports, so who opens is read differently: a from-device ACE is the device
// sending; a to-device ACE is a peer sending (an inbound service), unless it
// matches ICMP reply types only or mirrors a from-device ACE of the same
// protocol and peer, which makes it the replies. A udp ACE between the
// device's port 68 and the peer's 67 (546 and 547 for DHCPv6) is the DHCP
// client, which essentials.dhcp allows: it needs no rule.
//
// The importer never emits a rule that allows more than the ACE it came from
// (once its networks are bound to the addresses they stand for). An ACE with a
// match devfence cannot express (a port on the wrong side, DSCP, ethernet,
// an ICMP code, two peers at once, a drop ACE before it that may overlap,
// ...) is not imported at all but listed, both in Result.Unmapped and in a
// comment block at the top of the profile, so that nothing is dropped
// silently. Two readings go past the letter of the file, each said in
// Result.Notes: a multicast group (or 255.255.255.255) intersected with
// local-networks is that address; and an ethernet match whose every field
// the IP match implies (the IP family's ethertype, the broadcast MAC with
// destination 255.255.255.255, as MUDgee writes them) is left out.
//
// An ACE that breaks RFC 8519/8520 (a wrong type, an operator with a range,
// actions inside matches, ...) is skipped and listed in Result.Skipped, and
// the rest of the file is imported; if it may have been a drop, the
// accepting ACEs after it in its policy are not imported either. What breaks
// the RFCs but can mean one thing only ([] for [null], an address where a
// prefix is due, names from the drafts before the RFCs) is read so, with a
// line in Result.Warnings.
package mud

import (
	"fmt"
	"strings"
)

// Options tune Convert.
type Options struct {
	// Binds maps a network name produced by the import (e.g. "controller-...",
	// "dns-api-vendor-example") to the CIDRs or addresses given with --bind.
	Binds map[string][]string
	// Source names the MUD file in errors and in the profile's header comment.
	Source string
}

// Result is an imported profile.
type Result struct {
	YAML     []byte   // the profile, ready to write; deterministic bytes
	Unmapped []string // one line per construct that did not map (also comments at the top of YAML)
	Unbound  []string // network names that still need a --bind (their lists are empty)
	// Notes are constructs imported as what they mean rather than as what
	// they literally say (also comments at the top of YAML).
	Notes []string
	// Skipped are the defective ACEs (and ACLs) left out so that the rest
	// of the file could be imported, positioned as errors are; also
	// comments at the top of YAML.
	Skipped []*Error
	// Warnings are input that breaks the RFCs but has one clear meaning,
	// which the import used (`[]` for an empty leaf, an address without a
	// prefix length).
	Warnings []*Error
	Report   Report
}

// Error is a problem in the MUD file that stops the import, positioned in the
// file and, past JSON syntax, at the JSON path of the offending value.
type Error struct {
	File    string
	Line    int // 1-based
	Column  int // 1-based, in bytes
	Offset  int64
	Path    string // e.g. acls.acl[2].aces.ace[0].matches; empty for JSON syntax errors
	Message string
}

func (e *Error) Error() string {
	var b strings.Builder
	file := e.File
	if file == "" {
		file = "<input>"
	}
	fmt.Fprintf(&b, "%s:%d:%d: ", file, e.Line, e.Column)
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Message)
	return b.String()
}

// Convert imports the MUD file held in data. It fails on input it cannot read
// unambiguously; constructs that it reads but cannot express are reported in
// Result.Unmapped instead.
func Convert(data []byte, opt Options) (*Result, error) {
	root, err := parseJSON(data)
	if err != nil {
		se := err.(*syntaxError)
		line, col := lineCol(data, se.off)
		return nil, &Error{File: opt.Source, Line: line, Column: col, Offset: se.off,
			Message: fmt.Sprintf("malformed JSON at byte offset %d: %s", se.off, se.msg)}
	}
	c := newConverter(data, opt)
	if err := c.convert(root); err != nil {
		return nil, err
	}
	if err := c.bind(opt.Binds); err != nil {
		return nil, err
	}
	return c.result(), nil
}
