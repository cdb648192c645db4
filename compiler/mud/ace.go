package mud

import (
	"errors"
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
	proto          int // IP protocol number; protoAny when any
	src, dst       *portMatch
	srcPath        string
	dstPath        string
	dir            string // ietf-mud:direction-initiated: "", from-device or to-device
	srcPeer        []peer // from source-* matches
	dstPeer        []peer // from destination-* matches
	classes        []peer // from the ietf-mud:mud match, which names the peer in either policy
	unsupported    []string
	icmpEither     bool     // an icmp match with no IP family: ICMPv4 or ICMPv6
	types          []string // the profile's types: the ICMP type's name, if matched
	forwarding     string   // accept, drop or reject
	logging        bool
	unknownActions []string
	ethImplied     string // an ethernet match the IP match implies, and why
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
// reject ACEs, which the accepting ACEs after them must not overlap. An ACE
// that breaks RFC 8519/8520 is skipped with a warning instead of failing the
// file: one bad ACE says nothing about the others.
func (c *converter) readACE(pol policy, a *aclInfo, idx int, v *value, drops *[]dropped) {
	path := fmt.Sprintf("%s[%d]", a.acesAt, idx)
	name := aceName(v, idx)
	origin := a.name + "/" + name
	mark := len(c.warnings)
	err := c.mapACE(pol, a, path, name, origin, v, drops)
	if err == nil {
		return
	}
	var me *Error
	if !errors.As(err, &me) { // mapACE's errors all come from errorf; keep the position anyway
		me = c.errorf(v, path, "%v", err).(*Error)
	}
	// Tolerances noticed before the ACE failed no longer apply to anything.
	c.warnings = c.warnings[:mark]
	me.Message = fmt.Sprintf("%s; ACE %s (%s) skipped", me.Message, path, origin)
	if !slices.ContainsFunc(c.skipped, func(s *Error) bool { return *s == *me }) {
		c.skipped = append(c.skipped, me)
	}
	c.outcome(path, origin, "not-imported", ReasonDefective)
	// A skipped ACE that may have been a drop could have carved an exception
	// out of the accepting ACEs after it: those are then not imported either,
	// so that skipping never allows more than the file does.
	if forwarding(v) != "accept" {
		*drops = append(*drops, dropped{origin + " (skipped)", &ace{proto: protoAny}})
	}
}

// aceName is the ACE's name, or ace<index> when it has none that reads.
func aceName(v *value, idx int) string {
	if v.kind == kObject {
		for _, k := range v.keys {
			if n := localName(k); (n == "name" || n == "rule-name") && v.obj[k].kind == kString {
				return v.obj[k].s
			}
		}
	}
	return fmt.Sprintf("ace%d", idx)
}

// forwarding finds an ACE's forwarding action without checking anything
// else, looking inside matches too (where defective files put actions).
func forwarding(v *value) string {
	find := func(o *value, name string) *value {
		if o == nil || o.kind != kObject {
			return nil
		}
		for _, k := range o.keys {
			if localName(k) == name {
				return o.obj[k]
			}
		}
		return nil
	}
	acts := find(v, "actions")
	if acts == nil {
		acts = find(find(v, "matches"), "actions")
	}
	if find(acts, "deny") != nil { // with an accept too, it is still not an accept for sure
		return ""
	}
	if f := find(acts, "forwarding"); f != nil && f.kind == kString {
		return localName(f.s)
	}
	if find(acts, "permit") != nil {
		return "accept"
	}
	return ""
}

// notImported records an accepting ACE that becomes no rule: a line of
// Unmapped and an outcome in the report.
func (c *converter) notImported(path, origin, reason, format string, args ...any) error {
	c.note(format, args...)
	c.outcome(path, origin, "not-imported", reason)
	return nil
}

func (c *converter) mapACE(pol policy, a *aclInfo, path, name, origin string, v *value, drops *[]dropped) error {
	o, err := c.object(v, path)
	if err != nil {
		return err
	}
	if nv, npath, err := o.get("name", "rule-name"); err != nil {
		return err
	} else if nv != nil {
		if _, err := c.str(nv, npath); err != nil {
			return err
		}
	}
	where := fmt.Sprintf("%s (%s)", path, origin)

	e := &ace{proto: protoAny, family: a.family}
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
		if mv != nil && mv.kind == kObject {
			for _, k := range mv.keys {
				if localName(k) == "actions" {
					return c.errorf(mv.obj[k], join(mpath, "actions"),
						"actions is inside matches; RFC 8519 puts it beside matches, in the ACE")
				}
			}
		}
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
		c.outcome(path, origin, "drop", "")
		return nil
	}
	if len(e.unsupported) > 0 {
		reason := ReasonUnsupported
		for i, u := range e.unsupported {
			e.unsupported[i] = strings.TrimPrefix(u, path+".")
			if strings.HasSuffix(u, ethernetMark) {
				reason = ReasonEthernet
			}
		}
		return c.notImported(path, origin, reason, "%s: %s; devfence cannot match this, ACE not imported", where, strings.Join(e.unsupported, "; "))
	}
	if e.ethImplied != "" {
		c.remark("%s: %s; imported without it", where, strings.TrimPrefix(e.ethImplied, path+"."))
	}
	proto, family := profileProto(e.proto, e.family, e.icmpEither)

	// Sides: for a from-device ACE the device is the source, for a to-device
	// ACE the destination.
	rel := func(p string) string { return strings.TrimPrefix(p, path+".") }
	devPort, peerPort, devPath, peerPath := e.src, e.dst, rel(e.srcPath), rel(e.dstPath)
	peers, devSide := e.dstPeer, e.srcPeer
	if pol == toDevice {
		devPort, peerPort, devPath, peerPath = e.dst, e.src, rel(e.dstPath), rel(e.srcPath)
		peers, devSide = e.srcPeer, e.dstPeer
	}
	if proto == "udp" && (onePort(devPort, 68) && onePort(peerPort, 67) || onePort(devPort, 546) && onePort(peerPort, 547)) {
		// The DHCP client exchange, which essentials.dhcp (on unless the
		// profile turns it off) allows both ways with any server.
		if !slices.Contains(c.essential, origin) {
			c.essential = append(c.essential, origin)
		}
		c.outcome(path, origin, "essential", "")
		return nil
	}
	for _, p := range []*portMatch{devPort, peerPort} {
		if p != nil && len(p.ranges) == 0 {
			return c.notImported(path, origin, ReasonNoPort, "%s: port %s matches no port from 1 to 65535; ACE not imported", where, p.desc)
		}
	}
	if len(devSide) > 0 {
		return c.notImported(path, origin, ReasonDeviceAddr, "%s: %s is the device's own address, which devfence rules do not match; ACE not imported", where, devSide[0].desc)
	}
	peers = append(peers, e.classes...)
	if g, ok := multicastLocal(peers); ok {
		c.remark("%s: %s within local-networks: imported as that address itself, which is reached on the local network only", where, groupDesc(g))
		peers = []peer{g}
	}
	if len(peers) > 1 {
		descs := make([]string, len(peers))
		for i, p := range peers {
			descs[i] = p.desc
		}
		return c.notImported(path, origin, ReasonIntersection, "%s: the peer must be all of %s at once; devfence cannot match an intersection, ACE not imported", where, strings.Join(descs, " and "))
	}
	var p *peer
	if len(peers) == 1 {
		p = &peers[0]
	}

	deviceOpens, known := true, true
	switch {
	case e.dir == "from-device":
	case e.dir == "to-device":
		deviceOpens = false
	case !hasPorts(proto):
		// No ports tell the server apart. An ACE of ICMP reply types only
		// (echo-reply, ...) carries answers, which conntrack lets through:
		// from the device, to a peer's request; to it, to its own. Else a
		// from-device ACE is the device sending, and a to-device one a peer
		// sending, unless it mirrors a from-device ACE (no types, same
		// protocol, same peer): then it carries the device's answers.
		if pol == fromDevice {
			deviceOpens = !allReplies(e.types)
		} else {
			deviceOpens = allReplies(e.types) || len(e.types) == 0 && c.mirrors(proto, p, family)
		}
	case pol == fromDevice:
		// No direction-initiated: the side whose port is fixed is the server.
		deviceOpens = !(devPort != nil && peerPort == nil)
	case devPort != nil && peerPort == nil:
		deviceOpens = false
	case peerPort != nil && devPort == nil:
		deviceOpens = true
	default:
		known = false
	}
	if !known {
		return c.notImported(path, origin, ReasonDirection, "%s: %s ACE with %s and no ietf-mud:direction-initiated: cannot tell who opens the connection; replies to the device's own connections pass anyway, no inbound service was made", where, pol, portsDesc(devPort, peerPort))
	}
	if deviceOpens != (pol == fromDevice) {
		if !slices.Contains(c.replies, origin) {
			c.replies = append(c.replies, origin)
		}
		c.outcome(path, origin, "reply", "")
		return nil
	}
	for _, d := range *drops {
		if mayOverlap(d.e, e) {
			return c.notImported(path, origin, ReasonDropOverlap, "%s: the earlier %s ACE %s may carve an exception out of it, which devfence cannot express; ACE not imported", where, d.kind(), d.name)
		}
	}

	if pol == fromDevice && devPort != nil && (peerPort == nil || !hasPorts(proto)) {
		return c.notImported(path, origin, ReasonDevicePort, "%s: %s %s fixes the device's own port; devfence egress rules match the peer's port only, ACE not imported", where, devPath, devPort.desc)
	}
	if pol == fromDevice && devPort != nil {
		// Both ends fixed (BACnet/IP's 47808 to 47808, as DAQ's files
		// write it): the rule keeps the peer and its port, which is what
		// the ACE allows the device to reach; the device's own source
		// port is the device's choice, and devfence does not pin it.
		c.note("%s: %s %s, the device's own port, is not enforced: the rule matches the peer's port %s", where, devPath, devPort.desc, peerPort.desc)
	}
	if pol == toDevice && peerPort != nil {
		return c.notImported(path, origin, ReasonPeerPort, "%s: %s %s fixes the peer's port; devfence inbound services match the device's port only, ACE not imported", where, peerPath, peerPort.desc)
	}
	if p != nil {
		c.useNetwork(p)
	}
	ports, portFrom := anyPort, peerPort
	if pol == toDevice {
		portFrom = devPort
	}
	if portFrom != nil {
		ports = portFrom.ranges
	}
	if !hasPorts(proto) {
		ports = []portRange{{}}
	}
	for i, r := range ports {
		rl := &rule{inbound: pol == toDevice, proto: proto, types: e.types, port: r, origins: []string{origin}, name: name}
		if len(ports) > 1 {
			rl.name = fmt.Sprintf("%s-%d", rl.name, i+1)
		}
		if p != nil {
			rl.peer = *p
		} else {
			rl.anyFamily = family
			rl.any = true
		}
		c.addRule(rl)
	}
	c.outcome(path, origin, "rule", "")
	return nil
}

