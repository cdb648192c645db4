package mud

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/devfence/devfence/compiler"
)

// ParseBind reads one --bind flag: NAME=CIDR[,CIDR...]. Each entry is a CIDR
// or a single IPv4 or IPv6 address; a CIDR with host bits set is refused, as
// the profile loader refuses it, because it usually hides a typo.
func ParseBind(s string) (name string, cidrs []string, err error) {
	name, list, ok := strings.Cut(s, "=")
	name = strings.TrimSpace(name)
	if !ok || name == "" {
		return "", nil, fmt.Errorf("--bind %q: want NAME=CIDR[,CIDR...]", s)
	}
	if !nameRE.MatchString(name) {
		return "", nil, fmt.Errorf("--bind %q: %q is not a network name (lowercase letters, digits and '-')", s, name)
	}
	for _, a := range strings.Split(list, ",") {
		if a = strings.TrimSpace(a); a != "" {
			cidrs = append(cidrs, a)
		}
	}
	if _, err := checkAddrs(name, cidrs); err != nil {
		return "", nil, err
	}
	return name, cidrs, nil
}

// checkAddrs validates the addresses bound to name and returns them in
// canonical form without repeats.
func checkAddrs(name string, addrs []string) ([]string, error) {
	if len(addrs) == 0 {
		return nil, fmt.Errorf("--bind %s: no addresses; give at least one CIDR or address", name)
	}
	var out []string
	for _, a := range addrs {
		canon, err := canonAddr(strings.TrimSpace(a))
		if err != nil {
			return nil, fmt.Errorf("--bind %s: %v", name, err)
		}
		if !slices.Contains(out, canon) {
			out = append(out, canon)
		}
	}
	return out, nil
}

func canonAddr(s string) (string, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil || p.Addr().Zone() != "" {
			return "", fmt.Errorf("%q is not a valid CIDR", s)
		}
		if p.Masked() != p {
			return "", fmt.Errorf("%q has host bits set (did you mean %s?)", s, p.Masked())
		}
		return p.String(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return "", fmt.Errorf("%q is not an IPv4 or IPv6 address or CIDR", s)
	}
	return a.Unmap().String(), nil
}

// bind gives the named networks their addresses. A bind for a network that
// the import did not produce is an error, not ignored: it is most likely a
// misspelt name, which would leave the intended network empty.
func (c *converter) bind(binds map[string][]string) error {
	nets := c.nameNetworks()
	c.netList = nets
	byName := map[string]*network{}
	var names []string
	for _, n := range nets {
		byName[n.name] = n
		names = append(names, n.name)
	}
	keys := make([]string, 0, len(binds))
	for k := range binds {
		keys = append(keys, k)
	}
	slices.Sort(keys) // report the same first error every time
	for _, k := range keys {
		n := byName[k]
		if n == nil {
			have := "the import produced no networks"
			if len(names) > 0 {
				have = "networks: " + strings.Join(names, ", ")
			}
			return fmt.Errorf("--bind %s: no such network in this import (%s)", k, have)
		}
		addrs, err := checkAddrs(k, binds[k])
		if err != nil {
			return err
		}
		n.addrs = addrs
	}
	// A DNS name needs no bind: devfence resolves host names in networks
	// at apply and keeps them current with refresh.
	for _, n := range nets {
		if host, ok := strings.CutPrefix(n.key, "dns:"); ok && len(n.addrs) == 0 && compiler.IsHostName(host) {
			n.addrs = []string{host}
		}
	}
	return nil
}
