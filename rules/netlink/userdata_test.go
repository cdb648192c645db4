package netlink

import (
	"testing"

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
	if c, ok := userdataString(userdata.AppendString(nil, userdata.TypeComment, "egress.allow[0] dns"), userdata.TypeComment); !ok || c != "egress.allow[0] dns" {
		t.Errorf("comment: %q, %v", c, ok)
	}
}
