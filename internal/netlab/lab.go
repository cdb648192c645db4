// Package netlab builds throw-away network labs out of Linux network
// namespaces so that devfence's firewall behaviour can be proven with real
// packets going through a real kernel.
//
// # Topology
//
// Every lab is one L2 segment: a Linux bridge (br0) living in its own
// "switch" namespace, and one veth pair per host whose host end is called
// eth0 and whose switch end (p-<host>) is enslaved to br0.
//
//	                   switch namespace (<prefix>switch)
//	   +------------------------- br0 ---------------------------+
//	   |        |        |        |          |          |        |
//	p-device p-viewer p-lan2  p-cloud  p-attacker  p-victim0 p-victimN
//	   |        |        |        |          |          |        |
//	 eth0     eth0     eth0     eth0       eth0       eth0     eth0
//	device   viewer    lan2    cloud    attacker    victim0  victimN
//
// Every host gets its own segment's prefix as a connected route plus on-link
// routes ("ip route add <prefix> dev eth0") for the two other segments, so
// every host reaches every other host directly. ARP and IPv6 neighbour
// discovery run for real (no static neighbours): a firewall loaded into the
// device must let them pass. IPv6 duplicate address detection is disabled
// (accept_dad=0 and IFA_F_NODAD) so IPv6 works the moment the lab is up.
// Router solicitations are disabled to keep counters quiet.
//
// # Address plan
//
// Only documentation ranges (RFC 5737 / RFC 3849) are used, and only inside
// the lab's namespaces:
//
//	segment   IPv4 prefix        IPv6 prefix
//	LAN       192.0.2.0/24       2001:db8:1::/64
//	outside   198.51.100.0/24    2001:db8:2::/64   ("internet")
//	cloud     203.0.113.0/24     2001:db8:3::/64   (vendor cloud)
//
//	host      segment  IPv4                 IPv6
//	device    LAN      192.0.2.10           2001:db8:1::10   device under test
//	viewer    LAN      192.0.2.20           2001:db8:1::20   LAN client (app)
//	lan2      LAN      192.0.2.30           2001:db8:1::30   other LAN host
//	cloud     cloud    203.0.113.10         2001:db8:3::10   vendor cloud
//	attacker  outside  198.51.100.66        2001:db8:2::66   outside attacker
//	victim<i> outside  198.51.100.<101+i>   2001:db8:2::<101+i>  flood targets
//	(none)    outside  198.51.100.250       2001:db8:2::250  never assigned
//
// The IPv6 interface identifier reuses the decimal digits of the IPv4 host
// part (victim0 = 198.51.100.101 = 2001:db8:2::101) so the plan is easy to
// read; victims are limited to MaxVictims.
//
// # Names
//
// Namespaces are named "dfl<pid>-<seq>-<host>" (e.g. dfl4242-1-device,
// dfl4242-1-switch) and are bind-mounted under /var/run/netns, so a CLI can be
// pointed at them with --netns <name> or "ip netns exec <name>". <pid> is the
// creating process, <seq> numbers labs within that process. Stale namespaces
// whose <pid> is no longer alive are removed by the next New/Start (see
// cleanup.go).
//
// # Threads
//
// Entering a namespace is a per-thread operation. All entries go through
// (*Host).Do, which locks a dedicated OS thread, enters the namespace, runs
// the function and restores the thread's ORIGINAL namespace before unlocking
// it; if restoring fails the thread is left locked and is destroyed by the Go
// runtime. Sockets keep the namespace they were created in, so every socket
// helper creates its socket inside Do and the resulting connection/listener
// can then be used from any goroutine.
//
// Nothing is ever changed in the caller's (root) namespace: links, addresses,
// routes and sysctls are all created inside lab namespaces, and traffic is
// only ever sent from lab hosts to lab addresses.
package netlab

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Segment prefixes of the address plan.
var (
	LAN4     = netip.MustParsePrefix("192.0.2.0/24")
	LAN6     = netip.MustParsePrefix("2001:db8:1::/64")
	Outside4 = netip.MustParsePrefix("198.51.100.0/24")
	Outside6 = netip.MustParsePrefix("2001:db8:2::/64")
	Cloud4   = netip.MustParsePrefix("203.0.113.0/24")
	Cloud6   = netip.MustParsePrefix("2001:db8:3::/64")
)

