package netlab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Traffic helpers. Every socket is created inside the host's namespace via
// Do; afterwards it is an ordinary net.Conn / net.Listener usable from any
// goroutine. Destinations must belong to the lab's address plan (or be
// loopback): see checkDst.

// DefaultDialTimeout applies when a dial's context has no deadline.
const DefaultDialTimeout = 5 * time.Second

const chunkSize = 32 << 10

// maxSinkErrors bounds consecutive non-fatal errors in a sink's loop.
const maxSinkErrors = 1000

// ---------------------------------------------------------------------------
// Listening sinks

// ListenOption configures ListenTCP / ListenUDP.
type ListenOption func(*listenConfig)

type listenConfig struct {
	banner []byte
	echo   bool
	bind   netip.Addr
}

// WithBanner makes a TCP sink send b to every accepted connection before
// reading anything, like an SMTP "220 ready" greeting or a cloud service's
// clear-to-send. For a UDP sink, b is sent back as a reply to every
// datagram received (before the echo, if WithEcho is also set).
func WithBanner(b []byte) ListenOption {
	return func(c *listenConfig) { c.banner = append([]byte(nil), b...) }
}

// WithEcho makes the sink send every byte/datagram it receives back to its
// sender (still counting it).
func WithEcho() ListenOption { return func(c *listenConfig) { c.echo = true } }

// WithBindAddr binds the sink to one address instead of the unspecified
// address (which is the default and receives both IPv4 and IPv6).
func WithBindAddr(a netip.Addr) ListenOption { return func(c *listenConfig) { c.bind = a } }

func listenAddr(cfg listenConfig, port uint16, tcp bool) (network, addr string) {
	base := "udp"
	if tcp {
		base = "tcp"
	}
	if !cfg.bind.IsValid() {
		// Dual-stack [::]:port (IPV6_V6ONLY=0; the namespace default
		// bindv6only=0): IPv4 peers appear as IPv4 addresses.
		return base, fmt.Sprintf(":%d", port)
	}
	if cfg.bind.Is4() {
		return base + "4", netip.AddrPortFrom(cfg.bind, port).String()
	}
	return base + "6", netip.AddrPortFrom(cfg.bind, port).String()
}

// peerCounter counts bytes/events per remote address.
type peerCounter struct {
	mu sync.Mutex
	m  map[netip.Addr]int64
}

func (p *peerCounter) add(a netip.Addr, n int64) {
	p.mu.Lock()
	if p.m == nil {
		p.m = map[netip.Addr]int64{}
	}
	p.m[a.Unmap()] += n
	p.mu.Unlock()
}

func (p *peerCounter) get(a netip.Addr) int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.m[a.Unmap()]
}

// TCPSink is a TCP server inside a host that accepts every connection,
// optionally sends a banner, and counts what it receives.
type TCPSink struct {
	Host *Host

	ln        net.Listener
	port      uint16
	cfg       listenConfig
	bytes     atomic.Int64
	conns     atomic.Int64
	peerBytes peerCounter
	peerConns peerCounter

	mu     sync.Mutex
	closed bool
	active map[net.Conn]struct{}
	wg     sync.WaitGroup
	once   sync.Once
}

// ListenTCP starts a TCP sink on port (0 = ephemeral, see Port) bound to
// the unspecified address, so it receives both IPv4 and IPv6 connections.
// The lab closes it on Close.
func (h *Host) ListenTCP(port uint16, opts ...ListenOption) (*TCPSink, error) {
	s := &TCPSink{Host: h, active: map[net.Conn]struct{}{}}
	for _, o := range opts {
		o(&s.cfg)
	}
	network, addr := listenAddr(s.cfg, port, true)
	if err := h.Do(func() error {
		ln, err := net.Listen(network, addr)
		s.ln = ln
		return err
	}); err != nil {
		return nil, fmt.Errorf("netlab: %s: listen tcp %s: %w", h.Name, addr, err)
	}
	s.port = uint16(s.ln.Addr().(*net.TCPAddr).Port)
	if err := h.lab.addCloser(s, s.Close); err != nil {
		s.ln.Close()
		return nil, err
	}
	s.wg.Add(1)
	go s.acceptLoop()
	return s, nil
}

