package compiler

import (
	"fmt"
	"strings"
)

// namePattern is the shape of every name in a profile (device, networks,
// rules): names become parts of nftables identifiers and log prefixes, so
// they may hold nothing that nft would read as syntax. isName matches it;
// the schema publishes it.
const namePattern = `^[a-z0-9][a-z0-9-]{0,62}$`

// isName matches namePattern. Hand-written, like the other matchers of
// this package: package regexp costs the device build 0.2-0.26 MB.
func isName(s string) bool {
	if len(s) == 0 || len(s) > 63 || s[0] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isLowerAlnum(s[i]) && s[i] != '-' {
			return false
		}
	}
	return true
}

func isLowerAlnum(c byte) bool { return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' }

func checkName(s string) error {
	if s == "" {
		return errEmpty
	}
	if !isName(s) {
		return fmt.Errorf("%q must be lowercase letters, digits and '-', starting with a letter or digit, at most 63 characters", s)
	}
	return nil
}

// MaxClearToSend is the most bytes a clear-to-send match may hold. The
// kernel compares at most 16 bytes at once, so longer banners compile to
// several comparisons; the clear-to-send-length policy asks for one.
const MaxClearToSend = 64

// check runs the semantic checks that need the whole profile: required
// fields, names, enumerations and references between sections.
func check(p *Profile) Diagnostics {
	c := checker{src: p.Source, p: p}
	c.run()
	return c.diags
}

type checker struct {
	src   *Source
	p     *Profile
	diags Diagnostics
}

func (c *checker) errorf(path, format string, args ...any) {
	c.diags = append(c.diags, c.src.At(path, fmt.Sprintf(format, args...)))
}

func (c *checker) run() {
	p := c.p
	switch p.Version {
	case 1:
	case 0:
		c.errorf("version", "version is required; this devfence reads `version: 1`")
	default:
		c.errorf("version", "version %d is not supported; this devfence reads version 1", p.Version)
	}
	c.name("device.name", p.Device.Name)
	for _, nw := range p.Networks {
		if len(nw.Entries) == 0 {
			c.errorf("networks."+nw.Name, "network %q has no addresses", nw.Name)
		}
	}

	names := map[string]string{}
	for i, s := range p.Inbound.Services {
		path := fmt.Sprintf("inbound.services[%d]", i)
		c.ruleName(path, s.Name, names)
		c.ruleProto(path, s.Proto, s.Port, s.Types, s.Consent)
		c.targets(path+".from", s.From, false)
	}
	names = map[string]string{}
	for i, r := range p.Egress.Allow {
		path := fmt.Sprintf("egress.allow[%d]", i)
		c.ruleName(path, r.Name, names)
		c.ruleProto(path, r.Proto, r.Port, r.Types, false)
		c.targets(path+".to", r.To, true)
	}
	if p.Consent.Peers < 1 {
		c.errorf("consent.peers", "must be at least 1")
	}
	for i, b := range p.Consent.Bulk {
		c.bulkProto(fmt.Sprintf("consent.bulk[%d].proto", i), b.Proto)
	}
	names = map[string]string{}
	for i, h := range p.Consent.Handshakes {
		path := fmt.Sprintf("consent.handshakes[%d]", i)
		c.ruleName(path, h.Name, names)
		c.port(path+".port", h.Port)
		c.targets(path+".to", h.To, false)
		if len(h.ClearToSend) > MaxClearToSend {
			c.errorf(path+".clearToSend", "is %d bytes; devfence matches at most %d", len(h.ClearToSend), MaxClearToSend)
		}
	}
	switch p.Essentials.ICMP {
	case "errors", "echo", "none":
	default:
		c.errorf("essentials.icmp", "must be errors, echo or none, not %q", p.Essentials.ICMP)
	}
	if p.Limits.Peers < 1 {
		c.errorf("limits.peers", "must be at least 1")
	}
	if n := p.Limits.IPv6Prefix; n < 1 || n > 128 {
		c.errorf("limits.ipv6Prefix", "must be a prefix length from 1 to 128, not %d", n)
	}
	if g := p.Log.Group; g > 65535 {
		c.errorf("log.group", "NFLOG groups are 0-65535, not %d", g)
	}
	for i, w := range p.Waivers {
		path := fmt.Sprintf("waivers[%d]", i)
		if w.Policy == "" {
			c.errorf(path+".policy", "names the policy being waived and is required")
		}
		if strings.TrimSpace(w.Reason) == "" {
			c.errorf(path+".reason", "says why the policy is waived and is required")
		}
	}
}

func (c *checker) name(path, s string) {
	if err := checkName(s); err != nil {
		if err == errEmpty {
			c.errorf(path, "is required")
			return
		}
		c.errorf(path, "%v", err)
	}
}

// ruleName checks a rule's name and that no other rule in its list has it.
func (c *checker) ruleName(path, name string, seen map[string]string) {
	c.name(path+".name", name)
	if name == "" {
		return
	}
	if first, dup := seen[name]; dup {
		c.errorf(path+".name", "rule name %q is already used by %s", name, first)
		return
	}
	seen[name] = path
}

// bulkProto checks the proto of a consent.bulk entry, which stays tcp or
// udp.
func (c *checker) bulkProto(path, proto string) {
	switch proto {
	case "tcp", "udp":
	case "":
		c.errorf(path, "is required: tcp or udp")
	default:
		c.errorf(path, "must be tcp or udp, not %q", proto)
	}
}

func (c *checker) port(path string, p PortRange) {
	if p.IsZero() {
		c.errorf(path, "is required: a port or a range \"lo-hi\"")
	}
}

func (c *checker) targets(path string, t Targets, anyAllowed bool) {
	if t.Any {
		if !anyAllowed {
			c.errorf(path, "must name networks or CIDRs; any is not allowed here")
		}
		return
	}
	if len(t.Refs) == 0 {
		c.errorf(path, "is required: network names or CIDRs")
		return
	}
	for _, r := range t.Refs {
		if r.Network == "" {
			continue
		}
		if _, ok := c.p.Networks.Lookup(r.Network); !ok {
			c.errorf(fmt.Sprintf("%s[%d]", path, r.Index), "network %q is not defined under networks%s", r.Network, c.closestNetwork(r.Network))
		}
	}
}

func (c *checker) closestNetwork(name string) string {
	fields := map[string]int{}
	for i, nw := range c.p.Networks {
		fields[nw.Name] = i
	}
	return suggest(name, fields)
}
