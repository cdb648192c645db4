package netlink

import (
	"fmt"

	"github.com/google/nftables"
	mnl "github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/devfence/devfence/rules"
)

var hooks = map[rules.Hook]nftables.ChainHook{
	"prerouting":      unix.NF_INET_PRE_ROUTING,
	rules.HookInput:   unix.NF_INET_LOCAL_IN,
	rules.HookForward: unix.NF_INET_FORWARD,
	rules.HookOutput:  unix.NF_INET_LOCAL_OUT,
	"postrouting":     unix.NF_INET_POST_ROUTING,
}

func (b *batch) addChain(t *nftables.Table, c *rules.Chain) (*nftables.Chain, error) {
	nc, err := chainObject(t, c)
	if err != nil {
		return nil, err
	}
	b.nft.AddChain(nc)
	b.note(chainWhat(c.Name), nil)
	b.stats.Chains++
	return nc, nil
}

// chainObject is c as google/nftables sends it.
func chainObject(t *nftables.Table, c *rules.Chain) (*nftables.Chain, error) {
	nc := &nftables.Chain{Name: c.Name, Table: t}
	if c.Hook == "" {
		return nc, nil
	}
	h, ok := hooks[c.Hook]
	if !ok {
		return nil, fmt.Errorf("chain %s: hook %q", c.Name, c.Hook)
	}
	var policy nftables.ChainPolicy
	switch c.Policy {
	case rules.Accept:
		policy = nftables.ChainPolicyAccept
	case rules.Drop:
		policy = nftables.ChainPolicyDrop
	default:
		return nil, fmt.Errorf("chain %s: policy %q", c.Name, c.Policy)
	}
	nc.Hooknum = nftables.ChainHookRef(h)
	nc.Priority = nftables.ChainPriorityRef(nftables.ChainPriority(c.Priority))
	nc.Policy = &policy
	nc.Type = nftables.ChainTypeFilter
	return nc, nil
}

// chainWhat names a chain's message in a RefusedError.
func chainWhat(name string) string { return "chain " + name }

// readChains lists the table's chains in kernel order (creation order,
// which is the order `nft list` shows).
func (c *Conn) readChains(family nftables.TableFamily, table string) ([]*rules.Chain, error) {
	msgs, err := c.dump(unix.NFT_MSG_GETCHAIN, family, []mnl.Attribute{{Type: unix.NFTA_CHAIN_TABLE, Data: cstring(table)}})
	if err != nil {
		return nil, fmt.Errorf("list chains: %w", err)
	}
	var out []*rules.Chain
	for _, m := range msgs {
		ad, err := decoder4(m)
		if err != nil {
			return nil, err
		}
		ch := &rules.Chain{}
		var tbl string
		for ad.Next() {
			switch ad.Type() {
			case unix.NFTA_CHAIN_TABLE:
				tbl = ad.String()
			case unix.NFTA_CHAIN_NAME:
				ch.Name = ad.String()
			case unix.NFTA_CHAIN_POLICY:
				if ad.Uint32() == uint32(nftables.ChainPolicyAccept) {
					ch.Policy = rules.Accept
				} else {
					ch.Policy = rules.Drop
				}
			case unix.NFTA_CHAIN_HOOK:
				ad.Nested(func(nd *mnl.AttributeDecoder) error {
					for nd.Next() {
						switch nd.Type() {
						case unix.NFTA_HOOK_HOOKNUM:
							num := nftables.ChainHook(nd.Uint32())
							ch.Hook = rules.Hook(fmt.Sprintf("hook%d", num))
							for name, h := range hooks {
								if h == num {
									ch.Hook = name
								}
							}
						case unix.NFTA_HOOK_PRIORITY:
							ch.Priority = int(int32(nd.Uint32()))
						}
					}
					return nil
				})
			}
		}
		if err := ad.Err(); err != nil {
			return nil, fmt.Errorf("decode chain: %w", err)
		}
		if tbl == table {
			out = append(out, ch)
		}
	}
	return out, nil
}
