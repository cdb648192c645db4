package netlink

import (
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	mnl "github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/devfence/devfence/rules"
	"github.com/devfence/devfence/rules/netlink/nltest"
)

// kattr is an attribute as the kernel writes it into a dump. pad is set
// for a value written with nla_put_be64, and names the pad type the
// kernel puts in front of it when the value would be misaligned.
type kattr struct {
	typ    uint16
	data   []byte
	pad    uint16
	nested []kattr
}

func kstr(typ uint16, s string) kattr { return kattr{typ: typ, data: cstring(s)} }
func ku32(typ uint16, v uint32) kattr {
	return kattr{typ: typ, data: binaryutil.BigEndian.PutUint32(v)}
}
func kbe64(typ, pad uint16, v uint64) kattr {
	return kattr{typ: typ, data: binaryutil.BigEndian.PutUint64(v), pad: pad}
}
func knest(typ uint16, as ...kattr) kattr { return kattr{typ: typ, nested: as} }

// kwriter lays out a dump message the way the kernel's nla_put* do,
// including nla_align_64bit's pads when pads is set (no efficient
// unaligned access: 32-bit MIPS). Attribute headers are in host order, as
// on the device; values in network order, as nf_tables writes them.
type kwriter struct {
	buf  []byte
	base int // the message's offset from an 8-aligned address
	pads bool
}

func (w *kwriter) header(length int, typ uint16) {
	w.buf = append(w.buf, binaryutil.NativeEndian.PutUint16(uint16(length))...)
	w.buf = append(w.buf, binaryutil.NativeEndian.PutUint16(typ)...)
}

func (w *kwriter) put(as []kattr) {
	for _, a := range as {
		if a.pad != 0 && w.pads && (w.base+len(w.buf))%8 == 0 {
			w.header(4, a.pad)
		}
		if a.nested != nil {
			at := len(w.buf)
			w.header(0, a.typ)
			w.put(a.nested)
			copy(w.buf[at:], binaryutil.NativeEndian.PutUint16(uint16(len(w.buf)-at)))
			continue
		}
		w.header(4+len(a.data), a.typ)
		w.buf = append(w.buf, a.data...)
		for len(w.buf)%4 != 0 {
			w.buf = append(w.buf, 0)
		}
	}
}

// kmessage is a dump message of the inet family: netlink header, nfgenmsg,
// attributes. The header goes in place so that offsets are the kernel's.
func kmessage(base int, pads bool, as ...kattr) mnl.Message {
	w := &kwriter{base: base, pads: pads, buf: make([]byte, unix.NLMSG_HDRLEN)}
	w.buf = append(w.buf, nfgenmsg(byte(nftables.TableFamilyINet))...)
	w.put(as)
	return mnl.Message{Data: w.buf[unix.NLMSG_HDRLEN:]}
}

