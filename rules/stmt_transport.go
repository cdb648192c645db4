package rules

import (
	"encoding/hex"
	"fmt"
	"strconv"
)

// The statements below are the lowered form of InnerPayload and
// PayloadPresent for kernels without the inner-header payload base (`@ih`,
// Linux 5.10): the transport payload of a TCP segment starts `tcp doff`
// 32-bit words after the transport header, so one rule per possible data
// offset matches the same bytes with `@th` (see Lower).

// TCPDataOffset matches the TCP header length in 32-bit words: `tcp doff 5`.
type TCPDataOffset struct{ Words uint8 }

func (d TCPDataOffset) String() string { return "tcp doff " + strconv.Itoa(int(d.Words)) }

// TransportPayload matches bytes at a fixed offset from the start of the
// transport header (`@th`). Offset is in bytes.
type TransportPayload struct {
	Offset uint32
	Data   []byte
}

func (p TransportPayload) String() string {
	return fmt.Sprintf("@th,%d,%d 0x%s", p.Offset*8, len(p.Data)*8, hex.EncodeToString(p.Data))
}

// TransportPayloadPresent matches a packet with at least one byte at
// Offset bytes from the start of the transport header: PayloadPresent at a
// fixed offset. The load of a byte the packet does not have ends the rule.
type TransportPayloadPresent struct{ Offset uint32 }

func (p TransportPayloadPresent) String() string {
	return fmt.Sprintf("@th,%d,8 & 0x0 == 0x0", p.Offset*8)
}

func (TCPDataOffset) stmt()           {}
func (TransportPayload) stmt()        {}
func (TransportPayloadPresent) stmt() {}