func onePort(p *portMatch, n int) bool {
	return p != nil && len(p.ranges) == 1 && p.ranges[0] == portRange{n, n}
}

var limitedBroadcast = netip.AddrFrom4([4]byte{255, 255, 255, 255})

// kind says what the earlier ACE was, for messages.
func (d dropped) kind() string {
	if d.e.forwarding == "" {
		return "defective"
	}
	return d.e.forwarding
}

// multicastLocal reads "a multicast group, and local-networks" (how MUD
// generators write SSDP to 239.255.255.250 or mDNS to 224.0.0.251) as the
// group: a group address is never inside a local network's unicast
// prefixes, so the literal intersection would be empty, and the group is
// what the ACE means. The limited broadcast address 255.255.255.255 is
// read the same way: no router forwards it, so it reaches only the local
// network.
func groupDesc(g peer) string {
	if g.lit == limitedBroadcast.String() {
		return "broadcast address " + g.lit
	}
	return "multicast group " + g.lit
}

func multicastLocal(peers []peer) (peer, bool) {
	if len(peers) != 2 {
		return peer{}, false
	}
	for i, p := range peers {
		if peers[1-i].key != "local-networks" || p.lit == "" {
			continue
		}
		if pfx, err := netip.ParsePrefix(asPrefix(p.lit)); err == nil && (pfx.Addr().IsMulticast() ||
			pfx.IsSingleIP() && pfx.Addr() == limitedBroadcast) {
			return p, true
		}
	}
	return peer{}, false
}

