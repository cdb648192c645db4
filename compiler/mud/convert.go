package mud

import (
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// knownModules are the YANG modules whose prefix a member name may carry or
// leave out. RFC 7951 wants the prefix where a member's module differs from
// its parent's, but files written before RFC 8520 (and hand-written ones)
// disagree about where; within these modules no two members share a local
// name, so either spelling is unambiguous. Members of any other module keep
// their full name and are reported as not imported.
var knownModules = map[string]bool{
	"ietf-mud":                 true,
	"ietf-access-control-list": true,
	"ietf-acl":                 true, // the module's name in drafts before RFC 8519
	"ietf-acldns":              true,
	"ietf-packet-fields":       true,
}

func localName(key string) string {
	if mod, name, ok := strings.Cut(key, ":"); ok && knownModules[mod] {
		return name
	}
	return key
}

func join(path, seg string) string {
	if path == "" {
		return seg
	}
	return path + "." + seg
}

type policy int

const (
	fromDevice policy = iota
	toDevice
)

func (p policy) String() string { return [...]string{"from-device", "to-device"}[p] }

type converter struct {
	data []byte
	opt  Options

	info     mudInfo
	unmapped []string
	replies  []string            // acl/ace of ACEs that only carry replies
	nets     map[string]*network // by key
	netList  []*network          // named and sorted by name, once bind has run
	rules    []*rule
}

func newConverter(data []byte, opt Options) *converter {
	return &converter{data: data, opt: opt, nets: map[string]*network{}}
}

func (c *converter) errorf(v *value, path, format string, args ...any) error {
	line, col := lineCol(c.data, v.off)
	return &Error{File: c.opt.Source, Line: line, Column: col, Offset: v.off, Path: path,
		Message: fmt.Sprintf(format, args...)}
}

// note records a construct that is not imported; the same line twice (an ACL
// referenced from both policies) is said once.
func (c *converter) note(format string, args ...any) {
	line := oneLine(fmt.Sprintf(format, args...))
	if !slices.Contains(c.unmapped, line) {
		c.unmapped = append(c.unmapped, line)
	}
}

// object is a JSON object being read: it remembers which members were used so
// that the rest can be reported instead of ignored.
type object struct {
	c    *converter
	v    *value
	path string
	used map[string]bool
}

func (c *converter) object(v *value, path string) (*object, error) {
	if v.kind != kObject {
		return nil, c.errorf(v, path, "expected an object, got %s", v.kind)
	}
	return &object{c: c, v: v, path: path, used: map[string]bool{}}, nil
}

// get returns the member with one of the local names, its path, or nil.
func (o *object) get(names ...string) (*value, string, error) {
	found := ""
	for _, k := range o.v.keys {
		if !slices.Contains(names, localName(k)) {
			continue
		}
		if found != "" {
			return nil, "", o.c.errorf(o.v.obj[k], join(o.path, localName(k)),
				"both %q and %q are given and mean the same; keep one", found, k)
		}
		found = k
	}
	if found == "" {
		return nil, "", nil
	}
	o.used[found] = true
	return o.v.obj[found], join(o.path, localName(found)), nil
}

// rest returns the members get was not asked for, in document order, with
// their paths.
func (o *object) rest() (keys, paths []string) {
	for _, k := range o.v.keys {
		if !o.used[k] {
			keys = append(keys, k)
			paths = append(paths, join(o.path, localName(k)))
		}
	}
	return keys, paths
}

func (c *converter) str(v *value, path string) (string, error) {
	if v.kind != kString {
		return "", c.errorf(v, path, "expected a string, got %s", v.kind)
	}
	return v.s, nil
}

// text reads an informational leaf; those only end up in comments, so any
// scalar will do.
func (c *converter) text(v *value) string {
	if v.kind == kString {
		return v.s
	}
	return v.compact(80)
}

// uint reads a YANG unsigned integer. RFC 7951 writes uint8 and uint16 as JSON
// numbers; a numeric string is accepted too, as some generators quote them.
func (c *converter) uint(v *value, path string, max uint64) (int, error) {
	if v.kind != kNumber && v.kind != kString {
		return 0, c.errorf(v, path, "expected a number, got %s", v.kind)
	}
	n, err := strconv.ParseUint(strings.TrimSpace(v.s), 10, 64)
	if err != nil {
		return 0, c.errorf(v, path, "expected a whole number from 0 to %d, got %s", max, v.compact(40))
	}
	if n > max {
		return 0, c.errorf(v, path, "%d is out of range 0-%d", n, max)
	}
	return int(n), nil
}

// empty reads a YANG leaf of type empty: [null] in RFC 7951; null and true are
// what some generators write for the same thing.
func (c *converter) empty(v *value, path string) error {
	switch {
	case v.kind == kNull, v.kind == kBool && v.b,
		v.kind == kArray && len(v.arr) == 1 && v.arr[0].kind == kNull:
		return nil
	}
	return c.errorf(v, path, "expected [null] (a YANG empty leaf), got %s", v.compact(40))
}

type mudInfo struct {
	url, signature, lastUpdate, documentation string
	systemInfo, mfgName, modelName            string
	firmwareRev, softwareRev                  string
	extensions                                []string
}

type aclInfo struct {
	name   string
	path   string
	family int // 4 or 6 when the ACL type restricts it to one IP family, else 0
	aces   []*value
	acesAt string // path of the ace list
	used   bool
}

func (c *converter) convert(root *value) error {
	if root.kind != kObject {
		return c.errorf(root, "", "a MUD file is a JSON object, this is %s", root.kind)
	}
	top, err := c.object(root, "")
	if err != nil {
		return err
	}
	mudV, mudPath, err := top.get("mud")
	if err != nil {
		return err
	}
	if mudV == nil {
		return c.errorf(root, "", "no \"ietf-mud:mud\" container; is this a MUD file?")
	}
	aclsV, aclsPath, err := top.get("acls", "access-lists")
	if err != nil {
		return err
	}
	keys, paths := top.rest()
	for i, k := range keys {
		c.note("%s: unknown top-level member %s; not imported", paths[i], top.v.obj[k].compact(60))
	}

	acls, order, err := c.readACLs(aclsV, aclsPath)
	if err != nil {
		return err
	}
	m, err := c.object(mudV, mudPath)
	if err != nil {
		return err
	}
	if err := c.readInfo(m); err != nil {
		return err
	}
	for _, pol := range []policy{fromDevice, toDevice} {
		if err := c.readPolicy(m, pol, acls, aclsV != nil); err != nil {
			return err
		}
	}
	keys, paths = m.rest()
	for i, k := range keys {
		c.note("%s: unknown MUD member (an extension?) %s; not imported", paths[i], m.v.obj[k].compact(60))
	}
	for _, name := range order {
		if a := acls[name]; !a.used {
			c.note("%s (%s): not referenced by from-device-policy or to-device-policy; not imported", a.path, name)
		}
	}
	return nil
}

func (c *converter) readInfo(m *object) error {
	strs := []struct {
		name string
		dst  *string
	}{
		{"mud-url", &c.info.url}, {"mud-signature", &c.info.signature},
		{"last-update", &c.info.lastUpdate}, {"documentation", &c.info.documentation},
		{"systeminfo", &c.info.systemInfo}, {"mfg-name", &c.info.mfgName},
		{"model-name", &c.info.modelName}, {"firmware-rev", &c.info.firmwareRev},
		{"software-rev", &c.info.softwareRev},
	}
	for _, s := range strs {
		v, _, err := m.get(s.name)
		if err != nil {
			return err
		}
		if v != nil {
			*s.dst = oneLine(c.text(v))
		}
	}
	if v, path, err := m.get("mud-version"); err != nil {
		return err
	} else if v != nil && !(v.kind == kNumber && v.s == "1") {
		c.note("%s: %s; this importer knows MUD version 1 only, the file was read as such", path, v.compact(40))
	}
	if v, path, err := m.get("cache-validity"); err != nil {
		return err
	} else if v != nil {
		c.note("%s: %s hours; devfence does not fetch MUD files, so there is nothing to expire: re-import when the file changes", path, v.compact(40))
	}
	if v, path, err := m.get("is-supported"); err != nil {
		return err
	} else if v != nil {
		c.note("%s: %s; devfence does not track whether the manufacturer still supports the device", path, v.compact(40))
	}
	v, path, err := m.get("extensions")
	if err != nil {
		return err
	}
	if v != nil {
		if v.kind != kArray {
			return c.errorf(v, path, "expected an array of extension names, got %s", v.kind)
		}
		for i, e := range v.arr {
			name, err := c.str(e, fmt.Sprintf("%s[%d]", path, i))
			if err != nil {
				return err
			}
			c.info.extensions = append(c.info.extensions, oneLine(name))
			c.note("%s[%d]: extension %q; its meaning is not imported", path, i, name)
		}
	}
	return nil
}

func (c *converter) readACLs(v *value, path string) (map[string]*aclInfo, []string, error) {
	acls := map[string]*aclInfo{}
	var order []string
	if v == nil {
		return acls, nil, nil
	}
	o, err := c.object(v, path)
	if err != nil {
		return nil, nil, err
	}
	list, lpath, err := o.get("acl", "access-list")
	if err != nil {
		return nil, nil, err
	}
	keys, paths := o.rest()
	for i, k := range keys {
		c.note("%s: %s; not imported", paths[i], o.v.obj[k].compact(60))
	}
	if list == nil {
		return acls, nil, nil
	}
	if list.kind != kArray {
		return nil, nil, c.errorf(list, lpath, "expected an array of ACLs, got %s", list.kind)
	}
	for i, av := range list.arr {
		apath := fmt.Sprintf("%s[%d]", lpath, i)
		a, err := c.readACL(av, apath)
		if err != nil {
			return nil, nil, err
		}
		if first, dup := acls[a.name]; dup {
			return nil, nil, c.errorf(av, apath, "ACL name %q is already used by %s", a.name, first.path)
		}
		acls[a.name] = a
		order = append(order, a.name)
	}
	return acls, order, nil
}

func (c *converter) readACL(v *value, path string) (*aclInfo, error) {
	o, err := c.object(v, path)
	if err != nil {
		return nil, err
	}
	a := &aclInfo{path: path}
	nv, npath, err := o.get("name", "acl-name")
	if err != nil {
		return nil, err
	}
	if nv == nil {
		return nil, c.errorf(v, path, "the ACL has no name, so no policy can refer to it")
	}
	if a.name, err = c.str(nv, npath); err != nil {
		return nil, err
	}
	if tv, tpath, err := o.get("type", "acl-type"); err != nil {
		return nil, err
	} else if tv != nil {
		t, err := c.str(tv, tpath)
		if err != nil {
			return nil, err
		}
		t = localName(t)
		switch v4, v6 := strings.Contains(t, "ipv4"), strings.Contains(t, "ipv6"); {
		case v4 && !v6:
			a.family = 4
		case v6 && !v4:
			a.family = 6
		}
	}
	acesV, acesPath, err := o.get("aces", "access-list-entries")
	if err != nil {
		return nil, err
	}
	keys, paths := o.rest()
	for i, k := range keys {
		c.note("%s (%s): %s; not imported", paths[i], a.name, o.v.obj[k].compact(60))
	}
	if acesV == nil {
		return a, nil
	}
	ao, err := c.object(acesV, acesPath)
	if err != nil {
		return nil, err
	}
	list, lpath, err := ao.get("ace")
	if err != nil {
		return nil, err
	}
	keys, paths = ao.rest()
	for i, k := range keys {
		c.note("%s (%s): %s; not imported", paths[i], a.name, ao.v.obj[k].compact(60))
	}
	if list == nil {
		return a, nil
	}
	if list.kind != kArray {
		return nil, c.errorf(list, lpath, "expected an array of ACEs, got %s", list.kind)
	}
	a.aces, a.acesAt = list.arr, lpath
	return a, nil
}

func (c *converter) readPolicy(m *object, pol policy, acls map[string]*aclInfo, haveACLs bool) error {
	v, path, err := m.get(pol.String() + "-policy")
	if err != nil || v == nil {
		return err
	}
	o, err := c.object(v, path)
	if err != nil {
		return err
	}
	lists, lpath, err := o.get("access-lists", "acls")
	if err != nil {
		return err
	}
	keys, paths := o.rest()
	for i, k := range keys {
		c.note("%s: %s; not imported", paths[i], o.v.obj[k].compact(60))
	}
	if lists == nil {
		return nil
	}
	lo, err := c.object(lists, lpath)
	if err != nil {
		return err
	}
	refs, rpath, err := lo.get("access-list", "acl")
	if err != nil {
		return err
	}
	keys, paths = lo.rest()
	for i, k := range keys {
		c.note("%s: %s; not imported", paths[i], lo.v.obj[k].compact(60))
	}
	if refs == nil {
		return nil
	}
	if refs.kind != kArray {
		return c.errorf(refs, rpath, "expected an array of ACL references, got %s", refs.kind)
	}
	// ACLs attached to one policy are evaluated in order, first match
	// winning, so a drop ACE shadows the accepting ACEs of later ACLs too.
	var drops []dropped
	for i, ref := range refs.arr {
		refPath := fmt.Sprintf("%s[%d]", rpath, i)
		ro, err := c.object(ref, refPath)
		if err != nil {
			return err
		}
		nv, npath, err := ro.get("name", "acl-name")
		if err != nil {
			return err
		}
		if nv == nil {
			return c.errorf(ref, refPath, "the ACL reference has no name")
		}
		name, err := c.str(nv, npath)
		if err != nil {
			return err
		}
		keys, paths := ro.rest()
		for i, k := range keys {
			c.note("%s: %s; not imported", paths[i], ro.v.obj[k].compact(60))
		}
		a := acls[name]
		if a == nil {
			if !haveACLs {
				return c.errorf(nv, npath, "ACL %q is not defined: the file has no ietf-access-control-list:acls", name)
			}
			return c.errorf(nv, npath, "ACL %q is not defined in acls.acl", name)
		}
		a.used = true
		for j, ace := range a.aces {
			if err := c.readACE(pol, a, j, ace, &drops); err != nil {
				return err
			}
		}
	}
	return nil
}

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
	mudV, mudPath, err := m.get("mud")
	if err != nil {
		return err
	}
	keys, paths := m.rest()
	for i, k := range keys {
		u := fmt.Sprintf("%s %s", paths[i], m.v.obj[k].compact(50))
		if localName(k) == "eth" {
			u += " (an ethernet match)"
		}
		e.unsupported = append(e.unsupported, u)
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
		if l4[0] != "icmp" {
			if err := c.readL4(e, l4v[0], l4p[0]); err != nil {
				return err
			}
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
	// Drafts before RFC 8519 put port ranges into the IP match.
	if err := c.readPorts(e, o, "source-port-range", "destination-port-range"); err != nil {
		return 0, err
	}
	keys, paths := o.rest()
	for i, k := range keys {
		e.unsupported = append(e.unsupported, fmt.Sprintf("%s %s", paths[i], o.v.obj[k].compact(50)))
	}
	return proto, nil
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
	for _, cls := range []string{"manufacturer", "same-manufacturer", "model", "local-networks", "controller", "my-controller"} {
		cv, cpath, err := o.get(cls)
		if err != nil {
			return err
		}
		if cv == nil {
			continue
		}
		switch cls {
		case "manufacturer", "model", "controller":
			s, err := c.str(cv, cpath)
			if err != nil {
				return err
			}
			s = strings.TrimSpace(s)
			if s == "" {
				return c.errorf(cv, cpath, "is empty")
			}
			if cls == "manufacturer" {
				s = strings.ToLower(s)
			}
			e.classes = append(e.classes, peer{key: cls + ":" + s, desc: cls + " " + s})
		default:
			if err := c.empty(cv, cpath); err != nil {
				return err
			}
			e.classes = append(e.classes, peer{key: cls, desc: cls})
		}
	}
	keys, paths := o.rest()
	for i, k := range keys {
		e.unsupported = append(e.unsupported, fmt.Sprintf("%s %s", paths[i], o.v.obj[k].compact(50)))
	}
	return nil
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
