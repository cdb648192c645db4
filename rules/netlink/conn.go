// Package netlink puts a rules.Transaction in force over nf_tables netlink
// (github.com/google/nftables) and reads a live table back into the rules
// model. The encoder emits the bytecode `nft -f` generates for the same
// text, implicit protocol dependencies and payload merges included, so a
// table applied by devfence and one loaded by nft are indistinguishable in
// the kernel; the decoder pattern-matches those sequences back into the
// statements the compiler produced, and keeps anything else as rules.Raw.
package netlink

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/devfence/devfence/internal/nsthread"

	"github.com/google/nftables"
	mnl "github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// NetNSDir is where named network namespaces are bind-mounted
// (`ip netns add NAME`).
const NetNSDir = "/var/run/netns"

var (
	// ErrNoTable is returned by Read when the table does not exist.
	ErrNoTable = errors.New("table does not exist")
	// ErrPermission is returned when the kernel refuses devfence for lack
	// of privilege.
	ErrPermission = errors.New("devfence needs CAP_NET_ADMIN (run as root)")
)

// Conn is a netlink connection to nf_tables in one network namespace.
type Conn struct {
	netns string
	nsFd  int // -1 for the current namespace
	// nl reads: Read dumps tables, sets, elements and rules itself, because
	// nftables.Conn drops what it cannot decode and never shows the quota
	// state of dynamic set elements.
	nl *mnl.Conn
}

// Open connects to nf_tables in the named network namespace
// (/var/run/netns/NAME); "" is the caller's namespace.
func Open(netnsName string) (*Conn, error) {
	c := &Conn{netns: netnsName, nsFd: -1}
	cfg := &mnl.Config{}
	if netnsName != "" {
		if strings.ContainsRune(netnsName, '/') || netnsName == "." || netnsName == ".." {
			return nil, fmt.Errorf("network namespace %q: not a namespace name", netnsName)
		}
		path := filepath.Join(NetNSDir, netnsName)
		fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			if errors.Is(err, unix.ENOENT) {
				return nil, fmt.Errorf("network namespace %q does not exist (no %s)", netnsName, path)
			}
			return nil, fmt.Errorf("network namespace %q: %w", netnsName, permission(err))
		}
		c.nsFd = fd
		cfg.NetNS = fd
	}
	nl, err := mnl.Dial(unix.NETLINK_NETFILTER, cfg)
	if err != nil {
		c.closeNS()
		if netnsName != "" {
			return nil, fmt.Errorf("connect to nf_tables in network namespace %q: %w", netnsName, permission(err))
		}
		return nil, fmt.Errorf("connect to nf_tables: %w", permission(err))
	}
	c.nl = nl
	c.primeDumps()
	return c, nil
}

// primeDumps makes the kernel fill each part of a dump up to 32 KiB
// instead of one page. The kernel sizes dump buffers by the largest
// recvmsg the socket has made, and mdlayher/netlink receives with a page;
// as the kernel resumes an interval set's dump by walking it from the
// start, reading 100,000 elements in 4 KiB parts took seconds. So one
// reply is received here with a large buffer. Errors are left for the
// first real request to report.
func (c *Conn) primeDumps() {
	if _, err := c.nl.Send(genRequest()); err != nil {
		return
	}
	raw, err := c.nl.SyscallConn()
	if err != nil {
		return
	}
	buf := make([]byte, 64<<10)
	// The reply (or an error) comes at once; the deadline only guards
	// against a kernel that never answers.
	_ = c.nl.SetReadDeadline(time.Now().Add(5 * time.Second))
	defer c.nl.SetReadDeadline(time.Time{})
	_ = raw.Read(func(fd uintptr) bool {
		_, _, _, _, err := unix.Recvmsg(int(fd), buf, nil, 0)
		return !errors.Is(err, unix.EAGAIN)
	})
}

// batchConn dials the socket one batch is sent on. Each batch gets its own
// nftables.Conn, so a batch abandoned half-built leaves nothing queued, and
// the socket is captured for its sequence numbers (see flush).
func (c *Conn) batchConn() (*nftables.Conn, *mnl.Conn, error) {
	var nl *mnl.Conn
	opts := []nftables.ConnOption{nftables.AsLasting(), nftables.WithSockOptions(func(s *mnl.Conn) error {
		nl = s
		// Extended acks carry the offset of the attribute the kernel
		// refused, which names the failing expression of a rule.
		if err := s.SetOption(mnl.ExtendedAcknowledge, true); err != nil && !errors.Is(err, unix.ENOPROTOOPT) {
			return err
		}
		return nil
	})}
	if c.nsFd >= 0 {
		opts = append(opts, nftables.WithNetNSFd(c.nsFd))
	}
	nft, err := nftables.New(opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("connect to nf_tables: %w", permission(err))
	}
	if nl == nil {
		nft.CloseLasting()
		return nil, nil, errors.New("connect to nf_tables: no netlink socket")
	}
	return nft, nl, nil
}