// Addresses in the outside segment that are never assigned to any host
// (useful as a forged source nobody answers for, or a black-hole target).
var (
	Unassigned4 = netip.MustParseAddr("198.51.100.250")
	Unassigned6 = netip.MustParseAddr("2001:db8:2::250")
)

// Host names (roles) used in the lab.
const (
	DeviceName   = "device"
	ViewerName   = "viewer"
	LAN2Name     = "lan2"
	CloudName    = "cloud"
	AttackerName = "attacker"
	victimPrefix = "victim" // victim0, victim1, ...
	switchName   = "switch"
)

// Segment names.
const (
	SegmentLAN     = "lan"
	SegmentCloud   = "cloud"
	SegmentOutside = "outside"
)

// Interface names.
const (
	// HostIfName is the name of every host's only (non-loopback) interface.
	HostIfName = "eth0"
	// BridgeName is the bridge in the switch namespace.
	BridgeName = "br0"
)

// DefaultVictims is the number of victim hosts when WithVictims is not used.
const DefaultVictims = 2

// MaxVictims bounds WithVictims so the address plan stays inside one /24.
const MaxVictims = 100

// NamePrefix starts every namespace name created by this package.
const NamePrefix = "dfl"

// Family selects an IP version.
type Family int

// IP families.
const (
	IPv4 Family = 4
	IPv6 Family = 6
)

// Families lists both families, handy for table-driven tests.
var Families = []Family{IPv4, IPv6}

func (f Family) String() string {
	switch f {
	case IPv4:
		return "ipv4"
	case IPv6:
		return "ipv6"
	}
	return fmt.Sprintf("family(%d)", int(f))
}

// NFTFamily returns the nft payload keyword for the family ("ip" or "ip6"),
// for building rules such as "ip saddr 192.0.2.20 drop".
func (f Family) NFTFamily() string {
	if f == IPv6 {
		return "ip6"
	}
	return "ip"
}

// hostSpec is one row of the address plan.
type hostSpec struct {
	name    string
	segment string
	v4, v6  netip.Addr
}

func planHosts(victims int) []hostSpec {
	specs := []hostSpec{
		{DeviceName, SegmentLAN, netip.MustParseAddr("192.0.2.10"), netip.MustParseAddr("2001:db8:1::10")},
		{ViewerName, SegmentLAN, netip.MustParseAddr("192.0.2.20"), netip.MustParseAddr("2001:db8:1::20")},
		{LAN2Name, SegmentLAN, netip.MustParseAddr("192.0.2.30"), netip.MustParseAddr("2001:db8:1::30")},
		{CloudName, SegmentCloud, netip.MustParseAddr("203.0.113.10"), netip.MustParseAddr("2001:db8:3::10")},
		{AttackerName, SegmentOutside, netip.MustParseAddr("198.51.100.66"), netip.MustParseAddr("2001:db8:2::66")},
	}
	for i := 0; i < victims; i++ {
		o := 101 + i
		specs = append(specs, hostSpec{
			name:    fmt.Sprintf("%s%d", victimPrefix, i),
			segment: SegmentOutside,
			v4:      netip.AddrFrom4([4]byte{198, 51, 100, byte(o)}),
			v6:      netip.MustParseAddr(fmt.Sprintf("2001:db8:2::%d", o)),
		})
	}
	return specs
}

// segmentPrefixes returns the (v4, v6) prefixes of a segment.
func segmentPrefixes(segment string) (netip.Prefix, netip.Prefix) {
	switch segment {
	case SegmentLAN:
		return LAN4, LAN6
	case SegmentCloud:
		return Cloud4, Cloud6
	default:
		return Outside4, Outside6
	}
}

var allPrefixes = []netip.Prefix{LAN4, LAN6, Outside4, Outside6, Cloud4, Cloud6}

// Option configures a lab.
type Option func(*config)

