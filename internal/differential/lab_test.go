package differential

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"testing"

	"github.com/devfence/devfence/internal/netlab"
)

// socket is a UDP socket bound inside a lab host, counting the datagrams
// it receives per sender.
type socket struct {
	conn *net.UDPConn
	mu   sync.Mutex
	got  map[netip.AddrPort]int
}

func bind(t *testing.T, h *netlab.Host, at netip.AddrPort) *socket {
	t.Helper()
	network := "udp4"
	if at.Addr().Is6() {
		network = "udp6"
	}
	var conn *net.UDPConn
	err := h.Do(func() error {
		var err error
		conn, err = net.ListenUDP(network, net.UDPAddrFromAddrPort(at))
		return err
	})
	if err != nil {
		t.Fatalf("%s: bind %s: %v", h.Name, at, err)
	}
	s := &socket{conn: conn, got: map[netip.AddrPort]int{}}
	t.Cleanup(func() { conn.Close() })
	go func() {
		buf := make([]byte, 65536)
		for {
			_, from, err := conn.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			s.mu.Lock()
			s.got[netip.AddrPortFrom(from.Addr().Unmap(), from.Port())]++
			s.mu.Unlock()
		}
	}()
	return s
}

func (s *socket) received(from netip.AddrPort) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.got[from]
}

// send writes count datagrams of size bytes to dst and reports, per
// datagram, whether the kernel let it out: a drop in the output hook is
// EPERM from sendto.
func (s *socket) send(dst netip.AddrPort, size, count int) ([]bool, error) {
	out := make([]bool, count)
	payload := make([]byte, size)
	to := net.UDPAddrFromAddrPort(dst)
	for i := range out {
		_, err := s.conn.WriteToUDP(payload, to)
		switch {
		case err == nil:
			out[i] = true
		case errors.Is(err, syscall.EPERM):
		default:
			return nil, fmt.Errorf("send to %s: %w", dst, err)
		}
	}
	return out, nil
}