func (s *TCPSink) acceptLoop() {
	defer s.wg.Done()
	errs := 0
	for {
		c, err := s.ln.Accept()
		if err != nil {
			// Transient accept errors (e.g. EMFILE) are retried with a
			// short back-off, but not forever.
			errs++
			if errors.Is(err, net.ErrClosed) || errs > maxSinkErrors {
				return
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		errs = 0
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.active[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		peer := remoteAddr(c)
		s.conns.Add(1)
		s.peerConns.add(peer, 1)
		go s.serve(c, peer)
	}
}

func (s *TCPSink) serve(c net.Conn, peer netip.Addr) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.active, c)
		s.mu.Unlock()
		c.Close()
	}()
	if len(s.cfg.banner) > 0 {
		_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write(s.cfg.banner); err != nil {
			return
		}
		_ = c.SetWriteDeadline(time.Time{})
	}
	buf := make([]byte, chunkSize)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			s.bytes.Add(int64(n))
			s.peerBytes.add(peer, int64(n))
			if s.cfg.echo {
				_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
				if _, werr := c.Write(buf[:n]); werr != nil {
					return
				}
			}
		}
		if err != nil {
			return
		}
	}
}

// Port returns the listening port.
func (s *TCPSink) Port() uint16 { return s.port }

// Bytes returns the payload bytes received so far over all connections.
func (s *TCPSink) Bytes() int64 { return s.bytes.Load() }

// Conns returns the number of connections accepted so far.
func (s *TCPSink) Conns() int64 { return s.conns.Load() }

// BytesFrom returns the bytes received from one peer address.
func (s *TCPSink) BytesFrom(a netip.Addr) int64 { return s.peerBytes.get(a) }

// ConnsFrom returns the connections accepted from one peer address.
func (s *TCPSink) ConnsFrom(a netip.Addr) int64 { return s.peerConns.get(a) }

// WaitBytes waits until at least n bytes were received (bounded).
func (s *TCPSink) WaitBytes(n int64, timeout time.Duration) error {
	return waitCount(s.Bytes, n, timeout, "bytes", "%s tcp/%d", s.Host.Name, s.port)
}

// WaitConns waits until at least n connections were accepted (bounded).
func (s *TCPSink) WaitConns(n int64, timeout time.Duration) error {
	return waitCount(s.Conns, n, timeout, "connections", "%s tcp/%d", s.Host.Name, s.port)
}