type config struct {
	victims int
	logf    func(format string, args ...any)
}

// WithVictims sets the number of victim hosts (0..MaxVictims, default 2).
func WithVictims(n int) Option { return func(c *config) { c.victims = n } }

// WithLogf sets a logger for lab life-cycle messages (New uses t.Logf).
func WithLogf(logf func(format string, args ...any)) Option {
	return func(c *config) { c.logf = logf }
}

// Lab is a running lab. All fields are read-only after creation.
type Lab struct {
	// Prefix is the common namespace name prefix, e.g. "dfl4242-1-".
	Prefix string

	Device   *Host
	Viewer   *Host
	LAN2     *Host
	Cloud    *Host
	Attacker *Host
	Victims  []*Host

	hosts   []*Host // all hosts in plan order
	byName  map[string]*Host
	switchN *namedNS
	logf    func(format string, args ...any)

	mu      sync.Mutex
	closed  bool
	nsList  []*namedNS // every namespace created, in creation order
	closers map[any]func() error
	procs   map[*Proc]struct{}

	closeOnce sync.Once
	closeErr  error
}

var labSeq atomic.Uint64

// New starts a lab for a test. It first calls RequireKernel (so the test is
// skipped, or failed under DEVFENCE_KERNEL_TESTS=require, when the process
// cannot create namespaces), then removes stale namespaces of dead
// processes, builds the lab and registers t.Cleanup to tear everything down,
// even when the test fails. Any setup error fails the test.
func New(t testing.TB, opts ...Option) *Lab {
	t.Helper()
	RequireKernel(t)
	opts = append([]Option{WithLogf(t.Logf)}, opts...)
	l, err := Start(opts...)
	if err != nil {
		t.Fatalf("netlab: start lab: %v", err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("netlab: close lab %s: %v", l.Prefix, err)
		}
	})
	return l
}

// Start builds a lab without a testing.TB (for non-test use). The caller
// must call Close. On error everything created so far is removed.
func Start(opts ...Option) (*Lab, error) {
	cfg := config{victims: DefaultVictims, logf: func(string, ...any) {}}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.victims < 0 || cfg.victims > MaxVictims {
		return nil, fmt.Errorf("netlab: victims must be in 0..%d, got %d", MaxVictims, cfg.victims)
	}
	if removed, err := RemoveStale(); err != nil {
		cfg.logf("netlab: removing stale namespaces: %v", err)
	} else if len(removed) > 0 {
		cfg.logf("netlab: removed stale namespaces %v", removed)
	}

	l := &Lab{
		Prefix:  fmt.Sprintf("%s%d-%d-", NamePrefix, os.Getpid(), labSeq.Add(1)),
		byName:  map[string]*Host{},
		logf:    cfg.logf,
		closers: map[any]func() error{},
		procs:   map[*Proc]struct{}{},
	}
	if err := l.build(planHosts(cfg.victims)); err != nil {
		if cerr := l.Close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("cleanup after failed start: %w", cerr))
		}
		return nil, err
	}
	l.logf("netlab: lab %s up with %d hosts (namespaces %s*)", l.Prefix, len(l.hosts), l.Prefix)
	return l, nil
}

// Host returns the host with the given name (e.g. "device", "victim1") or nil.
func (l *Lab) Host(name string) *Host { return l.byName[name] }

// Hosts returns all hosts in address-plan order.
func (l *Lab) Hosts() []*Host { return append([]*Host(nil), l.hosts...) }

// SwitchNetNS returns the name of the switch namespace holding br0.
func (l *Lab) SwitchNetNS() string { return l.Prefix + switchName }

// NetNSNames returns the names of every namespace of the lab (hosts and
// switch), i.e. the entries under /var/run/netns it owns.
func (l *Lab) NetNSNames() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	names := make([]string, 0, len(l.nsList))
	for _, n := range l.nsList {
		names = append(names, n.name)
	}
	return names
}

