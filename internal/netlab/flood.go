package netlab

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Bounded floods, modelled on the Mirai attack vectors, for measuring how
// much of an attack a firewalled (compromised) device can push out. Every
// flood stops at whichever comes first: Duration, MaxAttempts, or ctx.

// FloodKind selects the attack vector.
type FloodKind string

// Flood kinds.
const (
	// FloodTCPConnect makes real connect() attempts (one SYN each, plus
	// kernel retransmits), closing each established connection at once.
	FloodTCPConnect FloodKind = "tcp-connect"
	// FloodRawSYN sends hand-built SYNs from a raw socket with random source
	// ports (Mirai "syn"); Src may be forged.
	FloodRawSYN FloodKind = "raw-syn"
	// FloodUDP sends datagrams of PayloadSize bytes (Mirai "udpplain").
	FloodUDP FloodKind = "udp"
	// FloodHTTP connects and writes an HTTP GET request per connection
	// (Mirai "http").
	FloodHTTP FloodKind = "http"
)

// Flood limits.
const (
	DefaultFloodMaxAttempts = 20000
	DefaultFloodConcurrency = 16
	MaxFloodDuration        = 60 * time.Second
	defaultFloodDuration    = time.Second
	defaultConnectTimeout   = 250 * time.Millisecond
)

// FloodSpec describes a flood.
type FloodSpec struct {
	Kind FloodKind
	Dst  netip.Addr
	Port uint16
	// Src is optional. For FloodRawSYN it may be any (forged) address of
	// Dst's family; for the other kinds it must be one of the host's own
	// addresses. Zero = the host's own address / kernel's choice.
	Src netip.Addr
	// Duration bounds the flood (default 1s, capped at MaxFloodDuration).
	Duration time.Duration
	// MaxAttempts bounds the number of packets/connection attempts
	// (default DefaultFloodMaxAttempts).
	MaxAttempts int
	// Concurrency is the number of parallel workers for the
	// connection-based kinds (default DefaultFloodConcurrency).
	Concurrency int
	// PayloadSize is the UDP datagram size (default 512).
	PayloadSize int
	// ConnectTimeout bounds each connect attempt (default 250ms).
	ConnectTimeout time.Duration
}

// FloodResult reports what the LOCAL stack let out; compare with the
// victim's sinks/counters for what arrived.
type FloodResult struct {
	Kind FloodKind
	// Attempts is the number of packets (raw-syn, udp) or connection
	// attempts (tcp-connect, http) made.
	Attempts int64
	// Succeeded: raw-syn/udp = packets accepted by the local stack;
	// tcp-connect = connections established; http = requests fully written
	// on an established connection.
	Succeeded int64
	// Failed = Attempts - Succeeded.
	Failed int64
	// Bytes is the payload accepted by the local stack (udp, http).
	Bytes int64
	// Elapsed is the wall-clock duration of the flood.
	Elapsed time.Duration
	// FirstErr is the first failure seen (nil if none), for diagnostics.
	FirstErr error
}

// Flood runs a bounded flood from the host. The error is non-nil only for
// invalid specs or when the flood could not start at all.
func (h *Host) Flood(ctx context.Context, spec FloodSpec) (FloodResult, error) {
	if err := checkDst(spec.Dst); err != nil {
		return FloodResult{}, err
	}
	if spec.Duration <= 0 {
		spec.Duration = defaultFloodDuration
	}
	if spec.Duration > MaxFloodDuration {
		spec.Duration = MaxFloodDuration
	}
	if spec.MaxAttempts <= 0 {
		spec.MaxAttempts = DefaultFloodMaxAttempts
	}
	if spec.Concurrency <= 0 {
		spec.Concurrency = DefaultFloodConcurrency
	}
	if spec.PayloadSize <= 0 {
		spec.PayloadSize = 512
	}
	if spec.ConnectTimeout <= 0 {
		spec.ConnectTimeout = defaultConnectTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, spec.Duration)
	defer cancel()

	f := &flood{host: h, spec: spec, max: int64(spec.MaxAttempts)}
	start := time.Now()
	var err error
	switch spec.Kind {
	case FloodRawSYN:
		err = f.rawSYN(ctx)
	case FloodUDP:
		err = f.udp(ctx)
	case FloodTCPConnect, FloodHTTP:
		f.connections(ctx)
	default:
		err = fmt.Errorf("netlab: unknown flood kind %q", spec.Kind)
	}
	res := FloodResult{
		Kind:      spec.Kind,
		Attempts:  f.attempts.Load(),
		Succeeded: f.ok.Load(),
		Bytes:     f.bytes.Load(),
		Elapsed:   time.Since(start),
		FirstErr:  f.firstErr(),
	}
	res.Failed = res.Attempts - res.Succeeded
	return res, err
}

