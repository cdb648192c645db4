package pipeline

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/net/dns/dnsmessage"
	"golang.org/x/sys/unix"

	"github.com/devfence/devfence/internal/nsthread"
)

// netnsDir is where `ip netns` keeps named namespaces (rules/netlink's
// NetNSDir, which this package cannot import: its tests import this one).
const netnsDir = "/var/run/netns"

// DNSResolver resolves host names the way a program in network namespace
// netns ("" is the caller's) would, over that namespace's network: from
// the namespace's hosts file, then through the nameservers of its
// resolv.conf. A namespace's files are /etc/netns/NETNS/hosts and
// /etc/netns/NETNS/resolv.conf where they exist (what `ip netns exec`
// puts in place), /etc/hosts and /etc/resolv.conf otherwise. With addr
// ("127.0.0.1:5353") only the DNS server there is asked. Names are taken
// as fully qualified: no search list. Errors name the server that
// answered or failed.
func DNSResolver(addr, netns string) Resolver {
	return &dnsClient{addr: addr, netns: netns}
}

// dnsClient asks the servers itself, rather than through net.Resolver,
// because net.Resolver always takes its servers, search list and hosts
// file from the caller's namespace and names the caller's servers in its
// errors; and because leaving it out of the device build takes 0.2 MB
// (the resolver, its copy of dnsmessage, net.Dialer) off the binary.
type dnsClient struct {
	addr, netns string
}

// exchangeTimeout bounds one server's answer, so that the next one is
// asked within lookupTimeout.
const exchangeTimeout = 2 * time.Second

func (c *dnsClient) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	if c.addr == "" {
		path := c.etc("hosts")
		addrs, err := lookupHosts(path, host)
		if err != nil {
			return nil, &net.DNSError{Err: err.Error(), Name: host, Server: path}
		}
		if len(addrs) > 0 {
			return addrs, nil
		}
	}
	servers, err := c.servers()
	if err != nil {
		return nil, &net.DNSError{Err: err.Error(), Name: host}
	}
	var last error
	for _, server := range servers {
		addrs, err := c.lookup(ctx, server, host)
		var dnsErr *net.DNSError
		if err == nil || errors.As(err, &dnsErr) && dnsErr.IsNotFound {
			// An answer, even "no such host", ends the search as in libc.
			return addrs, err
		}
		last = err
	}
	return nil, last
}

func (c *dnsClient) servers() ([]string, error) {
	if c.addr != "" {
		return []string{c.addr}, nil
	}
	servers, err := readNameservers(c.etc("resolv.conf"))
	if err != nil {
		return nil, err
	}
	if len(servers) == 0 {
		// What libc does without a nameserver line.
		servers = []string{"127.0.0.1:53", "[::1]:53"}
	}
	return servers, nil
}