// kexprAttr is an expression as nf_tables_fill_expr_info writes it. The
// expressions with 64-bit values get the kernel's dump layout; the others
// are google/nftables' encoding, which has no 64-bit values to pad.
func kexprAttr(t *testing.T, typ uint16, e expr.Any) kattr {
	t.Helper()
	var data []kattr
	switch e := e.(type) {
	case *expr.Limit:
		flags := uint32(0)
		if e.Over {
			flags = unix.NFT_LIMIT_F_INV
		}
		data = []kattr{kbe64(unix.NFTA_LIMIT_RATE, unix.NFTA_LIMIT_PAD, e.Rate),
			kbe64(unix.NFTA_LIMIT_UNIT, unix.NFTA_LIMIT_PAD, uint64(e.Unit)),
			ku32(unix.NFTA_LIMIT_BURST, e.Burst), ku32(unix.NFTA_LIMIT_TYPE, uint32(e.Type)), ku32(unix.NFTA_LIMIT_FLAGS, flags)}
	case *expr.Counter:
		data = []kattr{kbe64(unix.NFTA_COUNTER_BYTES, unix.NFTA_COUNTER_PAD, e.Bytes),
			kbe64(unix.NFTA_COUNTER_PACKETS, unix.NFTA_COUNTER_PAD, e.Packets)}
	case *expr.Quota:
		flags := uint32(0)
		if e.Over {
			flags = unix.NFT_QUOTA_F_INV
		}
		data = []kattr{kbe64(unix.NFTA_QUOTA_BYTES, unix.NFTA_QUOTA_PAD, e.Bytes),
			kbe64(unix.NFTA_QUOTA_CONSUMED, unix.NFTA_QUOTA_PAD, e.Consumed), ku32(unix.NFTA_QUOTA_FLAGS, flags)}
	case *expr.Dynset:
		data = []kattr{ku32(unix.NFTA_DYNSET_SREG_KEY, e.SrcRegKey), ku32(unix.NFTA_DYNSET_OP, e.Operation),
			kstr(unix.NFTA_DYNSET_SET_NAME, e.SetName),
			kbe64(unix.NFTA_DYNSET_TIMEOUT, unix.NFTA_DYNSET_PAD, uint64(e.Timeout/time.Millisecond))}
		switch len(e.Exprs) {
		case 0:
		case 1:
			data = append(data, kexprAttr(t, unix.NFTA_DYNSET_EXPR, e.Exprs[0]))
		default:
			list := knest(nftaDynsetExpressions)
			for _, x := range e.Exprs {
				list.nested = append(list.nested, kexprAttr(t, unix.NFTA_LIST_ELEM, x))
			}
			data = append(data, list)
		}
		data = append(data, ku32(unix.NFTA_DYNSET_FLAGS, 0))
	default:
		b, err := expr.MarshalExprData(byte(nftables.TableFamilyINet), e)
		if err != nil {
			t.Fatalf("marshal %T: %v", e, err)
		}
		attrs, err := mnl.UnmarshalAttributes(b)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range attrs {
			data = append(data, kattr{typ: a.Type, data: a.Data})
		}
	}
	if data == nil {
		data = []kattr{} // an empty nest, not a plain attribute
	}
	return knest(typ, kstr(unix.NFTA_EXPR_NAME, exprName(e)), knest(unix.NFTA_EXPR_DATA, data...))
}

// kruleMsg is a rule as nf_tables_fill_rule_info dumps it.
func kruleMsg(t *testing.T, base int, pads bool, chain string, handle uint64, exprs []expr.Any, comment string) mnl.Message {
	t.Helper()
	list := knest(unix.NFTA_RULE_EXPRESSIONS)
	for _, e := range exprs {
		list.nested = append(list.nested, kexprAttr(t, unix.NFTA_LIST_ELEM, e))
	}
	as := []kattr{kstr(unix.NFTA_RULE_TABLE, "devfence"), kstr(unix.NFTA_RULE_CHAIN, chain),
		kbe64(unix.NFTA_RULE_HANDLE, unix.NFTA_RULE_PAD, handle), list}
	if comment != "" {
		as = append(as, kattr{typ: unix.NFTA_RULE_USERDATA, data: userdata.AppendString(nil, userdata.TypeComment, comment)})
	}
	return kmessage(base, pads, as...)
}

// layouts are the three ways a kernel lays out one message: without pads
// (arm, arm64, x86, s390x), and with them for a message that starts 8-byte
// aligned or 4 bytes off (the second message of a dump buffer may), which
// between them put a pad in front of every 64-bit value once.
var layouts = []struct {
	name string
	base int
	pads bool
}{{"no pads", 0, false}, {"pads, aligned", 0, true}, {"pads, 4 off", 4, true}}