type flood struct {
	host     *Host
	spec     FloodSpec
	max      int64
	reserved atomic.Int64 // attempt slots handed out (may exceed max by the losers)
	attempts atomic.Int64
	ok       atomic.Int64
	bytes    atomic.Int64
	errMu    sync.Mutex
	err      error
}

// next reserves one attempt; false when the budget or ctx is exhausted.
func (f *flood) next(ctx context.Context) bool {
	if ctx.Err() != nil || f.reserved.Add(1) > f.max {
		return false
	}
	f.attempts.Add(1)
	return true
}

func (f *flood) fail(err error) {
	f.errMu.Lock()
	if f.err == nil {
		f.err = err
	}
	f.errMu.Unlock()
}

func (f *flood) firstErr() error {
	f.errMu.Lock()
	defer f.errMu.Unlock()
	return f.err
}

func (f *flood) rawSYN(ctx context.Context) error {
	src := f.spec.Src
	if !src.IsValid() {
		src = f.host.V4
		if f.spec.Dst.Unmap().Is6() {
			src = f.host.V6
		}
	}
	rs, err := f.host.openRaw(f.spec.Dst)
	if err != nil {
		return err
	}
	defer rs.close()
	for f.next(ctx) {
		seg := TCPSegment{Src: src, Dst: f.spec.Dst, DstPort: f.spec.Port, Seq: rand.Uint32(), Flags: FlagSYN}
		pkt, err := buildTCP(&seg)
		if err != nil {
			return err
		}
		if err := rs.send(pkt); err != nil {
			// e.g. EPERM when the local firewall drops it: keep counting.
			f.fail(err)
			continue
		}
		f.ok.Add(1)
	}
	return nil
}

func (f *flood) udp(ctx context.Context) error {
	pc, err := f.host.udpSocket(f.spec.Src, f.spec.Dst)
	if err != nil {
		return err
	}
	defer pc.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = pc.SetWriteDeadline(dl)
	}
	to := net.UDPAddrFromAddrPort(netip.AddrPortFrom(f.spec.Dst.Unmap(), f.spec.Port))
	payload := make([]byte, f.spec.PayloadSize)
	for i := range payload {
		payload[i] = byte(rand.Uint32())
	}
	for f.next(ctx) {
		n, err := pc.WriteTo(payload, to)
		if err != nil {
			f.fail(err)
			if IsTimeout(err) {
				break
			}
			continue
		}
		f.ok.Add(1)
		f.bytes.Add(int64(n))
	}
	return nil
}

// httpRequest is a Mirai-like HTTP flood request.
func httpRequest(dst netip.Addr) []byte {
	host := dst.String()
	if dst.Is6() {
		host = "[" + host + "]"
	}
	return []byte("GET / HTTP/1.1\r\nHost: " + host + "\r\n" +
		"User-Agent: Mozilla/5.0 (netlab flood)\r\nAccept: */*\r\nConnection: keep-alive\r\n\r\n")
}

func (f *flood) connections(ctx context.Context) {
	req := httpRequest(f.spec.Dst.Unmap())
	var wg sync.WaitGroup
	for w := 0; w < f.spec.Concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for f.next(ctx) {
				f.oneConnection(ctx, req)
			}
		}()
	}
	wg.Wait()
}

func (f *flood) oneConnection(ctx context.Context, req []byte) {
	dctx, cancel := context.WithTimeout(ctx, f.spec.ConnectTimeout)
	defer cancel()
	c, err := f.host.DialTCPFrom(dctx, f.spec.Src, f.spec.Dst, f.spec.Port)
	if err != nil {
		f.fail(err)
		return
	}
	defer c.Close()
	if f.spec.Kind == FloodTCPConnect {
		f.ok.Add(1)
		return
	}
	_ = c.SetWriteDeadline(time.Now().Add(f.spec.ConnectTimeout))
	n, err := c.Write(req)
	f.bytes.Add(int64(n))
	if err != nil {
		f.fail(err)
		return
	}
	f.ok.Add(1)
}