// mirrors reports whether an egress rule already sends proto to peer p: a
// to-device ACE that matches the same is then the reply half of a pair.
func (c *converter) mirrors(proto string, p *peer, family int) bool {
	for _, r := range c.rules {
		if r.inbound || r.proto != proto {
			continue
		}
		if p != nil && !r.any && r.peer.key == p.key && r.peer.lit == p.lit {
			return true
		}
		if p == nil && r.any && (r.anyFamily == 0 || r.anyFamily == family) {
			return true
		}
	}
	return false
}

func allReplies(types []string) bool {
	if len(types) == 0 {
		return false
	}
	for _, t := range types {
		if !icmpReplies[t] {
			return false
		}
	}
	return true
}

// mayOverlap reports whether some packet could match both d and e. It answers
// no only when that is certain (different protocols, IP families, disjoint
// ports or disjoint literal networks): DNS names and MUD classes may stand
// for the same addresses, and a match devfence cannot express only narrows d.
func mayOverlap(d, e *ace) bool {
	if !protosOverlap(d, e) {
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

func protosOverlap(d, e *ace) bool {
	icmp := func(x *ace, p int) bool { return x.icmpEither && (p == protoICMP || p == protoICMPv6) }
	return d.proto == protoAny || e.proto == protoAny || d.proto == e.proto ||
		icmp(d, e.proto) || icmp(e, d.proto) || d.icmpEither && e.icmpEither
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

func portsDesc(dev, peer *portMatch) string {
	if dev == nil && peer == nil {
		return "no port match"
	}
	return "ports fixed on both sides"
}