func (l *Lab) build(specs []hostSpec) error {
	sw, err := l.newNS(switchName)
	if err != nil {
		return err
	}
	l.switchN = sw
	if err := sw.do(func() error {
		// The switch only forwards frames; keep it silent on IPv6.
		if err := writeSysctls(map[string]string{
			"net/ipv6/conf/all/disable_ipv6":     "1",
			"net/ipv6/conf/default/disable_ipv6": "1",
		}); err != nil {
			return err
		}
		nl, err := netlink.NewHandle()
		if err != nil {
			return fmt.Errorf("netlink handle: %w", err)
		}
		defer nl.Close()
		off := false
		br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: BridgeName}, MulticastSnooping: &off}
		if err := nl.LinkAdd(br); err != nil {
			return fmt.Errorf("add bridge: %w", err)
		}
		if err := nl.LinkSetUp(br); err != nil {
			return fmt.Errorf("bridge up: %w", err)
		}
		lo, err := nl.LinkByName("lo")
		if err == nil {
			err = nl.LinkSetUp(lo)
		}
		return err
	}); err != nil {
		return fmt.Errorf("netlab: set up switch: %w", err)
	}

	for _, s := range specs {
		h, err := l.addHost(s, sw)
		if err != nil {
			return fmt.Errorf("netlab: set up host %s: %w", s.name, err)
		}
		l.hosts = append(l.hosts, h)
		l.byName[h.Name] = h
	}
	l.Device = l.byName[DeviceName]
	l.Viewer = l.byName[ViewerName]
	l.LAN2 = l.byName[LAN2Name]
	l.Cloud = l.byName[CloudName]
	l.Attacker = l.byName[AttackerName]
	for _, h := range l.hosts {
		if len(h.Name) > len(victimPrefix) && h.Name[:len(victimPrefix)] == victimPrefix {
			l.Victims = append(l.Victims, h)
		}
	}
	// Wait (bounded) until every host link has carrier, so the first packet
	// of a test is not lost to a link that is still coming up.
	for _, h := range l.hosts {
		if err := h.waitCarrier(5 * time.Second); err != nil {
			return fmt.Errorf("netlab: host %s: %w", h.Name, err)
		}
	}
	return nil
}

// newNS creates and records the named namespace <prefix><suffix>.
func (l *Lab) newNS(suffix string) (*namedNS, error) {
	name := l.Prefix + suffix
	h, err := createNamedNS(name)
	if err != nil {
		return nil, fmt.Errorf("netlab: create namespace %s: %w", name, err)
	}
	n := &namedNS{name: name, handle: h}
	l.mu.Lock()
	l.nsList = append(l.nsList, n)
	l.mu.Unlock()
	return n, nil
}

