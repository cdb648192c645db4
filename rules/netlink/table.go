package netlink

import (
	"errors"
	"fmt"

	"github.com/google/nftables"
	mnl "github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// families maps nft's family keywords to netlink's.
var families = map[string]nftables.TableFamily{
	"inet": nftables.TableFamilyINet, "ip": nftables.TableFamilyIPv4, "ip6": nftables.TableFamilyIPv6,
	"arp": nftables.TableFamilyARP, "bridge": nftables.TableFamilyBridge, "netdev": nftables.TableFamilyNetdev,
}

func tableFamily(name string) (nftables.TableFamily, error) {
	f, ok := families[name]
	if !ok {
		return 0, fmt.Errorf("unknown table family %q", name)
	}
	return f, nil
}

// addTable queues the creation of the (empty) table. Without NLM_F_EXCL
// an existing table is no error, which is what lets a replace delete it
// unconditionally afterwards.
func (b *batch) addTable(t *nftables.Table) {
	b.nft.AddTable(t)
	b.note(tableWhat(b.ref), nil)
	b.stats.Tables++
}

func (b *batch) delTable(t *nftables.Table) {
	b.nft.DelTable(t)
	b.note(deleteWhat(b.ref), nil)
}

// tableWhat and deleteWhat name a table's messages in a RefusedError.
func tableWhat(ref string) string  { return "table " + ref }
func deleteWhat(ref string) string { return "delete of table " + ref }

// tableExists asks the kernel for one table.
func (c *Conn) tableExists(family nftables.TableFamily, name string) (bool, error) {
	data, err := mnl.MarshalAttributes([]mnl.Attribute{{Type: unix.NFTA_TABLE_NAME, Data: cstring(name)}})
	if err != nil {
		return false, err
	}
	_, err = c.execute(mnl.Message{
		Header: mnl.Header{Type: msgType(unix.NFT_MSG_GETTABLE), Flags: mnl.Request},
		Data:   append(nfgenmsg(byte(family)), data...),
	})
	if errors.Is(err, unix.ENOENT) {
		return false, nil
	}
	return err == nil, err
}

func cstring(s string) []byte { return append([]byte(s), 0) }
