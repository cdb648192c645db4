package netlink

import (
	"encoding/binary"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/userdata"
)

// TestUserdataTruncated: a TLV whose length runs past the data is not
// there, where google/nftables' reader panicked (found by
// FuzzDecodeElements); well-formed ones read as nft writes them.
func TestUserdataTruncated(t *testing.T) {
	flags := userdata.NFTNL_UDATA_SET_ELEM_FLAGS
	for _, tc := range []struct {
		name   string
		udata  []byte
		want   uint32
		wantOK bool
	}{
		{"flags", userdata.AppendUint32(nil, flags, 1), 1, true},
		{"after a comment", userdata.AppendUint32(userdata.AppendString(nil, userdata.TypeComment, "c"), flags, 1), 1, true},
		{"length past the end", []byte{byte(flags), 50, 1, 0}, 0, false},
		{"earlier TLV past the end", []byte{0, 200, byte(flags), 4, 1, 0, 0, 0}, 0, false},
		{"value not 4 bytes", []byte{byte(flags), 2, 1, 0}, 0, false},
		{"type byte alone", []byte{byte(flags)}, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := userdataUint32(tc.udata, flags)
			if got != tc.want || ok != tc.wantOK {
				t.Errorf("got %d, %v; want %d, %v", got, ok, tc.want, tc.wantOK)
			}
		})
	}
	if c, ok := userdataString(userdata.AppendString(nil, userdata.TypeComment, "egress.allow dns"), userdata.TypeComment); !ok || c != "egress.allow dns" {
		t.Errorf("comment: %q, %v", c, ok)
	}
}

// TestUserdataUint32ByteOrder: libnftnl writes udata u32 values (the set's
// key byte order, an element's open-interval flag) in host byte order, so
// nft on s390x writes 2 as 00000002 and on amd64 as 02000000. The reader
// takes the order as a parameter so that both CPUs' bytes are checked here.
func TestUserdataUint32ByteOrder(t *testing.T) {
	typ := userdata.NFTNL_UDATA_SET_KEYBYTEORDER
	for _, tc := range []struct {
		name  string
		order binary.ByteOrder
		value []byte // as nft writes 2 on such a CPU
	}{
		{"little-endian", binary.LittleEndian, []byte{2, 0, 0, 0}},
		{"big-endian", binary.BigEndian, []byte{0, 0, 0, 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			udata := append([]byte{byte(typ), 4}, tc.value...)
			got, ok := userdataUint32In(tc.order, udata, typ)
			if !ok || got != 2 {
				t.Errorf("read %x as %d, %v; want 2, true", tc.value, got, ok)
			}
		})
	}
}

// TestUserdataWrittenInHostOrder: google/nftables' writer (patched in
// third_party/nftables, which wrote little-endian on every CPU) and
// devfence's reader both use the host's order, as libnftnl does, so set
// user data equals nft's and reads back on big-endian CPUs too.
func TestUserdataWrittenInHostOrder(t *testing.T) {
	typ := userdata.NFTNL_UDATA_SET_KEYBYTEORDER
	for _, v := range []uint32{1, 2, 0x01020304} {
		got := userdata.AppendUint32(nil, typ, v)
		want := append([]byte{byte(typ), 4}, binaryutil.NativeEndian.PutUint32(v)...)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("AppendUint32(%#x) (-want +got):\n%s", v, diff)
		}
		if r, ok := userdataUint32(got, typ); !ok || r != v {
			t.Errorf("userdataUint32(AppendUint32(%#x)) = %#x, %v", v, r, ok)
		}
		if r, ok := userdata.GetUint32(got, typ); !ok || r != v {
			t.Errorf("userdata.GetUint32(AppendUint32(%#x)) = %#x, %v", v, r, ok)
		}
	}
}
