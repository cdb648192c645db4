package netlink

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	mnl "github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/devfence/devfence/internal/sortby"
	"github.com/devfence/devfence/rules"
)

// elemsPerMessage bounds the elements of one NEWSETELEM message. An
// encoded element is at most ~52 bytes (an IPv6 end marker with flags and
// userdata), so 1024 of them stay under google/nftables' 64 KiB split
// point: each SetAddElements call is exactly one message, which is what
// lets a kernel error be mapped back to its set.
const elemsPerMessage = 1024

var keyTypes = map[rules.KeyType]nftables.SetDatatype{
	rules.KeyIPv4:    nftables.TypeIPAddr,
	rules.KeyIPv6:    nftables.TypeIP6Addr,
	rules.KeyNFProto: nftables.TypeNFProto,
}

// Kernel datatype numbers (nft's datatype.h) of the model's key types.
var keyTypeNames = map[uint32]rules.KeyType{7: rules.KeyIPv4, 8: rules.KeyIPv6, 2: rules.KeyNFProto}

func (b *batch) addSet(t *nftables.Table, s *rules.Set) error {
	ns, err := setObject(t, s)
	if err != nil {
		return err
	}
	if err := b.nft.AddSet(ns, nil); err != nil {
		return fmt.Errorf("set %s: %w", s.Name, err)
	}
	b.sets[s.Name] = ns
	b.note(setWhat(s.Name), nil)
	b.stats.Sets++
	if s.Dynamic() {
		// Dynamic elements are state the datapath made; they are never
		// configuration.
		return nil
	}
	return b.addElements(ns, s.Elements)
}

// setObject is s as google/nftables sends it.
func setObject(t *nftables.Table, s *rules.Set) (*nftables.Set, error) {
	kt, ok := keyTypes[s.Key]
	if !ok {
		return nil, fmt.Errorf("set %s: key type %q", s.Name, s.Key)
	}
	ns := &nftables.Set{
		Table: t, Name: s.Name, KeyType: kt,
		Interval:   s.Flags&rules.FlagInterval != 0,
		Dynamic:    s.Flags&rules.FlagDynamic != 0,
		HasTimeout: s.Flags&rules.FlagTimeout != 0,
		Timeout:    s.Timeout,
		Size:       s.Size,
		Comment:    s.Comment,
		// nft records the key's byte order in the set's userdata: network
		// order for addresses, host order for nf_proto.
		KeyByteOrder: binaryutil.BigEndian,
	}
	if s.Key == rules.KeyNFProto {
		ns.KeyByteOrder = binaryutil.NativeEndian
	}
	return ns, nil
}

// setWhat, elementsWhat and flushWhat name a set's messages in a
// RefusedError.
func setWhat(name string) string      { return "set " + name }
func elementsWhat(name string) string { return "elements of set " + name }
func flushWhat(name string) string    { return "flush of set " + name }