// etc is the namespace's copy of /etc/NAME.
func (c *dnsClient) etc(name string) string {
	if c.netns != "" {
		if p := filepath.Join("/etc/netns", c.netns, name); fileExists(p) {
			return p
		}
	}
	return filepath.Join("/etc", name)
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// readNameservers lists the nameserver lines of a resolv.conf as host:53;
// none when there is no such file, which libc reads as no nameserver line.
func readNameservers(path string) ([]string, error) {
	var out []string
	err := eachLine(path, func(fields []string) {
		if len(fields) < 2 || fields[0] != "nameserver" {
			return
		}
		if a, err := netip.ParseAddr(fields[1]); err == nil {
			out = append(out, netip.AddrPortFrom(a, 53).String())
		}
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// lookup asks server for host's A and AAAA records.
func (c *dnsClient) lookup(ctx context.Context, server, host string) ([]netip.Addr, error) {
	name, err := dnsmessage.NewName(strings.TrimSuffix(host, ".") + ".")
	if err != nil {
		return nil, &net.DNSError{Err: err.Error(), Name: host, Server: server}
	}
	var addrs []netip.Addr
	for _, typ := range []dnsmessage.Type{dnsmessage.TypeA, dnsmessage.TypeAAAA} {
		got, err := c.query(ctx, server, name, typ)
		if err != nil {
			return nil, &net.DNSError{Err: err.Error(), Name: host, Server: server,
				IsNotFound: errors.Is(err, errNoSuchHost), IsTimeout: errors.Is(err, errNoAnswer)}
		}
		addrs = append(addrs, got...)
	}
	if len(addrs) == 0 {
		return nil, &net.DNSError{Err: "no A or AAAA records", Name: host, Server: server, IsNotFound: true}
	}
	return addrs, nil
}

var (
	errNoSuchHost = errors.New("no such host")
	errNoAnswer   = errors.New("no answer in time")
)

// query sends one question over UDP, and again over TCP when the answer
// was truncated.
func (c *dnsClient) query(ctx context.Context, server string, name dnsmessage.Name, typ dnsmessage.Type) ([]netip.Addr, error) {
	// An unpredictable ID makes a forged answer harder to slip in. The
	// kernel's pool directly: crypto/rand would link its FIPS DRBG and
	// math/big into the device build.
	var idb [2]byte
	if _, err := unix.Getrandom(idb[:], 0); err != nil {
		return nil, fmt.Errorf("getrandom: %w", err)
	}
	id := binary.BigEndian.Uint16(idb[:])
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: id, RecursionDesired: true})
	b.StartQuestions()
	b.Question(dnsmessage.Question{Name: name, Type: typ, Class: dnsmessage.ClassINET})
	q, err := b.Finish()
	if err != nil {
		return nil, err
	}
	resp, err := c.exchange(ctx, "udp", server, q)
	if err != nil {
		return nil, err
	}
	var p dnsmessage.Parser
	h, err := p.Start(resp)
	if err == nil && h.Truncated {
		if resp, err = c.exchange(ctx, "tcp", server, q); err == nil {
			h, err = p.Start(resp)
		}
	}
	if err != nil {
		return nil, err
	}
	if h.ID != id || !h.Response {
		return nil, errors.New("answer does not match the question")
	}
	switch h.RCode {
	case dnsmessage.RCodeSuccess:
	case dnsmessage.RCodeNameError:
		return nil, errNoSuchHost
	default:
		return nil, fmt.Errorf("server answered %v", h.RCode)
	}
	if err := p.SkipAllQuestions(); err != nil {
		return nil, err
	}
	var out []netip.Addr
	for {
		rh, err := p.AnswerHeader()
		if errors.Is(err, dnsmessage.ErrSectionDone) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		// A CNAME chain's records are all in the answer; keep the
		// addresses of the type asked.
		switch {
		case rh.Type == typ && typ == dnsmessage.TypeA:
			r, err := p.AResource()
			if err != nil {
				return nil, err
			}
			out = append(out, netip.AddrFrom4(r.A))
		case rh.Type == typ && typ == dnsmessage.TypeAAAA:
			r, err := p.AAAAResource()
			if err != nil {
				return nil, err
			}
			out = append(out, netip.AddrFrom16(r.AAAA))
		default:
			if err := p.SkipAnswer(); err != nil {
				return nil, err
			}
		}
	}
}

// exchange sends q to server and reads the answer, on a socket made in
// the namespace.
func (c *dnsClient) exchange(ctx context.Context, network, server string, q []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, exchangeTimeout)
	defer cancel()
	conn, err := c.dial(network, server)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	if network == "udp" {
		if _, err := conn.Write(q); err != nil {
			return nil, err
		}
		buf := make([]byte, 1232)
		n, err := conn.Read(buf)
		if err != nil {
			return nil, timeoutErr(err)
		}
		return buf[:n], nil
	}
	msg := binary.BigEndian.AppendUint16(nil, uint16(len(q)))
	if _, err := conn.Write(append(msg, q...)); err != nil {
		return nil, err
	}
	var n [2]byte
	if _, err := io.ReadFull(conn, n[:]); err != nil {
		return nil, timeoutErr(err)
	}
	buf := make([]byte, binary.BigEndian.Uint16(n[:]))
	if _, err := io.ReadFull(conn, buf); err != nil {
		return nil, timeoutErr(err)
	}
	return buf, nil
}

func timeoutErr(err error) error {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return errNoAnswer
	}
	return err
}

// dial connects a socket made inside the namespace (it stays there when
// the thread that made it leaves) to server, an address and port. It
// does not wait for a TCP connect: the first write does, under the
// deadline the caller sets. Sockets rather than net.Dialer, whose name
// resolution would link Go's resolver into the device build.
func (c *dnsClient) dial(network, server string) (net.Conn, error) {
	ap, err := netip.ParseAddrPort(server)
	if err != nil {
		return nil, fmt.Errorf("dns server %q: not an address and port: %w", server, err)
	}
	typ := unix.SOCK_DGRAM
	if network == "tcp" {
		typ = unix.SOCK_STREAM
	}
	fam, sa := unix.AF_INET6, unix.Sockaddr(&unix.SockaddrInet6{Port: int(ap.Port()), Addr: ap.Addr().As16()})
	if a := ap.Addr().Unmap(); a.Is4() {
		fam, sa = unix.AF_INET, &unix.SockaddrInet4{Port: int(ap.Port()), Addr: a.As4()}
	}
	fd, err := c.socket(fam, typ|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), network+" "+server)
	defer f.Close()
	if err := unix.Connect(fd, sa); err != nil && !errors.Is(err, unix.EINPROGRESS) {
		return nil, &net.OpError{Op: "dial", Net: network, Err: os.NewSyscallError("connect", err)}
	}
	return net.FileConn(f)
}

// socket makes a socket in the namespace, or in the caller's.
func (c *dnsClient) socket(fam, typ int) (int, error) {
	if c.netns == "" {
		return unix.Socket(fam, typ, 0)
	}
	if strings.ContainsRune(c.netns, '/') || c.netns == "." || c.netns == ".." {
		return -1, fmt.Errorf("network namespace %q: not a namespace name", c.netns)
	}
	nsfd, err := unix.Open(filepath.Join(netnsDir, c.netns), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("network namespace %q: %w", c.netns, err)
	}
	defer unix.Close(nsfd)
	fd := -1
	err = nsthread.Do(nsfd, func() error {
		fd, err = unix.Socket(fam, typ, 0)
		return err
	})
	return fd, err
}
