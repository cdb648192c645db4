// Package dnstest is a DNS server on loopback for tests: it answers A and
// AAAA queries from a table the test can change while it runs.
package dnstest

import (
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"golang.org/x/net/dns/dnsmessage"
)

// Server answers from Hosts over UDP on 127.0.0.1.
type Server struct {
	Addr string // host:port to give a resolver

	mu    sync.Mutex
	hosts map[string][]netip.Addr
	conn  net.PacketConn
}

// Start serves hosts until the test ends.
func Start(t testing.TB, hosts map[string][]netip.Addr) *Server {
	t.Helper()
	return StartOn(t, "127.0.0.1:0", hosts)
}

// StartOn serves hosts on addr ("127.0.0.1:53"), in the network namespace
// of the calling thread: a test can start it inside another namespace,
// where the socket stays.
func StartOn(t testing.TB, addr string, hosts map[string][]netip.Addr) *Server {
	t.Helper()
	conn, err := net.ListenPacket("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Addr: conn.LocalAddr().String(), conn: conn, hosts: map[string][]netip.Addr{}}
	s.Set(hosts)
	done := make(chan struct{})
	go func() { defer close(done); s.serve() }()
	t.Cleanup(func() { conn.Close(); <-done })
	return s
}

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
		if resp, ok := s.answer(buf[:n]); ok {
			s.conn.WriteTo(resp, from)
		}
	}
}

func (s *Server) answer(query []byte) ([]byte, bool) {
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
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true, RCode: rcode})
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
