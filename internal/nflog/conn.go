package nflog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// DefaultCopyRange is how many bytes of each packet the kernel copies: an
// IPv4 or IPv6 header with options or extension headers and a full TCP
// header fit; the rest of the packet is not needed to say why it dropped.
const DefaultCopyRange = 256

// readBuffer is the socket receive buffer asked for; drops are rate-limited
// by the table, so this absorbs bursts rather than sustained floods.
const readBuffer = 1 << 20

// Conn is a socket bound to one NFLOG group.
type Conn struct {
	nl    *netlink.Conn
	group uint16
}

// Dial opens an NFLOG socket in the named network namespace ("" is the
// current one) and binds group, asking for copy mode packet.
//
// Binding needs CAP_NET_ADMIN in the namespace's user namespace; without it
// the error is a *CapabilityError. A group can have one listener per
// network namespace; a second gets an error saying the group is taken.
func Dial(netns string, group uint16, copyRange uint32) (*Conn, error) {
	var c *Conn
	err := inNetNS(netns, func() error {
		var err error
		c, err = dialHere(group, copyRange)
		return err
	})
	if err != nil {
		if c != nil {
			c.Close()
		}
		return nil, err
	}
	return c, nil
}

// dialHere is Dial in the calling thread's namespace. The bind message is
// sent from the calling goroutine too, since the kernel checks the
// capability of the sending thread.
func dialHere(group uint16, copyRange uint32) (*Conn, error) {
	nl, err := netlink.Dial(unix.NETLINK_NETFILTER, nil)
	if err != nil {
		return nil, fmt.Errorf("netfilter netlink socket: %w", err)
	}
	c := &Conn{nl: nl, group: group}
	if err := c.bind(copyRange); err != nil {
		nl.Close()
		return nil, err
	}
	// Best effort: a smaller buffer still works, it just loses bursts sooner.
	_ = nl.SetReadBuffer(readBuffer)
	return c, nil
}

// bind sends one NFULNL_MSG_CONFIG: bind the group, copy mode packet with
// copyRange bytes, and a queue threshold of 1 so the kernel delivers each
// packet at once (its default batches up to 100 packets or one second).
func (c *Conn) bind(copyRange uint32) error {
	if copyRange == 0 {
		copyRange = DefaultCopyRange
	}
	mode := make([]byte, 6) // be32 copy_range, u8 copy_mode, u8 pad
	binary.BigEndian.PutUint32(mode, copyRange)
	mode[4] = copyPacket
	attrs, err := netlink.MarshalAttributes([]netlink.Attribute{
		{Type: cfgCmd, Data: []byte{cmdBind}},
		{Type: cfgMode, Data: mode},
		{Type: cfgQThresh, Data: binary.BigEndian.AppendUint32(nil, 1)},
	})
	if err != nil {
		return err
	}
	_, err = c.nl.Execute(netlink.Message{
		Header: netlink.Header{
			Type:  netlink.HeaderType(unix.NFNL_SUBSYS_ULOG<<8 | msgConfig),
			Flags: netlink.Request | netlink.Acknowledge,
		},
		Data: append(nfgenmsg(unix.AF_UNSPEC, c.group), attrs...),
	})
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.EPERM) && !hasCapNetAdmin():
		return &CapabilityError{Cap: "CAP_NET_ADMIN",
			Op: fmt.Sprintf("subscribing to NFLOG group %d", c.group), Err: err}
	case errors.Is(err, unix.EPERM), errors.Is(err, unix.EBUSY):
		// With the capability, EPERM is how nfnetlink_log refuses a group
		// that another socket of this namespace has bound.
		return fmt.Errorf("NFLOG group %d already has a listener in this network namespace (another devfence watch, ulogd?): %w", c.group, err)
	}
	return fmt.Errorf("binding NFLOG group %d: %w", c.group, err)
}

// hasCapNetAdmin reports whether the calling thread has CAP_NET_ADMIN in
// its effective set (capabilities are per thread; the bind message is sent
// from this thread).
func hasCapNetAdmin() bool {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData // version 3 fills two 32-bit halves
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return false
	}
	return data[unix.CAP_NET_ADMIN/32].Effective&(1<<(unix.CAP_NET_ADMIN%32)) != 0
}

// nfgenmsg is nfnetlink's header: family, version, resource id (big endian).
func nfgenmsg(family uint8, resID uint16) []byte {
	return []byte{family, unix.NFNETLINK_V0, byte(resID >> 8), byte(resID)}
}

// ErrLost is returned (wrapped) by Receive when the kernel could not queue
// log messages because the socket buffer was full: some drops are missing.
var ErrLost = errors.New("nflog: the kernel dropped log messages (socket buffer full)")

// Receive blocks until the kernel sends log messages, and decodes them.
// After ErrLost the socket is still usable.
func (c *Conn) Receive() ([]Packet, error) {
	msgs, err := c.nl.Receive()
	if err != nil {
		if errors.Is(err, unix.ENOBUFS) {
			return nil, fmt.Errorf("%w: %v", ErrLost, err)
		}
		return nil, err
	}
	pkts := make([]Packet, 0, len(msgs))
	for _, m := range msgs {
		p, err := ParseMessage(m)
		if errors.Is(err, ErrNotPacket) {
			continue
		}
		if err != nil {
			return pkts, err
		}
		pkts = append(pkts, p)
	}
	return pkts, nil
}

// SetReadDeadline makes a blocked or later Receive return a timeout error
// at t; a time in the past interrupts Receive at once.
func (c *Conn) SetReadDeadline(t time.Time) error { return c.nl.SetReadDeadline(t) }

// Group is the bound NFLOG group.
func (c *Conn) Group() uint16 { return c.group }

// Close closes the socket; the kernel unbinds the group with it.
func (c *Conn) Close() error { return c.nl.Close() }
