package mud

import (
	"fmt"
	"net/netip"
	"regexp"
	"strings"
)

// ethernetMark ends the description of an ethernet match, which the report
// counts apart: devfence works on IP and cannot express any of them.
const ethernetMark = " (an ethernet match)"

func (c *converter) readMatches(e *ace, v *value, path string) error {
	m, err := c.object(v, path)
	if err != nil {
		return err
	}
	ip4, p4, err := m.get("ipv4", "ipv4-acl")
	if err != nil {
		return err
	}
	ip6, p6, err := m.get("ipv6", "ipv6-acl")
	if err != nil {
		return err
	}
	if ip4 != nil && ip6 != nil {
		return c.errorf(v, path, "ipv4 and ipv6 matches exclude each other (one ACE matches one IP family)")
	}
	var l4 []string
	var l4v []*value
	var l4p []string
	for _, name := range []string{"tcp", "udp", "icmp"} {
		lv, lp, err := m.get(name)
		if err != nil {
			return err
		}
		if lv != nil {
			l4, l4v, l4p = append(l4, name), append(l4v, lv), append(l4p, lp)
		}
	}
	if len(l4) > 1 {
		return c.errorf(v, path, "%s matches exclude each other (one ACE matches one transport protocol)", strings.Join(l4, " and "))
	}
	mudV, mudPath, err := m.get("mud", "mud-acl")
	if err != nil {
		return err
	}
	if mudV != nil && strings.HasSuffix(mudPath, ".mud-acl") {
		c.warnf(mudV, mudPath, "mud-acl is the name drafts before RFC 8520 gave the ietf-mud:mud match; read as that")
	}
	// Drafts before RFC 8520 wrote a MUD class (same-manufacturer, ...)
	// straight into matches (osMUD's MUDFILE.NEST).
	found, err := c.readClassesIn(e, m)
	if err != nil {
		return err
	}
	for _, f := range found {
		c.warnf(f.v, f.path, "%s directly in matches is a form from drafts before RFC 8520, which puts it in the ietf-mud:mud match; read as that", localName(f.key))
	}
	ethV, ethPath, err := m.get("eth")
	if err != nil {
		return err
	}
	keys, paths := m.rest()
	for i, k := range keys {
		e.unsupported = append(e.unsupported, fmt.Sprintf("%s %s", paths[i], m.v.obj[k].compact(50)))
	}

	ipProto := -1
	for _, ip := range []struct {
		v      *value
		path   string
		family int
	}{{ip4, p4, 4}, {ip6, p6, 6}} {
		if ip.v == nil {
			continue
		}
		e.family = ip.family
		if ipProto, err = c.readIP(e, ip.v, ip.path, ip.family); err != nil {
			return err
		}
	}
	e.proto = ipProto
	if len(l4) == 1 {
		want := map[string]int{"tcp": 6, "udp": 17, "icmp": 1}[l4[0]]
		if l4[0] == "icmp" && e.family == 6 {
			want = 58
		}
		if ipProto != -1 && ipProto != want {
			return c.errorf(l4v[0], l4p[0], "a %s match contradicts protocol %d in the %s match", l4[0], ipProto, map[int]string{4: "ipv4", 6: "ipv6"}[e.family])
		}
		e.proto = want
		if l4[0] == "icmp" {
			e.icmpEither = e.family == 0
			if err := c.readICMP(e, l4v[0], l4p[0]); err != nil {
				return err
			}
		} else if err := c.readL4(e, l4v[0], l4p[0]); err != nil {
			return err
		}
	}
	if ethV != nil {
		if implied := ethImplied(ethV, e); implied != "" {
			e.ethImplied = fmt.Sprintf("%s %s %s", ethPath, ethV.compact(80), implied)
		} else {
			e.unsupported = append(e.unsupported, fmt.Sprintf("%s %s%s", ethPath, ethV.compact(50), ethernetMark))
		}
	}
	if e.proto != 6 && e.proto != 17 && (e.src != nil || e.dst != nil) {
		return c.errorf(v, path, "port matches need protocol 6 (tcp) or 17 (udp), not %s", protoDesc(e.proto))
	}
	if mudV != nil {
		if err := c.readClasses(e, mudV, mudPath); err != nil {
			return err
		}
	}
	return nil
}