// Close stops the sink, closes its connections and waits for its goroutines.
func (s *TCPSink) Close() error {
	var err error
	s.once.Do(func() {
		s.mu.Lock()
		s.closed = true
		err = s.ln.Close()
		for c := range s.active {
			c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
		s.Host.lab.removeCloser(s)
	})
	return err
}

// UDPSink is a UDP server inside a host that counts datagrams it receives
// and can reply (WithBanner / WithEcho).
type UDPSink struct {
	Host *Host

	pc        net.PacketConn
	port      uint16
	cfg       listenConfig
	bytes     atomic.Int64
	packets   atomic.Int64
	peerBytes peerCounter
	peerPkts  peerCounter
	wg        sync.WaitGroup
	once      sync.Once
}

// ListenUDP starts a UDP sink on port (0 = ephemeral) bound to the
// unspecified address (dual-stack). The lab closes it on Close.
func (h *Host) ListenUDP(port uint16, opts ...ListenOption) (*UDPSink, error) {
	s := &UDPSink{Host: h}
	for _, o := range opts {
		o(&s.cfg)
	}
	network, addr := listenAddr(s.cfg, port, false)
	if err := h.Do(func() error {
		pc, err := net.ListenPacket(network, addr)
		s.pc = pc
		return err
	}); err != nil {
		return nil, fmt.Errorf("netlab: %s: listen udp %s: %w", h.Name, addr, err)
	}
	s.port = uint16(s.pc.LocalAddr().(*net.UDPAddr).Port)
	if err := h.lab.addCloser(s, s.Close); err != nil {
		s.pc.Close()
		return nil, err
	}
	s.wg.Add(1)
	go s.readLoop()
	return s, nil
}

func (s *UDPSink) readLoop() {
	defer s.wg.Done()
	buf := make([]byte, 65536)
	errs := 0
	for {
		n, from, err := s.pc.ReadFrom(buf)
		if err != nil {
			// e.g. ICMP errors reported on the socket; bounded retries.
			errs++
			if errors.Is(err, net.ErrClosed) || errs > maxSinkErrors {
				return
			}
			continue
		}
		errs = 0
		peer := remoteAddrOf(from)
		s.bytes.Add(int64(n))
		s.packets.Add(1)
		s.peerBytes.add(peer, int64(n))
		s.peerPkts.add(peer, 1)
		if len(s.cfg.banner) > 0 {
			_, _ = s.pc.WriteTo(s.cfg.banner, from)
		}
		if s.cfg.echo {
			_, _ = s.pc.WriteTo(buf[:n], from)
		}
	}
}

// Port returns the listening port.
func (s *UDPSink) Port() uint16 { return s.port }

// Bytes returns the payload bytes received so far.
func (s *UDPSink) Bytes() int64 { return s.bytes.Load() }

// Packets returns the number of datagrams received so far.
func (s *UDPSink) Packets() int64 { return s.packets.Load() }

// BytesFrom returns the bytes received from one peer address.
func (s *UDPSink) BytesFrom(a netip.Addr) int64 { return s.peerBytes.get(a) }

// PacketsFrom returns the datagrams received from one peer address.
func (s *UDPSink) PacketsFrom(a netip.Addr) int64 { return s.peerPkts.get(a) }

// WaitPackets waits until at least n datagrams were received (bounded).
func (s *UDPSink) WaitPackets(n int64, timeout time.Duration) error {
	return waitCount(s.Packets, n, timeout, "packets", "%s udp/%d", s.Host.Name, s.port)
}

// WaitBytes waits until at least n bytes were received (bounded).
func (s *UDPSink) WaitBytes(n int64, timeout time.Duration) error {
	return waitCount(s.Bytes, n, timeout, "bytes", "%s udp/%d", s.Host.Name, s.port)
}

// Close stops the sink and waits for its goroutine.
func (s *UDPSink) Close() error {
	var err error
	s.once.Do(func() {
		err = s.pc.Close()
		s.wg.Wait()
		s.Host.lab.removeCloser(s)
	})
	return err
}

func remoteAddr(c net.Conn) netip.Addr { return remoteAddrOf(c.RemoteAddr()) }

func remoteAddrOf(a net.Addr) netip.Addr {
	switch a := a.(type) {
	case *net.TCPAddr:
		return a.AddrPort().Addr().Unmap()
	case *net.UDPAddr:
		return a.AddrPort().Addr().Unmap()
	}
	return netip.Addr{}
}

// ---------------------------------------------------------------------------
// Clients

// checkDst refuses destinations outside the lab's address plan, so helpers
// can never be used to send traffic to real external addresses.
func checkDst(dst netip.Addr) error {
	dst = dst.Unmap()
	if !dst.IsValid() {
		return errors.New("netlab: invalid destination address")
	}
	if dst.IsLoopback() {
		return nil
	}
	for _, p := range allPrefixes {
		if p.Contains(dst) {
			return nil
		}
	}
	return fmt.Errorf("netlab: destination %s is outside the lab address plan", dst)
}

func withDialTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, DefaultDialTimeout)
}

// DialTCP connects from the host to dst:port (source address chosen by the
// kernel). The caller owns and must close the connection. Without a
// deadline on ctx, DefaultDialTimeout applies.
func (h *Host) DialTCP(ctx context.Context, dst netip.Addr, port uint16) (net.Conn, error) {
	return h.DialTCPFrom(ctx, netip.Addr{}, dst, port)
}

// DialTCPFrom is DialTCP with an explicit local source address (one of the
// host's own addresses; zero Addr = kernel's choice).
func (h *Host) DialTCPFrom(ctx context.Context, src, dst netip.Addr, port uint16) (net.Conn, error) {
	return h.dial(ctx, "tcp", src, dst, port)
}

// DialUDP returns a connected UDP socket from the host to dst:port.
func (h *Host) DialUDP(ctx context.Context, dst netip.Addr, port uint16) (net.Conn, error) {
	return h.dial(ctx, "udp", netip.Addr{}, dst, port)
}