// TestDecodePaddedRules: every rule of every example reads back the same
// whether or not the kernel padded its 64-bit values, and the pads land
// where they did on the 32-bit MIPS device, whose read-back showed a
// 56-byte limit and a 136-byte dynset as undecoded.
func TestDecodePaddedRules(t *testing.T) {
	tables := []*rules.Table{edgeTable()}
	for _, path := range nltest.Examples(t) {
		tables = append(tables, nltest.Compile(t, path))
	}
	const handle = 0x0102030405060708 // a byte order slip would show
	sizes := map[string]map[int]bool{}
	for _, tbl := range tables {
		for _, ch := range tbl.Chains {
			for _, r := range ch.Rules {
				exprs, err := encodeStmts(r.Stmts, loopback{}, nil)
				if err != nil {
					t.Fatalf("%s: encode %q: %v", tbl.Name, r, err)
				}
				want := (&rules.Rule{Handle: handle, Comment: r.Comment, Stmts: decodeExprs(wire(t, exprs), loopback{})}).String()
				for _, l := range layouts {
					m := kruleMsg(t, l.base, l.pads, ch.Name, handle, exprs, r.Comment)
					tblName, chain, got, err := decodeRule(m, byte(nftables.TableFamilyINet), loopback{})
					if err != nil {
						t.Fatalf("%s/%s %s: %v", tbl.Name, ch.Name, l.name, err)
					}
					if tblName != "devfence" || chain != ch.Name || got.Handle != handle {
						t.Errorf("%s/%s %s: table %q chain %q handle %#x", tbl.Name, ch.Name, l.name, tblName, chain, got.Handle)
					}
					if got.String() != want {
						t.Errorf("%s/%s %s: read back\n got %s\nwant %s", tbl.Name, ch.Name, l.name, got, want)
					}
					if l.pads {
						recordSizes(t, m, sizes)
					}
				}
			}
		}
	}
	// The sizes the device reported, from the same statements: the log
	// limit and the unassured-replies meter.
	if !sizes["limit"][56] || !sizes["dynset unassured_replies_v4"][136] {
		t.Errorf("padded layouts do not reproduce the device's 56-byte limit and 136-byte dynset: %v", sizes)
	}
}

// recordSizes notes the data size of each limit and dynset expression of
// a rule message.
func recordSizes(t *testing.T, m mnl.Message, sizes map[string]map[int]bool) {
	t.Helper()
	ad, err := decoder4(m)
	if err != nil {
		t.Fatal(err)
	}
	for ad.Next() {
		if ad.Type() != unix.NFTA_RULE_EXPRESSIONS {
			continue
		}
		ad.Nested(func(list *mnl.AttributeDecoder) error {
			for _, k := range decodeExprList(list, byte(nftables.TableFamilyINet)) {
				key := k.name
				if d, ok := k.e.(*expr.Dynset); ok {
					key += " " + d.SetName
				}
				if sizes[key] == nil {
					sizes[key] = map[int]bool{}
				}
				sizes[key][len(k.data)] = true
			}
			return nil
		})
	}
}

// TestPadsOnlyArePassedOver: an expression attribute the decoder does not
// know is not skipped like a pad, nor is a non-empty attribute of the pad
// type: the expression stays undecoded, so it shows raw.
func TestPadsOnlyArePassedOver(t *testing.T) {
	limit := &expr.Limit{Type: expr.LimitTypePkts, Rate: 10, Unit: expr.LimitTimeMinute, Burst: 5}
	for _, tc := range []struct {
		name  string
		extra kattr
		raw   bool
	}{
		{"empty pad", kattr{typ: unix.NFTA_LIMIT_PAD, data: []byte{}}, false},
		{"pad type with data", kattr{typ: unix.NFTA_LIMIT_PAD, data: []byte{0, 0, 0, 1}}, true},
		{"unknown empty attribute", kattr{typ: unix.NFTA_LIMIT_PAD + 1, data: []byte{}}, true},
	} {
		e := kexprAttr(t, unix.NFTA_LIST_ELEM, limit)
		data := &e.nested[1]
		data.nested = append([]kattr{tc.extra}, data.nested...)
		m := kmessage(0, false, kstr(unix.NFTA_RULE_TABLE, "devfence"), kstr(unix.NFTA_RULE_CHAIN, "c"), knest(unix.NFTA_RULE_EXPRESSIONS, e))
		_, _, r, err := decodeRule(m, byte(nftables.TableFamilyINet), nil)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		_, raw := r.Stmts[0].(rules.Raw)
		if raw != tc.raw || len(r.Stmts) != 1 {
			t.Errorf("%s: decoded as %q, want raw %v", tc.name, r, tc.raw)
		}
	}
}