// readIP reads an ipv4 or ipv6 match and returns its protocol (-1: any).
func (c *converter) readIP(e *ace, v *value, path string, family int) (int, error) {
	o, err := c.object(v, path)
	if err != nil {
		return 0, err
	}
	proto := -1
	pv, ppath, err := o.get("protocol", "next-header")
	if err != nil {
		return 0, err
	}
	if pv != nil {
		if proto, err = c.uint(pv, ppath, 255); err != nil {
			return 0, err
		}
	}
	fam := fmt.Sprintf("ipv%d", family)
	for _, side := range []struct {
		net, dns string
		dst      *[]peer
	}{
		{"destination-" + fam + "-network", "dst-dnsname", &e.dstPeer},
		{"source-" + fam + "-network", "src-dnsname", &e.srcPeer},
	} {
		nv, npath, err := o.get(side.net)
		if err != nil {
			return 0, err
		}
		if nv != nil {
			s, err := c.str(nv, npath)
			if err != nil {
				return 0, err
			}
			pfx, err := netip.ParsePrefix(strings.TrimSpace(s))
			if addr, aerr := netip.ParseAddr(strings.TrimSpace(s)); err != nil && aerr == nil && addr.Zone() == "" {
				// A prefix with its length left out can only mean the one
				// address; generators write ff05::c for ff05::c/128.
				pfx = netip.PrefixFrom(addr, addr.BitLen())
				err = nil
				if addr.Is4() == (family == 4) {
					c.warnf(nv, npath, "%q has no prefix length; read as %s", s, pfx)
				}
			}
			if err != nil || pfx.Addr().Zone() != "" {
				return 0, c.errorf(nv, npath, "%q is not a CIDR", s)
			}
			if (family == 4) != pfx.Addr().Is4() {
				return 0, c.errorf(nv, npath, "%q is not an IPv%d prefix", s, family)
			}
			// MUD prefixes are ietf-inet-types prefixes: host bits carry no
			// meaning, so masking them keeps the match the same.
			pfx = pfx.Masked()
			lit := pfx.String()
			if pfx.IsSingleIP() {
				lit = pfx.Addr().String()
			}
			*side.dst = append(*side.dst, peer{lit: lit, desc: "network " + lit})
		}
		dv, dpath, err := o.get(side.dns)
		if err != nil {
			return 0, err
		}
		if dv != nil {
			s, err := c.str(dv, dpath)
			if err != nil {
				return 0, err
			}
			host := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(s)), ".")
			if !hostRE.MatchString(host) || len(host) > 253 {
				return 0, c.errorf(dv, dpath, "%s is not a DNS name (an internationalised name must be written in its xn-- form)", jsonQuote(s))
			}
			*side.dst = append(*side.dst, peer{key: "dns:" + host, desc: "DNS name " + host})
		}
	}
	// Drafts before RFC 8519 put port ranges into the IP match, some
	// (osMUD's and the MUD draft's lightbulb2000) under a -or-operator name.
	if err := c.readPorts(e, o, "source-port-range", "destination-port-range", "source-port-range-or-operator", "destination-port-range-or-operator"); err != nil {
		return 0, err
	}
	keys, paths := o.rest()
	for i, k := range keys {
		e.unsupported = append(e.unsupported, fmt.Sprintf("%s %s", paths[i], o.v.obj[k].compact(50)))
	}
	return proto, nil
}

// readICMP reads an icmp match (RFC 8519: ICMPv4 or ICMPv6, by the IP
// family of the ACE). A type becomes its name in the rule's types; a code
// can be kept only where the type has no other code.
func (c *converter) readICMP(e *ace, v *value, path string) error {
	o, err := c.object(v, path)
	if err != nil {
		return err
	}
	tv, tpath, err := o.get("type")
	if err != nil {
		return err
	}
	cv, cpath, err := o.get("code")
	if err != nil {
		return err
	}
	keys, paths := o.rest()
	for i, k := range keys {
		e.unsupported = append(e.unsupported, fmt.Sprintf("%s %s", paths[i], o.v.obj[k].compact(50)))
	}
	code := -1
	if cv != nil {
		if code, err = c.uint(cv, cpath, 255); err != nil {
			return err
		}
	}
	if tv == nil {
		if code >= 0 {
			e.unsupported = append(e.unsupported, fmt.Sprintf("%s %d without a type", cpath, code))
		}
		return nil
	}
	t, err := c.uint(tv, tpath, 255)
	if err != nil {
		return err
	}
	// With no IP family, a type number is read as ICMPv4's, the protocol
	// that icmp names first; the rule then keeps to IPv4 peers.
	fam := e.family
	if fam == 0 {
		fam, e.icmpEither = 4, false
	}
	name, ok := icmpTypes[fam][t]
	if !ok {
		e.unsupported = append(e.unsupported, fmt.Sprintf("%s %d (no ICMPv%d type devfence names)", tpath, t, fam))
		return nil
	}
	if code >= 0 && !(code == 0 && icmpOneCode[fam][t]) {
		e.unsupported = append(e.unsupported, fmt.Sprintf("%s %d (devfence matches whole ICMP types, not codes)", cpath, code))
		return nil
	}
	e.types = []string{name}
	return nil
}

