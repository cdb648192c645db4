package pipeline

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/devfence/devfence/compiler"
	"github.com/devfence/devfence/internal/sortby"
)

// Resolver looks up a host's addresses; *net.Resolver implements it.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// lookupTimeout bounds each host's lookup, so an unreachable DNS server
// fails the command instead of hanging a boot.
const lookupTimeout = 5 * time.Second

// Resolve looks up every host name in the profile's networks (A and AAAA).
// A host that does not resolve is left out, so its sets hold nothing for
// it (fail closed), and is reported as a warning at the first network entry
// naming it: a device booting before its DNS is reachable still gets its
// firewall, and refresh fills the sets once names resolve.
func Resolve(ctx context.Context, p *compiler.Profile, r Resolver) (map[string][]netip.Addr, []string) {
	out := map[string][]netip.Addr{}
	var warnings []string
	for _, host := range p.Networks.Hosts() {
		lctx, cancel := context.WithTimeout(ctx, lookupTimeout)
		addrs, err := r.LookupNetIP(lctx, "ip", host)
		cancel()
		if err != nil {
			warnings = append(warnings, fmt.Sprintf("%s: %s did not resolve, so nothing is allowed to it until it does (devfence refresh): %v", hostPosition(p, host), host, err))
			continue
		}
		for i, a := range addrs {
			addrs[i] = a.Unmap()
		}
		sortby.Func(addrs, netip.Addr.Compare)
		out[host] = slices.Compact(addrs)
	}
	return out, warnings
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