func (b *batch) addElements(ns *nftables.Set, elems []rules.Element) error {
	// One message's worth at a time: a SetElement is 136 bytes on 64-bit,
	// so all 200,001 of a 100,000-range set at once were 27 MB of a 46 MB
	// peak heap. SetAddElements encodes them before it returns.
	chunk := make([]nftables.SetElement, 0, min(elemsPerMessage, 2*len(elems)+1))
	flush := func() error {
		if len(chunk) == 0 {
			return nil
		}
		if err := b.nft.SetAddElements(ns, chunk); err != nil {
			return err
		}
		b.note(elementsWhat(ns.Name), nil)
		chunk = chunk[:0]
		return nil
	}
	err := eachElement(ns, elems, func(e nftables.SetElement) error {
		chunk = append(chunk, e)
		if len(chunk) == elemsPerMessage {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return fmt.Errorf("set %s: %w", ns.Name, err)
	}
	b.stats.Elements += len(elems)
	return nil
}

// setElements returns the kernel elements of elems (see eachElement).
func setElements(ns *nftables.Set, elems []rules.Element) ([]nftables.SetElement, error) {
	var out []nftables.SetElement
	err := eachElement(ns, elems, func(e nftables.SetElement) error {
		out = append(out, e)
		return nil
	})
	return out, err
}

// eachElement calls fn with the kernel elements of elems, in order,
// encoded the way nft does. An interval set holds the start of each range
// and, flagged as an interval end, the address after its last (key =
// last+1). A set whose first range does not start at the zero address gets
// an end marker at zero, so the kernel's tree has no open range below the
// first; a range that runs to the last address has no end marker and is
// flagged open in its userdata instead.
func eachElement(ns *nftables.Set, elems []rules.Element, fn func(nftables.SetElement) error) error {
	if !ns.Interval {
		for _, e := range elems {
			k, err := elementKey(ns, e.From, e.Proto)
			if err != nil {
				return err
			}
			if e.To != e.From {
				return fmt.Errorf("range %s in a set without flags interval", e)
			}
			if err := fn(nftables.SetElement{Key: k}); err != nil {
				return err
			}
		}
		return nil
	}
	sorted := elems
	if !slices.IsSortedFunc(elems, cmpFrom) {
		sorted = slices.Clone(elems)
		sortby.Func(sorted, cmpFrom)
	}
	size := int(ns.KeyType.Bytes)
	// All keys share one backing array: a set may hold 100,000 ranges.
	keys := make([]byte, 0, (2*len(sorted)+1)*size)
	key := func(a netip.Addr) []byte {
		n := len(keys)
		if a.Is4() {
			b := a.As4()
			keys = append(keys, b[:]...)
		} else {
			b := a.As16()
			keys = append(keys, b[:]...)
		}
		return keys[n:len(keys):len(keys)]
	}
	for i, e := range sorted {
		if !e.From.IsValid() || !e.To.IsValid() || e.To.Less(e.From) || e.From.BitLen() != size*8 || e.To.BitLen() != size*8 {
			return fmt.Errorf("element %s is not a range of %s", e, ns.KeyType.Name)
		}
		if i > 0 && !sorted[i-1].To.Less(e.From) {
			return fmt.Errorf("elements %s and %s overlap", sorted[i-1], e)
		}
		if i == 0 && !e.From.IsUnspecified() {
			if err := fn(nftables.SetElement{Key: make([]byte, size), IntervalEnd: true}); err != nil {
				return err
			}
		}
		from := key(e.From)
		next := e.To.Next()
		if !next.IsValid() {
			if err := fn(nftables.SetElement{Key: from, IntervalOpen: true}); err != nil {
				return err
			}
			continue
		}
		if err := fn(nftables.SetElement{Key: from}); err != nil {
			return err
		}
		if err := fn(nftables.SetElement{Key: key(next), IntervalEnd: true}); err != nil {
			return err
		}
	}
	return nil
}

func cmpFrom(a, b rules.Element) int { return a.From.Compare(b.From) }

func elementKey(ns *nftables.Set, a netip.Addr, proto byte) ([]byte, error) {
	switch ns.KeyType.Name {
	case nftables.TypeIPAddr.Name:
		if !a.Is4() {
			return nil, fmt.Errorf("%s is not an IPv4 address", a)
		}
	case nftables.TypeIP6Addr.Name:
		if !a.Is6() || a.Is4In6() {
			return nil, fmt.Errorf("%s is not an IPv6 address", a)
		}
	case nftables.TypeNFProto.Name:
		return []byte{proto}, nil
	default:
		return nil, fmt.Errorf("key type %s", ns.KeyType.Name)
	}
	return a.AsSlice(), nil
}

// liveSet describes a set of the live table for an element operation.
func (c *Conn) liveSet(t *nftables.Table, name string) (*nftables.Set, error) {
	sets, err := c.readSets(t.Family, t.Name)
	if err != nil {
		return nil, err
	}
	for _, s := range sets {
		if s.Name != name {
			continue
		}
		kt, ok := keyTypes[s.Key]
		if !ok {
			return nil, fmt.Errorf("set %s: key type %q", name, s.Key)
		}
		return &nftables.Set{Table: t, Name: name, KeyType: kt, Interval: s.Flags&rules.FlagInterval != 0,
			Dynamic: s.Dynamic(), HasTimeout: s.Flags&rules.FlagTimeout != 0}, nil
	}
	return nil, fmt.Errorf("table %s %s has no set %s", familyName(t.Family), t.Name, name)
}

// readSets lists the table's sets without their elements.
func (c *Conn) readSets(family nftables.TableFamily, table string) ([]*rules.Set, error) {
	msgs, err := c.dump(unix.NFT_MSG_GETSET, family, []mnl.Attribute{{Type: unix.NFTA_SET_TABLE, Data: cstring(table)}})
	if err != nil {
		return nil, fmt.Errorf("list sets: %w", err)
	}
	var out []*rules.Set
	for _, m := range msgs {
		tbl, s, err := decodeSet(m)
		if err != nil {
			return nil, err
		}
		if tbl == table {
			out = append(out, s)
		}
	}
	return out, nil
}

// decodeSet decodes one NEWSET message of a dump: the set without its
// elements, and the table it is in.
func decodeSet(m mnl.Message) (table string, s *rules.Set, err error) {
	ad, err := decoder4(m)
	if err != nil {
		return "", nil, err
	}
	s = &rules.Set{}
	for ad.Next() {
		switch ad.Type() {
		case unix.NFTA_SET_TABLE:
			table = ad.String()
		case unix.NFTA_SET_NAME:
			s.Name = ad.String()
		case unix.NFTA_SET_FLAGS:
			f := ad.Uint32()
			if f&unix.NFT_SET_INTERVAL != 0 {
				s.Flags |= rules.FlagInterval
			}
			if f&unix.NFT_SET_EVAL != 0 {
				s.Flags |= rules.FlagDynamic
			}
			if f&unix.NFT_SET_TIMEOUT != 0 {
				s.Flags |= rules.FlagTimeout
			}
		case unix.NFTA_SET_KEY_TYPE:
			t := ad.Uint32()
			s.Key = keyTypeNames[t]
			if s.Key == "" {
				s.Key = rules.KeyType(fmt.Sprintf("type-0x%x", t))
			}
		case unix.NFTA_SET_TIMEOUT:
			s.Timeout = time.Duration(ad.Uint64()) * time.Millisecond
		case unix.NFTA_SET_DESC:
			ad.Nested(func(nd *mnl.AttributeDecoder) error {
				for nd.Next() {
					if nd.Type() == unix.NFTA_SET_DESC_SIZE {
						s.Size = nd.Uint32()
					}
				}
				return nil
			})
		case unix.NFTA_SET_USERDATA:
			if c, ok := userdataString(ad.Bytes(), userdata.NFTNL_UDATA_SET_COMMENT); ok {
				s.Comment = c
			}
		}
	}
	if err := ad.Err(); err != nil {
		return "", nil, fmt.Errorf("decode set: %w", err)
	}
	return table, s, nil
}

// kelem is one element as the kernel lists it.
type kelem struct {
	key      []byte
	end      bool // NFT_SET_ELEM_INTERVAL_END
	open     bool // userdata: the range runs to the last address
	expires  time.Duration
	quota    *expr.Quota
	hasQuota bool
}

// readElements lists a set's elements and, for static sets, turns the
// kernel's interval encoding back into ranges.
func (c *Conn) readElements(family nftables.TableFamily, table string, s *rules.Set) error {
	msgs, err := c.dump(unix.NFT_MSG_GETSETELEM, family, []mnl.Attribute{
		{Type: unix.NFTA_SET_ELEM_LIST_TABLE, Data: cstring(table)},
		{Type: unix.NFTA_SET_ELEM_LIST_SET, Data: cstring(s.Name)},
	})
	if err != nil {
		return fmt.Errorf("list elements of set %s: %w", s.Name, err)
	}
	var kes []kelem
	for _, m := range msgs {
		if kes, err = decodeElements(m, byte(family), kes); err != nil {
			return fmt.Errorf("decode elements of set %s: %w", s.Name, err)
		}
	}
	elems, err := normalise(s, kes)
	if err != nil {
		return fmt.Errorf("set %s: %w", s.Name, err)
	}
	s.Elements = elems
	return nil
}

// decodeElements appends the elements of one NEWSETELEM message of a
// dump to kes.
func decodeElements(m mnl.Message, family byte, kes []kelem) ([]kelem, error) {
	ad, err := decoder4(m)
	if err != nil {
		return kes, err
	}
	for ad.Next() {
		if ad.Type() != unix.NFTA_SET_ELEM_LIST_ELEMENTS {
			continue
		}
		ad.Nested(func(list *mnl.AttributeDecoder) error {
			kes = append(kes, decodeElementList(family, list)...)
			return nil
		})
	}
	return kes, ad.Err()
}

// decodeElementList reads an NFTA_SET_ELEM_LIST_ELEMENTS list.
func decodeElementList(family byte, list *mnl.AttributeDecoder) []kelem {
	var kes []kelem
	for list.Next() {
		var ke kelem
		list.Nested(func(el *mnl.AttributeDecoder) error {
			return decodeElement(family, el, &ke)
		})
		kes = append(kes, ke)
	}
	return kes
}

// Element attribute numbers the unix package lacks.
const (
	nftaSetElemKeyEnd      = 10
	nftaSetElemExpressions = 11
)

func decodeElement(family byte, ad *mnl.AttributeDecoder, ke *kelem) error {
	for ad.Next() {
		switch ad.Type() {
		case unix.NFTA_SET_ELEM_KEY:
			ad.Nested(func(nd *mnl.AttributeDecoder) error {
				for nd.Next() {
					if nd.Type() == unix.NFTA_DATA_VALUE {
						ke.key = nd.Bytes()
					}
				}
				return nil
			})
		case unix.NFTA_SET_ELEM_FLAGS:
			ke.end = ad.Uint32()&unix.NFT_SET_ELEM_INTERVAL_END != 0
		case unix.NFTA_SET_ELEM_EXPIRATION:
			ke.expires = time.Duration(ad.Uint64()) * time.Millisecond
		case unix.NFTA_SET_ELEM_USERDATA:
			if f, ok := userdataUint32(ad.Bytes(), userdata.NFTNL_UDATA_SET_ELEM_FLAGS); ok {
				ke.open = f&userdata.NFTNL_UDATA_SET_ELEM_F_INTERVAL_OPEN != 0
			}
		case unix.NFTA_SET_ELEM_EXPR:
			ad.Nested(func(nd *mnl.AttributeDecoder) error { return elementExpr(family, nd, ke) })
		case nftaSetElemExpressions:
			ad.Nested(func(list *mnl.AttributeDecoder) error {
				for list.Next() {
					list.Nested(func(nd *mnl.AttributeDecoder) error { return elementExpr(family, nd, ke) })
				}
				return nil
			})
		}
	}
	return ad.Err()
}

// elementExpr picks up the quota a dynset statement attached to the
// element: its budget and what has been used of it.
func elementExpr(family byte, ad *mnl.AttributeDecoder, ke *kelem) error {
	var name string
	var data []byte
	for ad.Next() {
		switch ad.Type() {
		case unix.NFTA_EXPR_NAME:
			name = ad.String()
		case unix.NFTA_EXPR_DATA:
			data = ad.Bytes()
		}
	}
	if name == "quota" && data != nil {
		data, err := withoutPads(name, data)
		if err != nil {
			return err
		}
		q := &expr.Quota{}
		if !unmarshal(family, data, q) {
			return fmt.Errorf("quota of %d bytes does not parse", len(data))
		}
		ke.quota, ke.hasQuota = q, true
	}
	return ad.Err()
}

// normalise turns kernel elements into the model's: sorted, interval end
// markers folded into ranges, the zero sentinel dropped.
func normalise(s *rules.Set, kes []kelem) ([]rules.Element, error) {
	// A key of another length than the set's type is refused rather
	// than shown as an element of another family.
	keyLen := map[rules.KeyType]int{rules.KeyIPv4: 4, rules.KeyIPv6: 16, rules.KeyNFProto: 1}[s.Key]
	toElem := func(ke kelem) (rules.Element, error) {
		var e rules.Element
		if len(ke.key) != keyLen {
			return rules.Element{}, fmt.Errorf("key %x is not of type %s", ke.key, s.Key)
		}
		if s.Key == rules.KeyNFProto {
			e.Proto = ke.key[0]
		} else {
			a, _ := netip.AddrFromSlice(ke.key)
			e = rules.Addr(a)
		}
		e.Expires = ke.expires
		if ke.hasQuota {
			e.QuotaUsed, e.QuotaMax = ke.quota.Consumed, ke.quota.Bytes
		}
		return e, nil
	}
	if s.Key != rules.KeyIPv4 && s.Key != rules.KeyIPv6 && s.Key != rules.KeyNFProto {
		return nil, nil // a key type the model cannot hold; the set itself still shows
	}
	if s.Flags&rules.FlagInterval == 0 {
		out := make([]rules.Element, 0, len(kes))
		for _, ke := range kes {
			e, err := toElem(ke)
			if err != nil {
				return nil, err
			}
			out = append(out, e)
		}
		sortby.Func(out, func(a, b rules.Element) int {
			return cmp.Or(a.From.Compare(b.From), cmp.Compare(a.Proto, b.Proto))
		})
		return out, nil
	}
	// The kernel lists interval elements in no fixed order. Sort by key,
	// an end marker before a start at the same key (adjacent ranges).
	sortby.Func(kes, func(a, b kelem) int {
		if c := slices.Compare(a.key, b.key); c != 0 {
			return c
		}
		switch {
		case a.end == b.end:
			return 0
		case a.end:
			return -1
		}
		return 1
	})
	var out []rules.Element
	var open *rules.Element
	for _, ke := range kes {
		a, ok := netip.AddrFromSlice(ke.key)
		if !ok || len(ke.key) != keyLen || s.Key == rules.KeyNFProto {
			return nil, fmt.Errorf("key %x is not of type %s", ke.key, s.Key)
		}
		if ke.end {
			if open == nil {
				continue // the sentinel at the zero address, or a stray end
			}
			open.To = a.Prev()
			out = append(out, *open)
			open = nil
			continue
		}
		if open != nil {
			return nil, fmt.Errorf("range from %s has no end", open.From)
		}
		e := rules.Element{From: a}
		if ke.open {
			e.To = lastOf(a)
			out = append(out, e)
			continue
		}
		open = &e
	}
	if open != nil {
		// No end marker: nft omits it for a range that runs to the end.
		open.To = lastOf(open.From)
		out = append(out, *open)
	}
	return out, nil
}

// lastOf is the last address of a's family.
func lastOf(a netip.Addr) netip.Addr {
	b := a.AsSlice()
	for i := range b {
		b[i] = 0xff
	}
	l, _ := netip.AddrFromSlice(b)
	return l
}