func (c *converter) readL4(e *ace, v *value, path string) error {
	o, err := c.object(v, path)
	if err != nil {
		return err
	}
	if err := c.readPorts(e, o, "source-port", "source-port-range"); err != nil {
		return err
	}
	if err := c.readPorts(e, o, "destination-port", "destination-port-range"); err != nil {
		return err
	}
	// RFC 8520 augments only tcp with direction-initiated; in udp its meaning
	// is just as clear, so it is read there too.
	dv, dpath, err := o.get("direction-initiated")
	if err != nil {
		return err
	}
	if dv != nil {
		s, err := c.str(dv, dpath)
		if err != nil {
			return err
		}
		switch s {
		case "from-device", "to-device":
			e.dir = s
		default:
			return c.errorf(dv, dpath, "unknown direction %q (want from-device or to-device)", s)
		}
	}
	keys, paths := o.rest()
	for i, k := range keys {
		e.unsupported = append(e.unsupported, fmt.Sprintf("%s %s", paths[i], o.v.obj[k].compact(50)))
	}
	return nil
}

// readPorts reads whichever of the names is present; the first name tells the
// side: source-* or destination-*.
func (c *converter) readPorts(e *ace, o *object, names ...string) error {
	for _, name := range names {
		pv, ppath, err := o.get(name)
		if err != nil {
			return err
		}
		if pv == nil {
			continue
		}
		pm, err := c.readPort(pv, ppath)
		if err != nil {
			return err
		}
		if strings.HasSuffix(name, "-or-operator") {
			c.warnf(pv, ppath, "%s is a name from drafts before RFC 8519, which writes %s in the tcp or udp match; read as that", name, strings.TrimSuffix(name, "-range-or-operator"))
		}
		dst, at := &e.src, &e.srcPath
		if strings.HasPrefix(name, "destination") {
			dst, at = &e.dst, &e.dstPath
		}
		if *dst != nil {
			return c.errorf(pv, ppath, "a second %s port match; the first is at %s", strings.SplitN(name, "-", 2)[0], *at)
		}
		*dst, *at = pm, ppath
	}
	return nil
}

// hostRE is an inet:host domain name: labels of letters, digits, '-' and
// '_' (seen in service names), 1-63 bytes each.
var hostRE = regexp.MustCompile(`^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*$`)

const operators = "eq, neq, lt, lte, gt, gte or a lower-port/upper-port range"

func (c *converter) readPort(v *value, path string) (*portMatch, error) {
	o, err := c.object(v, path)
	if err != nil {
		return nil, err
	}
	opV, opPath, err := o.get("operator", "operation")
	if err != nil {
		return nil, err
	}
	portV, portPath, err := o.get("port")
	if err != nil {
		return nil, err
	}
	loV, loPath, err := o.get("lower-port")
	if err != nil {
		return nil, err
	}
	hiV, hiPath, err := o.get("upper-port")
	if err != nil {
		return nil, err
	}
	if keys, paths := o.rest(); len(keys) > 0 {
		return nil, c.errorf(o.v.obj[keys[0]], paths[0], "unknown member of a port match (want operator and port, or lower-port and upper-port)")
	}
	op := "eq"
	if opV != nil {
		if op, err = c.str(opV, opPath); err != nil {
			return nil, err
		}
	}
	if loV != nil || hiV != nil || op == "range" {
		if op != "range" && opV != nil {
			return nil, c.errorf(opV, opPath, "operator %q cannot go with lower-port/upper-port", op)
		}
		if portV != nil {
			return nil, c.errorf(portV, portPath, "port cannot go with lower-port/upper-port")
		}
		if loV == nil {
			return nil, c.errorf(v, path, "a port range needs lower-port")
		}
		lo, err := c.uint(loV, loPath, 65535)
		if err != nil {
			return nil, err
		}
		hi := lo // drafts before RFC 8519 left upper-port out for one port
		if hiV != nil {
			if hi, err = c.uint(hiV, hiPath, 65535); err != nil {
				return nil, err
			}
		}
		if hi < lo {
			return nil, c.errorf(v, path, "the range %d-%d is reversed", lo, hi)
		}
		return &portMatch{desc: fmt.Sprintf("range %d-%d", lo, hi), ranges: clip(lo, hi)}, nil
	}
	if portV == nil {
		return nil, c.errorf(v, path, "a port match needs port (with operator) or lower-port and upper-port")
	}
	n, err := c.uint(portV, portPath, 65535)
	if err != nil {
		return nil, err
	}
	pm := &portMatch{desc: fmt.Sprintf("%s %d", op, n)}
	switch op {
	case "eq":
		pm.ranges = clip(n, n)
	case "lt":
		pm.ranges = clip(1, n-1)
	case "lte":
		pm.ranges = clip(1, n)
	case "gt":
		pm.ranges = clip(n+1, 65535)
	case "gte":
		pm.ranges = clip(n, 65535)
	case "neq":
		// Not one range: split into the ranges below and above n, each its
		// own rule, which together allow exactly what the ACE does.
		pm.ranges = append(clip(1, n-1), clip(n+1, 65535)...)
	default:
		return nil, c.errorf(opV, opPath, "unknown operator %q (want %s)", op, operators)
	}
	return pm, nil
}

