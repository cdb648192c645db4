package mud

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"unicode"
)

// nameRE is the shape of every name in a profile (PROFILE.md).
var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

const maxName = 63

var schemeRE = regexp.MustCompile(`^[a-z][a-z0-9+.-]*://`)

// sanitize turns free text (an ACE name, a DNS name, a URL) into a profile
// name: lowercase, runs of anything but [a-z0-9] become one '-', and a URL
// loses its scheme, which only adds noise. It returns "" when nothing is left.
func sanitize(s string) string {
	s = schemeRE.ReplaceAllString(strings.ToLower(strings.TrimSpace(s)), "")
	var b strings.Builder
	dash := false
	for _, r := range s {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
			dash = false
		} else if !dash && b.Len() > 0 {
			b.WriteByte('-')
			dash = true
		}
	}
	return truncName(b.String(), maxName)
}

func truncName(s string, n int) string {
	if len(s) > n {
		s = s[:n]
	}
	return strings.TrimRight(s, "-")
}

// unique returns base, or base with the smallest suffix -2, -3, ... that is
// not taken, shortening base so that the result stays a valid name.
func unique(base string, taken map[string]bool) string {
	name := base
	for i := 2; taken[name]; i++ {
		sfx := fmt.Sprintf("-%d", i)
		name = truncName(base, maxName-len(sfx)) + sfx
	}
	taken[name] = true
	return name
}

// network is a named address group that an ACE's peer became: a DNS name or
// a MUD class, whose addresses the user supplies with --bind.
type network struct {
	key     string // "dns:HOST", "controller:URI", "local-networks", ...
	base    string // sanitised name before making it unique
	comment string
	name    string
	addrs   []string
}

func (c *converter) useNetwork(p *peer) {
	if p.key == "" || c.nets[p.key] != nil {
		return
	}
	kind, arg, _ := strings.Cut(p.key, ":")
	n := &network{key: p.key}
	switch kind {
	case "dns":
		n.base = prefixed("dns", arg)
		n.comment = "DNS name " + arg
	case "controller":
		n.base = prefixed("controller", arg)
		n.comment = "MUD controller class " + arg
	case "manufacturer":
		n.base = prefixed("manufacturer", arg)
		n.comment = "MUD manufacturer: devices whose MUD URL's authority is " + arg
	case "model":
		n.base = prefixed("model", arg)
		n.comment = "MUD model: devices whose MUD URL is " + arg
	case "same-manufacturer":
		n.base = kind
		n.comment = "MUD same-manufacturer: devices whose MUD URL's authority is this device's"
		if u, err := url.Parse(c.info.url); err == nil && u.Host != "" {
			n.comment += " (" + u.Host + ")"
		}
	case "my-controller":
		n.base = kind
		n.comment = "MUD my-controller: the controllers configured for this device's MUD URL"
	case "local-networks":
		n.base = kind
		n.comment = "MUD local-networks: the networks local to the device"
	}
	c.nets[p.key] = n
}

func prefixed(prefix, s string) string {
	if t := sanitize(s); t != "" {
		return truncName(prefix+"-"+t, maxName)
	}
	return prefix
}

// nameNetworks gives every network its final name. Networks are named in the
// order of their base names, so the suffixes do not depend on ACE order.
func (c *converter) nameNetworks() []*network {
	nets := make([]*network, 0, len(c.nets))
	for _, n := range c.nets {
		nets = append(nets, n)
	}
	slices.SortFunc(nets, func(a, b *network) int {
		if a.base != b.base {
			return strings.Compare(a.base, b.base)
		}
		return strings.Compare(a.key, b.key)
	})
	// "any" would read as the keyword in `to: any`.
	taken := map[string]bool{"any": true}
	for _, n := range nets {
		n.name = unique(n.base, taken)
	}
	slices.SortFunc(nets, func(a, b *network) int { return strings.Compare(a.name, b.name) })
	return nets
}

// rule is an egress.allow rule or an inbound.services entry.
type rule struct {
	inbound   bool
	name      string // the ACE's name until nameRules
	proto     string
	types     []string  // icmp only; empty: every type
	port      portRange // tcp and udp only
	peer      peer      // a network (key) or a literal address
	any       bool      // no peer match: every address of anyFamily
	anyFamily int       // 4, 6, or 0 for both
	origins   []string
}

func (r *rule) same(o *rule) bool {
	return r.inbound == o.inbound && r.proto == o.proto && r.port == o.port && slices.Equal(r.types, o.types) &&
		r.peer.key == o.peer.key && r.peer.lit == o.peer.lit &&
		r.any == o.any && r.anyFamily == o.anyFamily
}

// addRule keeps the first of identical rules and credits it with the ACEs of
// the others, so that the comment on it still names every source.
func (c *converter) addRule(r *rule) {
	for _, o := range c.rules {
		if o.same(r) {
			for _, org := range r.origins {
				if !slices.Contains(o.origins, org) {
					o.origins = append(o.origins, org)
				}
			}
			return
		}
	}
	c.rules = append(c.rules, r)
}

// nameRules makes rule names valid and unique within their list, which is
// what the profile loader requires.
func (c *converter) nameRules() {
	taken := [2]map[string]bool{{}, {}}
	for _, r := range c.rules {
		base := sanitize(r.name)
		if base == "" {
			base = "rule"
		}
		i := 0
		if r.inbound {
			i = 1
		}
		r.name = unique(base, taken[i])
	}
}

// deviceName picks the most specific of the MUD's descriptions of the device.
func (c *converter) deviceName() string {
	in := c.info
	var cands []string
	if in.mfgName != "" && in.modelName != "" {
		cands = append(cands, in.mfgName+" "+in.modelName)
	}
	cands = append(cands, in.modelName, in.systemInfo, in.url, in.mfgName)
	for _, s := range cands {
		if n := sanitize(s); n != "" {
			return n
		}
	}
	return "mud-device"
}

// description is one short line: what the device is, by its own account.
func (c *converter) description() string {
	in := c.info
	mm := strings.TrimSpace(in.mfgName + " " + in.modelName)
	d := in.systemInfo
	switch {
	case d == "" && mm == "":
		d = "imported from a MUD file"
	case d == "":
		d = mm
	case mm != "" && !strings.Contains(strings.ToLower(d), strings.ToLower(mm)):
		d += " (" + mm + ")"
	}
	const max = 120
	if r := []rune(d); len(r) > max {
		d = strings.TrimSpace(string(r[:max-3])) + "..."
	}
	return d
}

// oneLine makes text from the file safe for a single-line comment or scalar:
// YAML reads NEL and the Unicode line separators as line breaks and refuses
// other control characters, so every non-printable rune becomes a space.
func oneLine(s string) string {
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool {
		return r == ' ' || !unicode.IsPrint(r)
	}), " ")
}
