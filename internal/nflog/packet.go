package nflog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// nfnetlink_log message types and attributes (linux/netfilter/nfnetlink_log.h);
// golang.org/x/sys/unix does not define them.
const (
	msgPacket = 0 // NFULNL_MSG_PACKET, kernel to user space
	msgConfig = 1 // NFULNL_MSG_CONFIG, user space to kernel

	attrPacketHdr  = 1  // NFULA_PACKET_HDR: be16 hw_protocol, u8 hook, pad
	attrMark       = 2  // NFULA_MARK: be32
	attrTimestamp  = 3  // NFULA_TIMESTAMP: be64 sec, be64 usec
	attrInDev      = 4  // NFULA_IFINDEX_INDEV: be32
	attrOutDev     = 5  // NFULA_IFINDEX_OUTDEV: be32
	attrPhysInDev  = 6  // NFULA_IFINDEX_PHYSINDEV: be32
	attrPhysOutDev = 7  // NFULA_IFINDEX_PHYSOUTDEV: be32
	attrHWAddr     = 8  // NFULA_HWADDR: be16 len, pad, 8 bytes
	attrPayload    = 9  // NFULA_PAYLOAD: the packet from its network header
	attrPrefix     = 10 // NFULA_PREFIX: NUL-terminated string

	cfgCmd     = 1 // NFULA_CFG_CMD: u8 command
	cfgMode    = 2 // NFULA_CFG_MODE: be32 copy_range, u8 copy_mode, pad
	cfgQThresh = 5 // NFULA_CFG_QTHRESH: be32

	cmdBind    = 1 // NFULNL_CFG_CMD_BIND
	copyPacket = 2 // NFULNL_COPY_PACKET
)

// Netfilter hooks, as NFULA_PACKET_HDR reports them.
const (
	HookPreRouting  = 0
	HookLocalIn     = 1
	HookForward     = 2
	HookLocalOut    = 3
	HookPostRouting = 4
)

// Packet is one NFLOG message as the kernel sent it.
type Packet struct {
	Group   uint16 // the NFLOG group (nfgenmsg res_id)
	Family  uint8  // nfgen_family: unix.NFPROTO_IPV4 or NFPROTO_IPV6
	HWProto uint16 // link-layer protocol (ETH_P_IP, ETH_P_IPV6)
	Hook    uint8  // netfilter hook the rule ran in (HookLocalIn, ...)
	Prefix  string // the log statement's prefix

	// Timestamp is the kernel's receive time. The kernel sends one only for
	// hooks up to forward, so a packet the device sent has none (zero).
	Timestamp time.Time

	InDev, OutDev         uint32 // interface indexes; 0 when none
	PhysInDev, PhysOutDev uint32 // bridge ports; 0 when none
	Mark                  uint32
	HWAddr                net.HardwareAddr // source MAC of a received frame
	Payload               []byte           // the packet from its IP header, up to the copy range
}

// ErrNotPacket is returned by ParseMessage for messages that are not
// NFULNL_MSG_PACKET (acknowledgements, NLMSG_DONE of a batch).
var ErrNotPacket = errors.New("nflog: not a packet message")

// ParseMessage decodes one NFLOG packet message.
func ParseMessage(m netlink.Message) (Packet, error) {
	if m.Header.Type != netlink.HeaderType(unix.NFNL_SUBSYS_ULOG<<8|msgPacket) {
		return Packet{}, ErrNotPacket
	}
	// nfgenmsg: u8 family, u8 version, be16 res_id (the group).
	if len(m.Data) < 4 {
		return Packet{}, fmt.Errorf("nflog: packet message of %d bytes has no nfgenmsg header", len(m.Data))
	}
	p := Packet{Family: m.Data[0], Group: binary.BigEndian.Uint16(m.Data[2:4])}
	ad, err := netlink.NewAttributeDecoder(m.Data[4:])
	if err != nil {
		return Packet{}, fmt.Errorf("nflog: packet attributes: %w", err)
	}
	ad.ByteOrder = binary.BigEndian
	for ad.Next() {
		switch ad.Type() {
		case attrPacketHdr:
			ad.Do(func(b []byte) error {
				if len(b) < 3 {
					return fmt.Errorf("NFULA_PACKET_HDR of %d bytes", len(b))
				}
				p.HWProto, p.Hook = binary.BigEndian.Uint16(b), b[2]
				return nil
			})
		case attrMark:
			p.Mark = ad.Uint32()
		case attrTimestamp:
			ad.Do(func(b []byte) error {
				if len(b) < 16 {
					return fmt.Errorf("NFULA_TIMESTAMP of %d bytes", len(b))
				}
				sec, usec := binary.BigEndian.Uint64(b), binary.BigEndian.Uint64(b[8:])
				p.Timestamp = time.Unix(int64(sec), int64(usec)*1000)
				return nil
			})
		case attrInDev:
			p.InDev = ad.Uint32()
		case attrOutDev:
			p.OutDev = ad.Uint32()
		case attrPhysInDev:
			p.PhysInDev = ad.Uint32()
		case attrPhysOutDev:
			p.PhysOutDev = ad.Uint32()
		case attrHWAddr:
			ad.Do(func(b []byte) error {
				if len(b) < 4 {
					return fmt.Errorf("NFULA_HWADDR of %d bytes", len(b))
				}
				n := int(binary.BigEndian.Uint16(b))
				if n > len(b)-4 {
					n = len(b) - 4
				}
				p.HWAddr = net.HardwareAddr(append([]byte(nil), b[4:4+n]...))
				return nil
			})
		case attrPayload:
			p.Payload = ad.Bytes()
		case attrPrefix:
			// NUL-terminated; a prefix never contains NUL itself.
			p.Prefix, _, _ = strings.Cut(string(ad.Bytes()), "\x00")
		}
	}
	if err := ad.Err(); err != nil {
		return Packet{}, fmt.Errorf("nflog: packet attributes: %w", err)
	}
	return p, nil
}
