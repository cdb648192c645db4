package trace

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/devfence/devfence/rules"
)

// DefaultAddrs are the device's addresses unless a command or test file
// says otherwise: the namespace lab's device (internal/netlab).
var DefaultAddrs = []netip.Addr{netip.MustParseAddr("192.0.2.10"), netip.MustParseAddr("2001:db8:1::10")}

// ephemeralPort is the port of a side whose port the packet leaves out.
const ephemeralPort = 40000

// mtu is the link MTU that `bytes` fills packets up to.
const mtu = 1500

// Run sends the packets s describes, one after the other at the current
// time: one packet, or with `bytes`, as many full packets as it takes.
// The device's side takes the device's address of the peer's family
// when the spec leaves it out.
func (t *Tracer) Run(s Spec) ([]*Result, error) {
	base, err := t.resolve(s)
	if err != nil {
		return nil, err
	}
	sizes := []int{max(s.Size, len(s.Data), 0)}
	for len(sizes) < s.Count {
		sizes = append(sizes, sizes[0])
	}
	if s.Bytes > 0 {
		seg := s.Size
		if seg <= 0 {
			seg = mtu - (base.Len() - base.payloadLen())
		}
		sizes = sizes[:0]
		for left := s.Bytes; left > 0; {
			n := min(left, uint64(seg))
			sizes = append(sizes, int(n))
			left -= n
		}
	}
	out := make([]*Result, 0, len(sizes))
	for i, size := range sizes {
		p := base
		p.Size = size
		if i > 0 {
			p.Payload = nil
		}
		if p.Proto == "tcp" && s.Flags == nil {
			p.Flags = t.defaultFlags(&p)
		}
		r, err := t.Send(p)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// defaultFlags opens a connection with a SYN and otherwise acknowledges.
func (t *Tracer) defaultFlags(p *Packet) rules.TCPFlagBits {
	t.ct.expire(t.now)
	if f, _ := t.ct.find(p); f == nil {
		return rules.TCPSyn
	}
	if p.payloadLen() > 0 {
		return rules.TCPPsh | rules.TCPAck
	}
	return rules.TCPAck
}

// resolve fills in what the spec leaves to the device.
func (t *Tracer) resolve(s Spec) (Packet, error) {
	p := Packet{Hook: s.Hook, Proto: s.Proto, Payload: s.Data, Ct: s.Ct, HopLimit: s.HopLimit, DataOff: s.DataOff, Iface: s.Dev}
	device, peer := &s.Dst, &s.Src
	if s.Hook == rules.HookOutput {
		device, peer = &s.Src, &s.Dst
	}
	if !peer.Addr.IsValid() {
		return p, errors.New("give the peer's address (the side that is not the device)")
	}
	if !device.Addr.IsValid() {
		a, ok := t.localOf(peer.Addr.Is4())
		if !ok {
			return p, fmt.Errorf("the device has no %s address; give one", family(peer.Addr))
		}
		device.Addr = a
	}
	if s.Src.Addr.Is4() != s.Dst.Addr.Is4() {
		return p, fmt.Errorf("%s and %s are of different families", s.Src.Addr, s.Dst.Addr)
	}
	port := func(e Endpoint) uint16 {
		if e.Port == 0 && (s.Proto == "tcp" || s.Proto == "udp") {
			return ephemeralPort
		}
		return e.Port
	}
	p.Src = netip.AddrPortFrom(s.Src.Addr, port(s.Src))
	p.Dst = netip.AddrPortFrom(s.Dst.Addr, port(s.Dst))
	if p.Iface == "" && (s.Src.Addr.IsLoopback() || s.Dst.Addr.IsLoopback()) {
		p.Iface = "lo"
	}
	if (s.Proto == "icmp" && !s.Src.Addr.Is4()) || (s.Proto == "icmpv6" && s.Src.Addr.Is4()) {
		return p, fmt.Errorf("%s over %s", s.Proto, family(s.Src.Addr))
	}
	switch {
	case s.ICMPType != nil:
		p.ICMPType = *s.ICMPType
	case s.Proto == "icmp":
		p.ICMPType = 8 // echo-request
	case s.Proto == "icmpv6":
		p.ICMPType = 128
	}
	if s.Flags != nil {
		p.Flags = *s.Flags
	}
	return p, nil
}

func (t *Tracer) localOf(v4 bool) (netip.Addr, bool) {
	for _, a := range t.local {
		if a.Is4() == v4 {
			return a, true
		}
	}
	return netip.Addr{}, false
}

func family(a netip.Addr) string {
	if a.Is4() {
		return "IPv4"
	}
	return "IPv6"
}

// Summary is what a run of packets did, in payload bytes as a receiver
// counts them.
type Summary struct {
	Packets, Accepted int
	Bytes, Delivered  uint64
}

// Summarize adds up a run.
func Summarize(rs []*Result) Summary {
	var s Summary
	for _, r := range rs {
		n := uint64(r.Packet.payloadLen())
		s.Packets++
		s.Bytes += n
		if r.Verdict == rules.Accept {
			s.Accepted++
			s.Delivered += n
		}
	}
	return s
}
