// Package dnstest is a DNS server on loopback for tests: it answers A and
// AAAA queries from a table the test can change while it runs, over UDP
// and over TCP on the same port.
package dnstest

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/net/dns/dnsmessage"
)

// Server answers from Hosts over UDP and TCP on 127.0.0.1.
type Server struct {
	Addr string // host:port to give a resolver

	mu       sync.Mutex
	hosts    map[string][]netip.Addr
	conn     net.PacketConn
	tcp      net.Listener
	truncate atomic.Bool
	tcpAsked atomic.Int64
}

// Start serves hosts until the test ends.
func Start(t testing.TB, hosts map[string][]netip.Addr) *Server {
	t.Helper()
	return StartOn(t, "127.0.0.1:0", hosts)
}

// StartOn serves hosts on addr ("127.0.0.1:53"), in the network namespace
// of the calling thread: a test can start it inside another namespace,
// where the sockets stay.
func StartOn(t testing.TB, addr string, hosts map[string][]netip.Addr) *Server {
	t.Helper()
	conn, tcp, err := listen(addr)
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Addr: conn.LocalAddr().String(), conn: conn, tcp: tcp, hosts: map[string][]netip.Addr{}}
	s.Set(hosts)
	var wg sync.WaitGroup
	wg.Go(s.serve)
	wg.Go(s.serveTCP)
	t.Cleanup(func() { conn.Close(); tcp.Close(); wg.Wait() })
	return s
}

// listen opens UDP on addr and TCP on the port UDP got; with port 0 a
// few ports are tried, since the TCP one may be taken.
func listen(addr string) (net.PacketConn, net.Listener, error) {
	var errs []error
	for range 5 {
		conn, err := net.ListenPacket("udp", addr)
		if err != nil {
			return nil, nil, err
		}
		tcp, err := net.Listen("tcp", conn.LocalAddr().String())
		if err == nil {
			return conn, tcp, nil
		}
		conn.Close()
		errs = append(errs, err)
	}
	return nil, nil, errors.Join(errs...)
}

// TruncateUDP makes UDP answers empty and truncated (TC), as a server
// does when the answer does not fit, so the client must ask over TCP.
func (s *Server) TruncateUDP(on bool) { s.truncate.Store(on) }

// TCPQueries counts the queries answered over TCP.
func (s *Server) TCPQueries() int64 { return s.tcpAsked.Load() }

// Set replaces the answers.
func (s *Server) Set(hosts map[string][]netip.Addr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.hosts)
	for h, a := range hosts {
		s.hosts[strings.ToLower(strings.TrimSuffix(h, "."))] = a
	}
}

func (s *Server) serve() {
	buf := make([]byte, 1500)
	for {
		n, from, err := s.conn.ReadFrom(buf)
		if err != nil {
			return
		}
		if resp, ok := s.answer(buf[:n], s.truncate.Load()); ok {
			s.conn.WriteTo(resp, from)
		}
	}
}

// serveTCP answers one length-prefixed query per connection.
func (s *Server) serveTCP() {
	for {
		c, err := s.tcp.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			var n [2]byte
			if _, err := io.ReadFull(c, n[:]); err != nil {
				return
			}
			q := make([]byte, binary.BigEndian.Uint16(n[:]))
			if _, err := io.ReadFull(c, q); err != nil {
				return
			}
			if resp, ok := s.answer(q, false); ok {
				s.tcpAsked.Add(1)
				c.Write(append(binary.BigEndian.AppendUint16(nil, uint16(len(resp))), resp...))
			}
		}()
	}
}

func (s *Server) answer(query []byte, truncated bool) ([]byte, bool) {
	var p dnsmessage.Parser
	h, err := p.Start(query)
	if err != nil {
		return nil, false
	}
	q, err := p.Question()
	if err != nil {
		return nil, false
	}
	name := strings.ToLower(strings.TrimSuffix(q.Name.String(), "."))
	s.mu.Lock()
	addrs, known := s.hosts[name]
	s.mu.Unlock()

	rcode := dnsmessage.RCodeSuccess
	if !known {
		rcode = dnsmessage.RCodeNameError
	}
	if truncated {
		addrs = nil
	}
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true, RCode: rcode, Truncated: truncated})
	b.EnableCompression()
	b.StartQuestions()
	b.Question(q)
	b.StartAnswers()
	rh := dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 60}
	for _, a := range addrs {
		switch {
		case q.Type == dnsmessage.TypeA && a.Is4():
			b.AResource(rh, dnsmessage.AResource{A: a.As4()})
		case q.Type == dnsmessage.TypeAAAA && a.Is6():
			b.AAAAResource(rh, dnsmessage.AAAAResource{AAAA: a.As16()})
		}
	}
	resp, err := b.Finish()
	return resp, err == nil
}
