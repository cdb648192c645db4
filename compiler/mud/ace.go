package mud

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// portRange is an inclusive range within 1-65535.
type portRange struct{ lo, hi int }

func (r portRange) String() string {
	if r.lo == r.hi {
		return strconv.Itoa(r.lo)
	}
	return fmt.Sprintf("%d-%d", r.lo, r.hi)
}

var anyPort = []portRange{{1, 65535}}

// portMatch is a MUD port match; ranges is empty when it matches no usable
// port (eq 0, lt 1, gt 65535).
type portMatch struct {
	desc   string // as the MUD file says it, for messages
	ranges []portRange
}

// ace is what one ACE matches, as far as devfence can express it.
type ace struct {
	family         int // 4 or 6 when an ipv4 or ipv6 match or the ACL type says so, else 0
	proto          int // IP protocol number; -1 when any
	src, dst       *portMatch
	srcPath        string
	dstPath        string
	dir            string // ietf-mud:direction-initiated: "", from-device or to-device
	srcPeer        []peer // from source-* matches
	dstPeer        []peer // from destination-* matches
	classes        []peer // from the ietf-mud:mud match, which names the peer in either policy
	unsupported    []string
	forwarding     string // accept, drop or reject
	logging        bool
	unknownActions []string
}

// peer is the other end of a connection: a network to be bound or a literal.
type peer struct {
	key  string // network key (see network); empty for a literal address
	lit  string // canonical CIDR or address
	desc string // for messages
}

// dropped is a drop or reject ACE seen earlier in the policy being read.
type dropped struct {
	name string
	e    *ace
}

// readACE imports one ACE of ACL a; drops collects the policy's drop and
// reject ACEs, which the accepting ACEs after them must not overlap.
func (c *converter) readACE(pol policy, a *aclInfo, idx int, v *value, drops *[]dropped) error {
	path := fmt.Sprintf("%s[%d]", a.acesAt, idx)
	o, err := c.object(v, path)
	if err != nil {
		return err
	}
	name := fmt.Sprintf("ace%d", idx)
	nv, npath, err := o.get("name", "rule-name")
	if err != nil {
		return err
	}
	if nv != nil {
		if name, err = c.str(nv, npath); err != nil {
			return err
		}
	}
	origin := a.name + "/" + name
	where := fmt.Sprintf("%s (%s)", path, origin)

	e := &ace{proto: -1, family: a.family}
	mv, mpath, err := o.get("matches")
	if err != nil {
		return err
	}
	if mv != nil {
		if err := c.readMatches(e, mv, mpath); err != nil {
			return err
		}
	}
	av, apath, err := o.get("actions")
	if err != nil {
		return err
	}
	if av == nil {
		return c.errorf(v, path, "the ACE has no actions")
	}
	if err := c.readActions(e, av, apath); err != nil {
		return err
	}
	keys, paths := o.rest()
	for i, k := range keys {
		c.note("%s (%s): %s; not imported", paths[i], origin, o.v.obj[k].compact(60))
	}
	for _, u := range e.unknownActions {
		c.note("%s: action %s; not imported", where, u)
	}
	if e.logging {
		c.note("%s: logging action; not imported (devfence logs dropped packets only, see log.drops)", where)
	}
	if e.forwarding != "accept" {
		*drops = append(*drops, dropped{origin, e})
		c.note("%s: action %s; not needed, devfence drops whatever no rule allows", where, e.forwarding)
		return nil
	}
	if len(e.unsupported) > 0 {
		for i, u := range e.unsupported {
			e.unsupported[i] = strings.TrimPrefix(u, path+".")
		}
		c.note("%s: %s; devfence cannot match this, ACE not imported", where, strings.Join(e.unsupported, "; "))
		return nil
	}
	if e.proto != 6 && e.proto != 17 {
		c.note("%s: %s%s; devfence rules are tcp or udp only, ACE not imported", where, protoDesc(e.proto), peerDesc(e, pol))
		return nil
	}

	// Sides: for a from-device ACE the device is the source, for a to-device
	// ACE the destination.
	rel := func(p string) string { return strings.TrimPrefix(p, path+".") }
	devPort, peerPort, devPath, peerPath := e.src, e.dst, rel(e.srcPath), rel(e.dstPath)
	peers, devSide := e.dstPeer, e.srcPeer
	if pol == toDevice {
		devPort, peerPort, devPath, peerPath = e.dst, e.src, rel(e.dstPath), rel(e.srcPath)
		peers, devSide = e.srcPeer, e.dstPeer
	}
	for _, p := range []*portMatch{devPort, peerPort} {
		if p != nil && len(p.ranges) == 0 {
			c.note("%s: port %s matches no port from 1 to 65535; ACE not imported", where, p.desc)
			return nil
		}
	}
	if len(devSide) > 0 {
		c.note("%s: %s is the device's own address, which devfence rules do not match; ACE not imported", where, devSide[0].desc)
		return nil
	}
	peers = append(peers, e.classes...)
	if len(peers) > 1 {
		descs := make([]string, len(peers))
		for i, p := range peers {
			descs[i] = p.desc
		}
		c.note("%s: the peer must be all of %s at once; devfence cannot match an intersection, ACE not imported", where, strings.Join(descs, " and "))
		return nil
	}

	deviceOpens, known := true, true
	switch e.dir {
	case "from-device":
	case "to-device":
		deviceOpens = false
	default:
		// No direction-initiated: the side whose port is fixed is the server.
		if pol == fromDevice {
			deviceOpens = !(devPort != nil && peerPort == nil)
		} else {
			switch {
			case devPort != nil && peerPort == nil:
				deviceOpens = false
			case peerPort != nil && devPort == nil:
				deviceOpens = true
			default:
				known = false
			}
		}
	}
	if !known {
		c.note("%s: %s ACE with %s and no ietf-mud:direction-initiated: cannot tell who opens the connection; replies to the device's own connections pass anyway, no inbound service was made", where, pol, portsDesc(devPort, peerPort))
		return nil
	}
	if deviceOpens != (pol == fromDevice) {
		if !slices.Contains(c.replies, origin) {
			c.replies = append(c.replies, origin)
		}
		return nil
	}
	for _, d := range *drops {
		if mayOverlap(d.e, e) {
			c.note("%s: the earlier %s ACE %s may carve an exception out of it, which devfence cannot express; ACE not imported", where, d.e.forwarding, d.name)
			return nil
		}
	}

	if pol == fromDevice && devPort != nil {
		c.note("%s: %s %s fixes the device's own port; devfence egress rules match the peer's port only, ACE not imported", where, devPath, devPort.desc)
		return nil
	}
	if pol == toDevice && peerPort != nil {
		c.note("%s: %s %s fixes the peer's port; devfence inbound services match the device's port only, ACE not imported", where, peerPath, peerPort.desc)
		return nil
	}
	var p *peer
	if len(peers) == 1 {
		p = &peers[0]
		c.useNetwork(p)
	}
	ports, portFrom := anyPort, peerPort
	if pol == toDevice {
		portFrom = devPort
	}
	if portFrom != nil {
		ports = portFrom.ranges
	}
	proto := map[int]string{6: "tcp", 17: "udp"}[e.proto]
	for i, r := range ports {
		rl := &rule{inbound: pol == toDevice, proto: proto, port: r, origins: []string{origin}, name: name}
		if len(ports) > 1 {
			rl.name = fmt.Sprintf("%s-%d", name, i+1)
		}
		if p != nil {
			rl.peer = *p
		} else {
			rl.anyFamily = e.family
			rl.any = true
		}
		c.addRule(rl)
	}
	return nil
}