// nftaSetHandle is NFTA_SET_HANDLE, which the unix package lacks.
const nftaSetHandle = 16

// TestDecodePaddedSetsAndElements: a set's handle and timeout and an
// element's timeout, expiry and quota are 64-bit values the kernel pads.
func TestDecodePaddedSetsAndElements(t *testing.T) {
	set := []kattr{kstr(unix.NFTA_SET_TABLE, "devfence"), kstr(unix.NFTA_SET_NAME, "quota_dns_v4"),
		kbe64(nftaSetHandle, unix.NFTA_SET_PAD, 0x0102030405060708),
		ku32(unix.NFTA_SET_FLAGS, unix.NFT_SET_EVAL|unix.NFT_SET_TIMEOUT), ku32(unix.NFTA_SET_KEY_TYPE, nftables.TypeIPAddr.GetNFTMagic()),
		ku32(unix.NFTA_SET_KEY_LEN, 4), ku32(unix.NFTA_SET_POLICY, 0),
		kbe64(unix.NFTA_SET_TIMEOUT, unix.NFTA_SET_PAD, 600000), ku32(unix.NFTA_SET_GC_INTERVAL, 30000),
		knest(unix.NFTA_SET_DESC, ku32(unix.NFTA_SET_DESC_SIZE, 65535))}
	wantSet := &rules.Set{Name: "quota_dns_v4", Key: rules.KeyIPv4, Flags: rules.FlagDynamic | rules.FlagTimeout,
		Timeout: 10 * time.Minute, Size: 65535}
	quota := &expr.Quota{Bytes: 16384, Consumed: 0x0100}
	elem := knest(unix.NFTA_LIST_ELEM,
		knest(unix.NFTA_SET_ELEM_KEY, kattr{typ: unix.NFTA_DATA_VALUE, data: netip.MustParseAddr("192.0.2.7").AsSlice()}),
		kbe64(unix.NFTA_SET_ELEM_TIMEOUT, unix.NFTA_SET_ELEM_PAD, 600000),
		kbe64(unix.NFTA_SET_ELEM_EXPIRATION, unix.NFTA_SET_ELEM_PAD, 599000),
		kexprAttr(t, unix.NFTA_SET_ELEM_EXPR, quota))
	wantElem := []kelem{{key: netip.MustParseAddr("192.0.2.7").AsSlice(), expires: 599 * time.Second, quota: quota, hasQuota: true}}
	for _, l := range layouts {
		tbl, s, err := decodeSet(kmessage(l.base, l.pads, set...))
		if err != nil {
			t.Fatalf("%s: set: %v", l.name, err)
		}
		if d := cmp.Diff(wantSet, s); d != "" || tbl != "devfence" {
			t.Errorf("%s: set in table %q (-want +got):\n%s", l.name, tbl, d)
		}
		m := kmessage(l.base, l.pads, kstr(unix.NFTA_SET_ELEM_LIST_TABLE, "devfence"), kstr(unix.NFTA_SET_ELEM_LIST_SET, "quota_dns_v4"),
			knest(unix.NFTA_SET_ELEM_LIST_ELEMENTS, elem))
		kes, err := decodeElements(m, byte(nftables.TableFamilyINet), nil)
		if err != nil {
			t.Fatalf("%s: elements: %v", l.name, err)
		}
		if d := cmp.Diff(wantElem, kes, cmp.AllowUnexported(kelem{})); d != "" {
			t.Errorf("%s: elements (-want +got):\n%s", l.name, d)
		}
	}
	// Not vacuous: the padded layouts hold pads.
	if a, b := kmessage(0, false, set...), kmessage(0, true, set...); len(a.Data) == len(b.Data) {
		t.Errorf("aligned set message has no pads")
	}
	if a, b := kmessage(4, false, set...), kmessage(4, true, set...); len(a.Data) == len(b.Data) {
		t.Errorf("set message 4 off has no pads")
	}
}
