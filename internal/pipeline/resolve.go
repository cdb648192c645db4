package pipeline

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"time"

	"github.com/devfence/devfence/compiler"
)

// Resolver looks up a host's addresses; *net.Resolver implements it.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// lookupTimeout bounds each host's lookup, so an unreachable DNS server
// fails the command instead of hanging a boot.
const lookupTimeout = 5 * time.Second

// Resolve looks up every host name in the profile's networks (A and AAAA).
// The first failure is reported at the first network entry naming the host.
func Resolve(ctx context.Context, p *compiler.Profile, r Resolver) (map[string][]netip.Addr, error) {
	out := map[string][]netip.Addr{}
	for _, host := range p.Networks.Hosts() {
		lctx, cancel := context.WithTimeout(ctx, lookupTimeout)
		addrs, err := r.LookupNetIP(lctx, "ip", host)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("%s: resolve %s: %w", hostPosition(p, host), host, err)
		}
		for i, a := range addrs {
			addrs[i] = a.Unmap()
		}
		slices.SortFunc(addrs, netip.Addr.Compare)
		out[host] = slices.Compact(addrs)
	}
	return out, nil
}

func hostPosition(p *compiler.Profile, host string) string {
	for _, nw := range p.Networks {
		for i, e := range nw.Entries {
			if e.Host == host {
				d := p.Source.At(fmt.Sprintf("networks.%s[%d]", nw.Name, i), "")
				return fmt.Sprintf("%s:%d:%d: %s", d.File, d.Line, d.Column, d.Path)
			}
		}
	}
	return p.Source.File
}

// DNSResolver resolves through the DNS server at addr ("127.0.0.1:5353"),
// or through the system's configuration when addr is empty.
func DNSResolver(addr string) Resolver {
	if addr == "" {
		return net.DefaultResolver
	}
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
	}
}