// clip bounds a range to the ports a rule can name: port 0 is not a port a
// connection can use, so dropping it changes nothing that flows.
func clip(lo, hi int) []portRange {
	lo, hi = max(lo, 1), min(hi, 65535)
	if lo > hi {
		return nil
	}
	return []portRange{{lo, hi}}
}

func (c *converter) readClasses(e *ace, v *value, path string) error {
	o, err := c.object(v, path)
	if err != nil {
		return err
	}
	if _, err := c.readClassesIn(e, o); err != nil {
		return err
	}
	keys, paths := o.rest()
	for i, k := range keys {
		e.unsupported = append(e.unsupported, fmt.Sprintf("%s %s", paths[i], o.v.obj[k].compact(50)))
	}
	return nil
}

// member is a member of a JSON object: its key, value and path.
type member struct {
	key, path string
	v         *value
}

// readClassesIn reads the MUD classes among the members of o and returns
// the members it read.
func (c *converter) readClassesIn(e *ace, o *object) ([]member, error) {
	var found []member
	for _, cls := range []string{"manufacturer", "same-manufacturer", "model", "local-networks", "controller", "my-controller"} {
		cv, cpath, err := o.get(cls)
		if err != nil {
			return nil, err
		}
		if cv == nil {
			continue
		}
		found = append(found, member{key: cls, path: cpath, v: cv})
		switch cls {
		case "manufacturer", "model", "controller":
			s, err := c.str(cv, cpath)
			if err != nil {
				return nil, err
			}
			s = strings.TrimSpace(s)
			if s == "" {
				return nil, c.errorf(cv, cpath, "is empty")
			}
			if cls == "manufacturer" {
				s = strings.ToLower(s)
			}
			e.classes = append(e.classes, peer{key: cls + ":" + s, desc: cls + " " + s})
		default:
			if err := c.empty(cv, cpath); err != nil {
				return nil, err
			}
			e.classes = append(e.classes, peer{key: cls, desc: cls})
		}
	}
	return found, nil
}

func (c *converter) readActions(e *ace, v *value, path string) error {
	o, err := c.object(v, path)
	if err != nil {
		return err
	}
	fv, fpath, err := o.get("forwarding")
	if err != nil {
		return err
	}
	if fv != nil {
		s, err := c.str(fv, fpath)
		if err != nil {
			return err
		}
		switch s = localName(s); s {
		case "accept", "drop", "reject":
			e.forwarding = s
		default:
			return c.errorf(fv, fpath, "unknown forwarding action %q (want accept, drop or reject)", s)
		}
	}
	// Drafts before RFC 8519 wrote the action as an empty leaf.
	for _, old := range []struct{ name, action string }{{"permit", "accept"}, {"deny", "drop"}} {
		ov, opath, err := o.get(old.name)
		if err != nil {
			return err
		}
		if ov == nil {
			continue
		}
		if err := c.empty(ov, opath); err != nil {
			return err
		}
		if e.forwarding != "" {
			return c.errorf(ov, opath, "a second forwarding action")
		}
		e.forwarding = old.action
	}
	if e.forwarding == "" {
		return c.errorf(v, path, "no forwarding action (accept, drop or reject)")
	}
	if lv, _, err := o.get("logging"); err != nil {
		return err
	} else if lv != nil {
		e.logging = true
	}
	keys, paths := o.rest()
	for i, k := range keys {
		e.unknownActions = append(e.unknownActions, fmt.Sprintf("%s %s", paths[i], o.v.obj[k].compact(50)))
	}
	return nil
}
