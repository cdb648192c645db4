// Package compiler loads device profiles (see PROFILE.md) strictly, with the
// YAML position of every value, and compiles them into a rules.Table.
package compiler

import (
	"net/netip"
	"slices"
	"time"
)

// Profile is one device profile, version 1. Field names follow the YAML
// contract in PROFILE.md; the yaml tags are what the strict decoder matches.
type Profile struct {
	Version    int        `yaml:"version"`
	Device     Device     `yaml:"device"`
	Networks   Networks   `yaml:"networks"`
	Inbound    Inbound    `yaml:"inbound"`
	Egress     Egress     `yaml:"egress"`
	Consent    Consent    `yaml:"consent"`
	Essentials Essentials `yaml:"essentials"`
	Limits     Limits     `yaml:"limits"`
	Log        Log        `yaml:"log"`
	Waivers    []Waiver   `yaml:"waivers"`

	// Source is where the profile came from; it is not a YAML field.
	Source *Source `yaml:"-"`
}

type Device struct {
	Name        string `yaml:"name"`
	Description string `yaml:"description"`
}

// Network is one named address group. YAML gives networks as a mapping, whose
// order Networks keeps so that output is deterministic.
type Network struct {
	Name    string
	Entries []Address
}

type Networks []Network

// Hosts lists the host names used in networks, sorted and without repeats.
func (ns Networks) Hosts() []string {
	var hosts []string
	for _, n := range ns {
		for _, e := range n.Entries {
			if e.Host != "" {
				hosts = append(hosts, e.Host)
			}
		}
	}
	slices.Sort(hosts)
	return slices.Compact(hosts)
}

// Lookup returns the network called name.
func (ns Networks) Lookup(name string) (Network, bool) {
	for _, n := range ns {
		if n.Name == name {
			return n, true
		}
	}
	return Network{}, false
}

// Address is a CIDR, a single address (a full-length prefix), or a host
// name that apply resolves (A and AAAA) into the network's sets.
type Address struct {
	Prefix netip.Prefix
	Host   string
}

type Inbound struct {
	Policy   string    `yaml:"policy"`
	Services []Service `yaml:"services"`
}

type Service struct {
	Name    string    `yaml:"name"`
	Proto   string    `yaml:"proto"`
	Port    PortRange `yaml:"port"`
	Types   []string  `yaml:"types"`
	From    Targets   `yaml:"from"`
	Consent bool      `yaml:"consent"`
}

type Egress struct {
	Quota *Quota      `yaml:"quota"`
	Total *Quota      `yaml:"total"`
	Allow []AllowRule `yaml:"allow"`
}

type AllowRule struct {
	Name  string    `yaml:"name"`
	To    Targets   `yaml:"to"`
	Proto string    `yaml:"proto"`
	Port  PortRange `yaml:"port"`
	Types []string  `yaml:"types"`
	Quota *Quota    `yaml:"quota"`
}

// Targets is a `to`/`from` value: the word any, or a list of network names
// and CIDRs.
type Targets struct {
	Any  bool
	Refs []Ref
}

// Ref is one list entry of Targets: a network name or a literal address.
type Ref struct {
	Network string
	Address *Address
	Index   int // the entry's place in the YAML list, for diagnostics
}

type Consent struct {
	Idle       Duration    `yaml:"idle"`
	Peers      int         `yaml:"peers"`
	Bulk       []BulkRule  `yaml:"bulk"`
	Handshakes []Handshake `yaml:"handshakes"`
}

type BulkRule struct {
	Proto string    `yaml:"proto"`
	Port  PortRange `yaml:"port"`
}

type Handshake struct {
	Name        string    `yaml:"name"`
	To          Targets   `yaml:"to"`
	Port        PortRange `yaml:"port"`
	ClearToSend string    `yaml:"clearToSend"`
}

type Essentials struct {
	Loopback bool   `yaml:"loopback"`
	DHCP     bool   `yaml:"dhcp"`
	IPv6ND   bool   `yaml:"ipv6-nd"`
	ICMP     string `yaml:"icmp"`
}

type Limits struct {
	Peers      int `yaml:"peers"`
	IPv6Prefix int `yaml:"ipv6Prefix"`
}

type Log struct {
	Drops Rate `yaml:"drops"`
	Group int  `yaml:"group"`
}

type Waiver struct {
	Policy string `yaml:"policy"`
	Reason string `yaml:"reason"`
}

// Defaults returns a profile holding every default that PROFILE.md lists;
// decoding a file overwrites what the file sets.
func Defaults() Profile {
	return Profile{
		Inbound:    Inbound{Policy: "established-only"},
		Consent:    Consent{Idle: Duration(30 * time.Second), Peers: 1024},
		Essentials: Essentials{Loopback: true, DHCP: true, IPv6ND: true, ICMP: "errors"},
		Limits:     Limits{Peers: 65536, IPv6Prefix: 64},
		Log:        Log{Drops: Rate{N: 10, Unit: "minute"}, Group: 0},
	}
}