// mayOverlap reports whether some packet could match both d and e. It answers
// no only when that is certain (different protocols, IP families, disjoint
// ports or disjoint literal networks): DNS names and MUD classes may stand
// for the same addresses, and a match devfence cannot express only narrows d.
func mayOverlap(d, e *ace) bool {
	if d.proto != -1 && e.proto != -1 && d.proto != e.proto {
		return false
	}
	if d.family != 0 && e.family != 0 && d.family != e.family {
		return false
	}
	if disjointPorts(d.src, e.src) || disjointPorts(d.dst, e.dst) {
		return false
	}
	return !disjointPeers(d.srcPeer, e.srcPeer) && !disjointPeers(d.dstPeer, e.dstPeer)
}

func disjointPorts(a, b *portMatch) bool {
	if a == nil || b == nil {
		return false
	}
	for _, x := range a.ranges {
		for _, y := range b.ranges {
			if x.lo <= y.hi && y.lo <= x.hi {
				return false
			}
		}
	}
	return true
}

// disjointPeers: both sides fixed to literal networks that do not overlap.
func disjointPeers(a, b []peer) bool {
	for _, x := range a {
		for _, y := range b {
			px, errx := netip.ParsePrefix(asPrefix(x.lit))
			py, erry := netip.ParsePrefix(asPrefix(y.lit))
			if errx == nil && erry == nil && !px.Overlaps(py) {
				return true
			}
		}
	}
	return false
}

func asPrefix(lit string) string {
	if lit == "" || strings.Contains(lit, "/") {
		return lit
	}
	if strings.Contains(lit, ":") {
		return lit + "/128"
	}
	return lit + "/32"
}

func protoDesc(p int) string {
	switch p {
	case -1:
		return "every IP protocol (no protocol match)"
	case 1:
		return "ICMP (protocol 1)"
	case 58:
		return "ICMPv6 (protocol 58)"
	}
	return fmt.Sprintf("IP protocol %d", p)
}

func peerDesc(e *ace, pol policy) string {
	peers := e.dstPeer
	if pol == toDevice {
		peers = e.srcPeer
	}
	peers = append(slices.Clone(peers), e.classes...)
	word := " to "
	if pol == toDevice {
		word = " from "
	}
	var parts []string
	for _, p := range peers {
		parts = append(parts, p.desc)
	}
	if len(parts) == 0 {
		return ""
	}
	return word + strings.Join(parts, " and ")
}

func portsDesc(dev, peer *portMatch) string {
	if dev == nil && peer == nil {
		return "no port match"
	}
	return "ports fixed on both sides"
}
