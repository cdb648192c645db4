package mud

import (
	"fmt"
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

	info      mudInfo
	unmapped  []string
	notes     []string   // see remark
	warnings  []*Error   // see warnf
	skipped   []*Error   // defective ACEs, see readACE
	fates     []*aceFate // in the order first seen
	fateAt    map[string]*aceFate
	acesIn    int
	replies   []string            // acl/ace of ACEs that only carry replies
	essential []string            // acl/ace of the DHCP ACEs, which essentials.dhcp covers
	nets      map[string]*network // by key
	netList   []*network          // named and sorted by name, once bind has run
	rules     []*rule
}

func newConverter(data []byte, opt Options) *converter {
	return &converter{data: data, opt: opt, nets: map[string]*network{}}
}

func (c *converter) errorf(v *value, path, format string, args ...any) error {
	line, col := lineCol(c.data, v.off)
	return &Error{File: c.opt.Source, Line: line, Column: col, Offset: v.off, Path: path,
		Message: fmt.Sprintf(format, args...)}
}

// warnf records input that breaks the RFCs but has one clear meaning, which
// the import then uses.
func (c *converter) warnf(v *value, path, format string, args ...any) {
	w := c.errorf(v, path, format, args...).(*Error)
	if !slices.ContainsFunc(c.warnings, func(o *Error) bool { return *o == *w }) {
		c.warnings = append(c.warnings, w)
	}
}

// remark records a construct that was imported as something close to, but
// not literally, what the file says; the profile carries it as a comment.
func (c *converter) remark(format string, args ...any) {
	line := oneLine(fmt.Sprintf(format, args...))
	if !slices.Contains(c.notes, line) {
		c.notes = append(c.notes, line)
	}
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
	case v.kind == kArray && len(v.arr) == 0:
		c.warnf(v, path, "[] for a YANG empty leaf, which RFC 7951 writes [null]; read as set")
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
	v      *value
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
			for j, ace := range a.aces {
				c.outcome(fmt.Sprintf("%s[%d]", a.acesAt, j), name+"/"+aceName(ace, j), "not-imported", ReasonUnreferenced)
			}
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
		c.acesIn += len(a.aces)
		if first, dup := acls[a.name]; dup {
			c.duplicateACL(first, a, av)
			continue
		}
		acls[a.name] = a
		order = append(order, a.name)
	}
	return acls, order, nil
}

// duplicateACL handles a second ACL of an already used name. A policy names
// the ACL it means, so two different ACLs of one name leave it unsaid which:
// the first is the one imported, the second is skipped like a defective ACE.
// An exact copy loses nothing and is only warned about.
func (c *converter) duplicateACL(first, dup *aclInfo, v *value) {
	if first.v.String() == v.String() {
		c.warnf(v, dup.path, "ACL %q repeats %s exactly; the copy is ignored", dup.name, first.path)
		c.acesIn -= len(dup.aces)
		return
	}
	err := c.errorf(v, dup.path, "ACL name %q is already used by %s; this ACL (%d ACEs) skipped", dup.name, first.path, len(dup.aces)).(*Error)
	c.skipped = append(c.skipped, err)
	for j := range dup.aces {
		path := fmt.Sprintf("%s[%d]", dup.acesAt, j)
		c.outcome(path, dup.name+"/"+aceName(dup.aces[j], j), "not-imported", ReasonDefective)
	}
}

func (c *converter) readACL(v *value, path string) (*aclInfo, error) {
	o, err := c.object(v, path)
	if err != nil {
		return nil, err
	}
	a := &aclInfo{path: path, v: v}
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
		for _, k := range ro.v.keys {
			if n := localName(k); n == "aces" || n == "access-list-entries" || n == "matches" {
				return c.errorf(ro.v.obj[k], join(refPath, n), "an ACL written inside the policy; RFC 8520 expects each ACL in ietf-access-control-list:acls (acl list) and the policy to reference it by name only")
			}
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
			c.readACE(pol, a, j, ace, &drops)
		}
	}
	return nil
}