func (l *Lab) addHost(s hostSpec, sw *namedNS) (*Host, error) {
	ns, err := l.newNS(s.name)
	if err != nil {
		return nil, err
	}
	p4, p6 := segmentPrefixes(s.segment)
	h := &Host{
		Name:    s.name,
		NetNS:   ns.name,
		Segment: s.segment,
		IfName:  HostIfName,
		V4:      s.v4,
		V6:      s.v6,
		Prefix4: p4,
		Prefix6: p6,
		lab:     l,
		ns:      ns,
	}
	peer := "p-" + s.name
	if len(peer) > 15 {
		return nil, fmt.Errorf("switch port name %q too long", peer)
	}

	// Step 1 (host ns): sysctls, then the veth pair whose peer is created
	// directly inside the switch namespace (never in the root namespace).
	if err := h.Do(func() error {
		if err := writeSysctls(map[string]string{
			"net/ipv6/conf/all/accept_dad":               "0",
			"net/ipv6/conf/default/accept_dad":           "0",
			"net/ipv6/conf/default/router_solicitations": "0",
			"net/ipv6/conf/default/accept_ra":            "0",
		}); err != nil {
			return err
		}
		nl, err := netlink.NewHandle()
		if err != nil {
			return fmt.Errorf("netlink handle: %w", err)
		}
		defer nl.Close()
		veth := &netlink.Veth{
			LinkAttrs:     netlink.LinkAttrs{Name: HostIfName},
			PeerName:      peer,
			PeerNamespace: netlink.NsFd(sw.fd()),
		}
		if err := nl.LinkAdd(veth); err != nil {
			return fmt.Errorf("add veth %s/%s: %w", HostIfName, peer, err)
		}
		return nil
	}); err != nil {
		return nil, err
	}

	// Step 2 (switch ns): enslave the peer to br0 and bring it up.
	if err := sw.do(func() error {
		nl, err := netlink.NewHandle()
		if err != nil {
			return fmt.Errorf("netlink handle: %w", err)
		}
		defer nl.Close()
		br, err := nl.LinkByName(BridgeName)
		if err != nil {
			return err
		}
		p, err := nl.LinkByName(peer)
		if err != nil {
			return err
		}
		if err := nl.LinkSetMaster(p, br); err != nil {
			return fmt.Errorf("enslave %s: %w", peer, err)
		}
		return nl.LinkSetUp(p)
	}); err != nil {
		return nil, err
	}

	// Step 3 (host ns): links up, addresses (no DAD), on-link routes.
	if err := h.Do(func() error {
		nl, err := netlink.NewHandle()
		if err != nil {
			return fmt.Errorf("netlink handle: %w", err)
		}
		defer nl.Close()
		lo, err := nl.LinkByName("lo")
		if err != nil {
			return err
		}
		if err := nl.LinkSetUp(lo); err != nil {
			return fmt.Errorf("lo up: %w", err)
		}
		eth, err := nl.LinkByName(HostIfName)
		if err != nil {
			return err
		}
		if err := nl.LinkSetUp(eth); err != nil {
			return fmt.Errorf("%s up: %w", HostIfName, err)
		}
		for _, a := range []netip.Prefix{
			netip.PrefixFrom(h.V4, p4.Bits()),
			netip.PrefixFrom(h.V6, p6.Bits()),
		} {
			addr := &netlink.Addr{IPNet: prefixToIPNet(a), Flags: unix.IFA_F_NODAD}
			if err := nl.AddrAdd(eth, addr); err != nil {
				return fmt.Errorf("add address %s: %w", a, err)
			}
		}
		for _, p := range allPrefixes {
			if p == p4 || p == p6 {
				continue // connected route already added with the address
			}
			r := &netlink.Route{
				LinkIndex: eth.Attrs().Index,
				Dst:       prefixToIPNet(p),
				Scope:     netlink.SCOPE_LINK,
			}
			if err := nl.RouteAdd(r); err != nil {
				return fmt.Errorf("add on-link route %s: %w", p, err)
			}
		}
		return nil
	}); err != nil {
		return nil, err
	}
	return h, nil
}

// writeSysctls writes /proc/sys entries; must run inside a namespace (Do),
// where /proc/sys/net reflects the calling thread's network namespace.
func writeSysctls(kv map[string]string) error {
	for k, v := range kv {
		if err := os.WriteFile("/proc/sys/"+k, []byte(v), 0o644); err != nil {
			return fmt.Errorf("sysctl %s=%s: %w", k, v, err)
		}
	}
	return nil
}

// namedNS is one namespace owned by a lab. mu guards handle: Do holds the
// read lock while inside the namespace, Close takes the write lock to close
// the handle, so a closed (and possibly reused) fd number is never passed to
// setns.
type namedNS struct {
	name   string
	mu     sync.RWMutex
	handle netns.NsHandle
}

func (n *namedNS) do(fn func() error) error {
	n.mu.RLock()
	defer n.mu.RUnlock()
	if !n.handle.IsOpen() {
		return fmt.Errorf("netlab: namespace %s: %w", n.name, errLabClosed)
	}
	return doInNS(n.handle, fn)
}

// fd returns the handle's fd (-1 once closed).
func (n *namedNS) fd() int {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return int(n.handle)
}

// closeHandle kills remaining processes in the namespace and closes the
// handle; it is a no-op once closed.
func (n *namedNS) closeHandle() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.handle.IsOpen() {
		return nil
	}
	err := killNSProcesses(int(n.handle))
	n.handle.Close()
	n.handle = netns.None()
	return err
}