func (h *Host) dial(ctx context.Context, network string, src, dst netip.Addr, port uint16) (net.Conn, error) {
	if err := checkDst(dst); err != nil {
		return nil, err
	}
	ctx, cancel := withDialTimeout(ctx)
	defer cancel()
	network += familySuffix(dst)
	d := net.Dialer{}
	if src.IsValid() {
		if network[:3] == "tcp" {
			d.LocalAddr = net.TCPAddrFromAddrPort(netip.AddrPortFrom(src, 0))
		} else {
			d.LocalAddr = net.UDPAddrFromAddrPort(netip.AddrPortFrom(src, 0))
		}
	}
	var c net.Conn
	err := h.Do(func() error {
		var err error
		c, err = d.DialContext(ctx, network, netip.AddrPortFrom(dst.Unmap(), port).String())
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("netlab: %s -> %s: %w", h.Name, netip.AddrPortFrom(dst, port), err)
	}
	return c, nil
}

func familySuffix(a netip.Addr) string {
	if a.Unmap().Is4() {
		return "4"
	}
	return "6"
}

// ProbeTCP connects to dst:port and closes the connection at once: nil means
// the three-way handshake completed. Classify failures with IsTimeout
// (silently dropped), IsRefused (RST / port unreachable) or IsUnreachable.
func (h *Host) ProbeTCP(ctx context.Context, dst netip.Addr, port uint16) error {
	c, err := h.DialTCP(ctx, dst, port)
	if err != nil {
		return err
	}
	return c.Close()
}

// UDPRoundTrip sends payload to dst:port from a fresh connected socket and
// waits (bounded by ctx, default DefaultDialTimeout) for one reply datagram,
// e.g. from a sink with WithEcho. It is the UDP "ping".
func (h *Host) UDPRoundTrip(ctx context.Context, dst netip.Addr, port uint16, payload []byte) ([]byte, error) {
	ctx, cancel := withDialTimeout(ctx)
	defer cancel()
	c, err := h.DialUDP(ctx, dst, port)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	dl, _ := ctx.Deadline()
	_ = c.SetDeadline(dl)
	if _, err := c.Write(payload); err != nil {
		return nil, fmt.Errorf("netlab: %s udp -> %s: %w", h.Name, dst, err)
	}
	buf := make([]byte, 65536)
	n, err := c.Read(buf)
	if err != nil {
		return nil, fmt.Errorf("netlab: %s udp <- %s: %w", h.Name, dst, err)
	}
	return buf[:n], nil
}

// SendUDP sends count datagrams carrying payload to dst:port from one
// unconnected socket and returns how many the local stack accepted (sendto
// succeeded). Sending continues after an error; the first error is
// returned. Delivery must be checked at the receiver (UDPSink).
func (h *Host) SendUDP(dst netip.Addr, port uint16, payload []byte, count int) (int, error) {
	return h.SendUDPFrom(netip.Addr{}, dst, port, payload, count)
}

// SendUDPFrom is SendUDP with an explicit local source address.
func (h *Host) SendUDPFrom(src, dst netip.Addr, port uint16, payload []byte, count int) (int, error) {
	pc, err := h.udpSocket(src, dst)
	if err != nil {
		return 0, err
	}
	defer pc.Close()
	to := net.UDPAddrFromAddrPort(netip.AddrPortFrom(dst.Unmap(), port))
	sent := 0
	var first error
	for i := 0; i < count; i++ {
		if _, err := pc.WriteTo(payload, to); err != nil {
			if first == nil {
				first = fmt.Errorf("netlab: %s udp -> %s: %w", h.Name, to, err)
			}
			continue
		}
		sent++
	}
	return sent, first
}

// udpSocket opens an unconnected UDP socket of dst's family inside the host.
func (h *Host) udpSocket(src, dst netip.Addr) (net.PacketConn, error) {
	if err := checkDst(dst); err != nil {
		return nil, err
	}
	network := "udp" + familySuffix(dst)
	laddr := ":0"
	if src.IsValid() {
		laddr = netip.AddrPortFrom(src, 0).String()
	}
	var pc net.PacketConn
	err := h.Do(func() error {
		var err error
		pc, err = net.ListenPacket(network, laddr)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("netlab: %s: udp socket: %w", h.Name, err)
	}
	return pc, nil
}

// ---------------------------------------------------------------------------
// Bulk transfers

// Transfer reports a bounded bulk write.
type Transfer struct {
	// Written is the number of bytes the LOCAL stack accepted (write or
	// sendto returned success). For TCP this includes bytes still sitting
	// in the send buffer; compare with the receiving sink to learn what
	// was delivered.
	Written int64
	// Complete is true when all requested bytes were accepted.
	Complete bool
	// Elapsed is the time spent writing.
	Elapsed time.Duration
	// Err is the first error other than hitting the time bound (which is a
	// normal stop), e.g. EPERM from a local output drop or ECONNRESET.
	Err error
}

// WriteFor writes up to total bytes to conn in chunks, stopping after at
// most maxDur (enforced with a write deadline, so a stalled peer or a
// firewall cannot block it). Hitting the deadline is not an error.
func WriteFor(conn net.Conn, total int64, maxDur time.Duration) Transfer {
	start := time.Now()
	var tr Transfer
	_ = conn.SetWriteDeadline(start.Add(maxDur))
	defer conn.SetWriteDeadline(time.Time{})
	buf := make([]byte, chunkSize)
	for i := range buf {
		buf[i] = byte('a' + i%26)
	}
	for tr.Written < total {
		chunk := buf
		if rem := total - tr.Written; rem < int64(len(chunk)) {
			chunk = chunk[:rem]
		}
		n, err := conn.Write(chunk)
		tr.Written += int64(n)
		if err != nil {
			if !IsTimeout(err) {
				tr.Err = err
			}
			break
		}
	}
	tr.Complete = tr.Written >= total
	tr.Elapsed = time.Since(start)
	return tr
}

// PushTCP connects to dst:port, writes up to total bytes for at most maxDur
// and closes the connection (the kernel keeps delivering what is buffered).
// The error is non-nil only when the connection could not be established.
func (h *Host) PushTCP(ctx context.Context, dst netip.Addr, port uint16, total int64, maxDur time.Duration) (Transfer, error) {
	c, err := h.DialTCP(ctx, dst, port)
	if err != nil {
		return Transfer{}, err
	}
	defer c.Close()
	return WriteFor(c, total, maxDur), nil
}

// PushUDP sends up to total bytes to dst:port in datagrams of pktSize
// (default 1200) for at most maxDur. Written counts bytes accepted by the
// local stack.
func (h *Host) PushUDP(dst netip.Addr, port uint16, total int64, pktSize int, maxDur time.Duration) (Transfer, error) {
	if pktSize <= 0 {
		pktSize = 1200
	}
	pc, err := h.udpSocket(netip.Addr{}, dst)
	if err != nil {
		return Transfer{}, err
	}
	defer pc.Close()
	to := net.UDPAddrFromAddrPort(netip.AddrPortFrom(dst.Unmap(), port))
	start := time.Now()
	deadline := start.Add(maxDur)
	_ = pc.SetWriteDeadline(deadline)
	payload := make([]byte, pktSize)
	var tr Transfer
	// Bounded by bytes (total/pktSize+1 iterations) and by time.
	for tr.Written < total && time.Now().Before(deadline) {
		p := payload
		if rem := total - tr.Written; rem < int64(len(p)) {
			p = p[:rem]
		}
		n, err := pc.WriteTo(p, to)
		if err != nil {
			if !IsTimeout(err) && tr.Err == nil {
				tr.Err = err
			}
			if IsTimeout(err) || errors.Is(err, syscall.EPERM) {
				break // local firewall drop: every further send fails too
			}
			continue
		}
		tr.Written += int64(n)
	}
	tr.Complete = tr.Written >= total
	tr.Elapsed = time.Since(start)
	return tr, nil
}

// ReadN reads exactly n bytes from conn within timeout (e.g. a banner).
func ReadN(conn net.Conn, n int, timeout time.Duration) ([]byte, error) {
	_ = conn.SetReadDeadline(time.Now().Add(timeout))
	defer conn.SetReadDeadline(time.Time{})
	buf := make([]byte, n)
	m, err := io.ReadFull(conn, buf)
	return buf[:m], err
}

// ---------------------------------------------------------------------------
// Error classification

// IsTimeout reports whether err is a timeout (typically: packets silently
// dropped by a firewall).
func IsTimeout(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// IsRefused reports whether err is ECONNREFUSED (TCP RST or ICMP port
// unreachable, e.g. nft "reject").
func IsRefused(err error) bool { return errors.Is(err, syscall.ECONNREFUSED) }

// IsUnreachable reports whether err is a host/network unreachable error
// (ICMP unreachable or failed neighbour resolution).
func IsUnreachable(err error) bool {
	return errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH)
}

// waitCount polls read until it reaches n (bounded by timeout); the error
// names the sink (format, args) and what it counts (unit).
func waitCount(read func() int64, n int64, timeout time.Duration, unit, format string, args ...any) error {
	if err := Poll(timeout, 5*time.Millisecond, func() (bool, error) { return read() >= n, nil }); err != nil {
		return fmt.Errorf("netlab: %s: %d of %d %s: %w", fmt.Sprintf(format, args...), read(), n, unit, err)
	}
	return nil
}
