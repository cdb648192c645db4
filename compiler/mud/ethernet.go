package mud

import (
	"strconv"
	"strings"
)

// ethImplied says why an eth match adds nothing to the IP match of its
// ACE, or "" when it may: then the ACE cannot be imported. Generators that
// work from traffic traces (MUDgee) write the ethertype and the broadcast
// MAC of every broadcast flow beside its IP match; dropping what the IP
// match already implies keeps the rule exactly as narrow as the ACE.
func ethImplied(v *value, e *ace) string {
	if v.kind != kObject || len(v.keys) == 0 {
		return ""
	}
	var why []string
	for _, k := range v.keys {
		f := v.obj[k]
		switch localName(k) {
		case "ethertype":
			n, ok := ethertype(f)
			switch {
			case ok && n == 0x0800 && e.family == 4:
				why = append(why, "every IPv4 packet has ethertype 0x0800")
			case ok && n == 0x86dd && e.family == 6:
				why = append(why, "every IPv6 packet has ethertype 0x86dd")
			default:
				return ""
			}
		case "destination-mac-address":
			if f.kind != kString || !strings.EqualFold(f.s, "ff:ff:ff:ff:ff:ff") || e.family != 4 || !toLimitedBroadcast(e.dstPeer) {
				return ""
			}
			why = append(why, "a packet to 255.255.255.255 goes to the broadcast MAC")
		default:
			return ""
		}
	}
	return "is implied by the IP match: " + strings.Join(why, " and ")
}

// ethertype reads an ethertype as RFC 8519 types it (a number) or as
// generators write it ("0x0800").
func ethertype(v *value) (uint64, bool) {
	switch v.kind {
	case kNumber:
		n, err := strconv.ParseUint(v.s, 10, 16)
		return n, err == nil
	case kString:
		s := strings.ToLower(strings.TrimSpace(v.s))
		if h, ok := strings.CutPrefix(s, "0x"); ok {
			n, err := strconv.ParseUint(h, 16, 16)
			return n, err == nil
		}
	}
	return 0, false
}

func toLimitedBroadcast(peers []peer) bool {
	return len(peers) == 1 && peers[0].lit == limitedBroadcast.String()
}
