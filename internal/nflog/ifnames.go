package nflog

import (
	"encoding/binary"
	"strconv"
	"sync"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// ifNames names interfaces by index in the watched namespace. NFLOG gives
// indexes, which mean nothing outside their namespace, so the lookup goes
// over an rtnetlink socket opened in that namespace rather than through
// net.InterfaceByIndex, which asks the caller's.
type ifNames struct {
	mu    sync.Mutex
	nl    *netlink.Conn // nil: names are unknown, indexes are printed
	names map[uint32]string
}

// dialIfNames opens the rtnetlink socket in the calling thread's namespace.
func dialIfNames() (*ifNames, error) {
	nl, err := netlink.Dial(unix.NETLINK_ROUTE, nil)
	if err != nil {
		return nil, err
	}
	return &ifNames{nl: nl, names: map[uint32]string{}}, nil
}

// name returns the interface's name, or "if<N>" when it cannot be found.
// Names are cached: indexes are not reused while an interface exists, and a
// rename during a watch is rare enough to show the old name.
func (n *ifNames) name(index uint32) string {
	if index == 0 {
		return ""
	}
	if n == nil || n.nl == nil {
		return "if" + strconv.FormatUint(uint64(index), 10)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if s, ok := n.names[index]; ok {
		return s
	}
	s := n.lookup(index)
	if s == "" {
		// Not cached: the interface may be appearing right now.
		return "if" + strconv.FormatUint(uint64(index), 10)
	}
	n.names[index] = s
	return s
}

// lookup sends RTM_GETLINK for one index and reads IFLA_IFNAME.
func (n *ifNames) lookup(index uint32) string {
	req := make([]byte, unix.SizeofIfInfomsg) // family, pad, type, index, flags, change
	binary.NativeEndian.PutUint32(req[4:8], index)
	msgs, err := n.nl.Execute(netlink.Message{
		Header: netlink.Header{Type: unix.RTM_GETLINK, Flags: netlink.Request},
		Data:   req,
	})
	if err != nil {
		return ""
	}
	for _, m := range msgs {
		if m.Header.Type != unix.RTM_NEWLINK || len(m.Data) < unix.SizeofIfInfomsg {
			continue
		}
		ad, err := netlink.NewAttributeDecoder(m.Data[unix.SizeofIfInfomsg:])
		if err != nil {
			return ""
		}
		for ad.Next() {
			if ad.Type() == unix.IFLA_IFNAME {
				return ad.String()
			}
		}
	}
	return ""
}

func (n *ifNames) close() error {
	if n == nil || n.nl == nil {
		return nil
	}
	return n.nl.Close()
}
