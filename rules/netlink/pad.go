package netlink

import (
	mnl "github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// On architectures without efficient unaligned access (32-bit MIPS among
// the devices) the kernel keeps every 64-bit attribute value 8-byte
// aligned: nla_put_be64 first writes an empty attribute of the object's
// *_PAD type whenever the value would otherwise be misaligned
// (include/net/netlink.h, nla_align_64bit). arm, arm64, x86 and s390x never
// pad. The table, chain, rule, set and element decoders of this package
// pass over attributes they do not use, pads included; expressions are
// parsed by google/nftables, whose limit decoder rejects any attribute it
// does not know, so their pads are dropped first.

// Attribute numbers the unix package lacks.
const (
	nftaLastPad           = 3  // NFTA_LAST_PAD
	nftaDynsetExpressions = 10 // NFTA_DYNSET_EXPRESSIONS
)

// exprPads maps each expression that has 64-bit attributes (kernel 6.1:
// nft_limit, nft_counter, nft_quota, nft_dynset, nft_last) to its pad type.
var exprPads = map[string]uint16{
	"limit":   unix.NFTA_LIMIT_PAD,
	"counter": unix.NFTA_COUNTER_PAD,
	"quota":   unix.NFTA_QUOTA_PAD,
	"dynset":  unix.NFTA_DYNSET_PAD,
	"last":    nftaLastPad,
}

// attrTypeMask strips the nested and byte-order flags from a type.
const attrTypeMask = ^uint16(unix.NLA_F_NESTED | unix.NLA_F_NET_BYTEORDER)

// withoutPads returns an expression's NFTA_EXPR_DATA without the kernel's
// alignment pads, including those of the expressions a dynset carries. Only
// empty attributes of the expression's own pad type go: anything else the
// decoder does not know stays, so it still shows as undecoded.
func withoutPads(name string, data []byte) ([]byte, error) {
	pad, ok := exprPads[name]
	if !ok || !hasPad(name, data, pad) {
		return data, nil
	}
	attrs, err := mnl.UnmarshalAttributes(data)
	if err != nil {
		return nil, err
	}
	out := attrs[:0]
	for _, a := range attrs {
		t := a.Type & attrTypeMask
		switch {
		case t == pad && len(a.Data) == 0:
			continue
		case name == "dynset" && t == unix.NFTA_DYNSET_EXPR:
			if a.Data, err = exprWithoutPads(a.Data); err != nil {
				return nil, err
			}
			a.Length = 0
		case name == "dynset" && t == nftaDynsetExpressions:
			if a.Data, err = listWithoutPads(a.Data); err != nil {
				return nil, err
			}
			a.Length = 0
		}
		out = append(out, a)
	}
	return mnl.MarshalAttributes(out)
}

// hasPad reports whether data, or for a dynset the expressions nested in
// it, holds a pad, so that the common case (no pads: every architecture
// but a few) costs no copy.
func hasPad(name string, data []byte, pad uint16) bool {
	ad, err := mnl.NewAttributeDecoder(data)
	if err != nil {
		return true // let the full pass report it
	}
	found := false
	for ad.Next() && !found {
		switch t := ad.Type(); {
		case t == pad && len(ad.Bytes()) == 0:
			found = true
		case name == "dynset" && (t == unix.NFTA_DYNSET_EXPR || t == nftaDynsetExpressions):
			found = true // rare (a set statement with a limit or quota); rewrite it
		}
	}
	return found || ad.Err() != nil
}

// exprWithoutPads strips the pads of one nested expression: its
// NFTA_EXPR_NAME and NFTA_EXPR_DATA.
func exprWithoutPads(data []byte) ([]byte, error) {
	attrs, err := mnl.UnmarshalAttributes(data)
	if err != nil {
		return nil, err
	}
	var name string
	for _, a := range attrs {
		if a.Type&attrTypeMask == unix.NFTA_EXPR_NAME {
			name = nulString(a.Data)
		}
	}
	for i, a := range attrs {
		if a.Type&attrTypeMask == unix.NFTA_EXPR_DATA {
			if attrs[i].Data, err = withoutPads(name, a.Data); err != nil {
				return nil, err
			}
			attrs[i].Length = 0
		}
	}
	return mnl.MarshalAttributes(attrs)
}

// listWithoutPads strips the pads of a list of nested expressions.
func listWithoutPads(data []byte) ([]byte, error) {
	attrs, err := mnl.UnmarshalAttributes(data)
	if err != nil {
		return nil, err
	}
	for i, a := range attrs {
		if attrs[i].Data, err = exprWithoutPads(a.Data); err != nil {
			return nil, err
		}
		attrs[i].Length = 0
	}
	return mnl.MarshalAttributes(attrs)
}

func nulString(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}