// NetNS is the namespace name the connection was opened for ("" = own).
func (c *Conn) NetNS() string { return c.netns }

// Close releases the socket and the namespace handle.
func (c *Conn) Close() error {
	var err error
	if c.nl != nil {
		err = c.nl.Close()
	}
	c.closeNS()
	return err
}

func (c *Conn) closeNS() {
	if c.nsFd >= 0 {
		unix.Close(c.nsFd)
		c.nsFd = -1
	}
}

// Generation returns the ruleset generation: it changes with every
// committed batch in the namespace, so equal values before and after an
// operation prove nothing was sent.
func (c *Conn) Generation() (uint32, error) {
	msgs, err := c.execute(genRequest())
	if err != nil {
		return 0, fmt.Errorf("read ruleset generation: %w", err)
	}
	return genID(msgs)
}

func genRequest() mnl.Message {
	return mnl.Message{
		Header: mnl.Header{Type: msgType(unix.NFT_MSG_GETGEN), Flags: mnl.Request},
		Data:   nfgenmsg(unix.NFPROTO_UNSPEC),
	}
}

func genID(msgs []mnl.Message) (uint32, error) {
	for _, m := range msgs {
		if len(m.Data) < 4 {
			continue
		}
		ad, err := mnl.NewAttributeDecoder(m.Data[4:])
		if err != nil {
			return 0, err
		}
		ad.ByteOrder = bigEndian
		for ad.Next() {
			if ad.Type() == unix.NFTA_GEN_ID {
				return ad.Uint32(), nil
			}
		}
	}
	return 0, errors.New("no generation in the kernel's reply")
}

// execute sends one request on the shared socket and collects the reply
// (all parts of a dump), translating a missing privilege.
func (c *Conn) execute(m mnl.Message) ([]mnl.Message, error) {
	msgs, err := c.nl.Execute(m)
	if err != nil {
		return nil, permission(err)
	}
	return msgs, nil
}

func msgType(t int) mnl.HeaderType {
	return mnl.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | t)
}

// nfgenmsg is the nfnetlink header every nf_tables message starts with.
func nfgenmsg(family byte) []byte { return []byte{family, unix.NFNETLINK_V0, 0, 0} }

// permission turns EPERM into ErrPermission when the process indeed lacks
// CAP_NET_ADMIN (EPERM has other causes, e.g. a table owned by another
// process, which must not be reported as a privilege problem).
func permission(err error) error {
	if err == nil || !(errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES)) {
		return err
	}
	if hasNetAdmin() {
		return err
	}
	return fmt.Errorf("%w: %w", ErrPermission, err)
}

// hasNetAdmin reports whether CAP_NET_ADMIN is in the effective set of
// the calling thread (capabilities are per thread; a process normally
// gives all its threads the same).
func hasNetAdmin() bool {
	f, err := os.Open("/proc/thread-self/status")
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "CapEff:"); ok {
			caps, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return err == nil && caps&(1<<unix.CAP_NET_ADMIN) != 0
		}
	}
	return false
}

// ifIndex resolves an interface name in the connection's namespace, the
// way nft resolves `iif "name"` when it loads a rule. The loopback device is
// created first in every namespace, so "lo" is always 1.
func (c *Conn) ifIndex(name string) (uint32, error) {
	if name == "lo" {
		return 1, nil
	}
	var idx int
	err := c.inNS(func() error {
		ifi, err := net.InterfaceByName(name)
		if err == nil {
			idx = ifi.Index
		}
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("interface %q: %w", name, err)
	}
	return uint32(idx), nil
}

// ifName is the reverse of ifIndex, for decoding; ok is false when the
// index names no interface (any more).
func (c *Conn) ifName(index uint32) (string, bool) {
	if index == 1 {
		return "lo", true
	}
	var name string
	err := c.inNS(func() error {
		ifi, err := net.InterfaceByIndex(int(index))
		if err == nil {
			name = ifi.Name
		}
		return err
	})
	return name, err == nil
}

// inNS runs fn on a thread in the connection's namespace, so that the
// standard library's interface lookups (which open their own rtnetlink
// socket) see that namespace's links.
func (c *Conn) inNS(fn func() error) error {
	if c.nsFd < 0 {
		return fn()
	}
	return nsthread.Do(c.nsFd, fn)
}
