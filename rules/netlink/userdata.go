package netlink

import (
	"bytes"
	"encoding/binary"

	"github.com/google/nftables/userdata"
)

// The readers of nftnl's userdata TLVs (a type byte, a length byte, the
// value) that rules, sets and elements carry. google/nftables' userdata.Get
// slices a value before checking it fits, so a truncated TLV panics it
// (found by FuzzDecodeElements), and GetUint32 reads four bytes of any
// value; the kernel lists userdata as whoever wrote the object gave it.

// userdataField is the value of the first TLV of type typ.
func userdataField(udata []byte, typ userdata.Type) ([]byte, bool) {
	for len(udata) >= 2 {
		t, n := userdata.Type(udata[0]), int(udata[1])
		if len(udata) < 2+n {
			return nil, false
		}
		if t == typ {
			return udata[2 : 2+n], true
		}
		udata = udata[2+n:]
	}
	return nil, false
}

// userdataString is a NUL-terminated string value, as nft writes comments.
func userdataString(udata []byte, typ userdata.Type) (string, bool) {
	v, ok := userdataField(udata, typ)
	if !ok {
		return "", false
	}
	v, _ = bytes.CutSuffix(v, []byte{0})
	return string(v), true
}

// userdataUint32 is a 4-byte value in host byte order: libnftnl's
// nftnl_udata_put_u32 copies the integer's memory, so nft on a big-endian
// CPU writes 2 as 00000002 and on a little-endian one as 02000000.
func userdataUint32(udata []byte, typ userdata.Type) (uint32, bool) {
	return userdataUint32In(binary.NativeEndian, udata, typ)
}

// userdataUint32In reads the value in the given order; tests pass both.
func userdataUint32In(order binary.ByteOrder, udata []byte, typ userdata.Type) (uint32, bool) {
	v, ok := userdataField(udata, typ)
	if !ok || len(v) != 4 {
		return 0, false
	}
	return order.Uint32(v), true
}
