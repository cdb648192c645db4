package netlink

import (
	"errors"
	"fmt"

	"github.com/google/nftables"
	mnl "github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/devfence/devfence/rules"
)

// readAttempts bounds how often Read retries when the ruleset changed
// while it was reading (a table is read in several dumps).
const readAttempts = 5

// Read decodes the live table into the model: sets with their elements
// (for dynamic sets with expiry and quota use), chains, and rules with
// their handles and comments. It returns ErrNoTable when the table does
// not exist.
func (c *Conn) Read(family, name string) (*rules.Table, error) {
	fam, err := tableFamily(family)
	if err != nil {
		return nil, err
	}
	for range readAttempts {
		before, err := c.Generation()
		if err != nil {
			return nil, err
		}
		t, err := c.read(fam, family, name)
		if err != nil && !errors.Is(err, errChanged) {
			return nil, err
		}
		after, gerr := c.Generation()
		if gerr != nil {
			return nil, gerr
		}
		if err == nil && before == after {
			return t, nil
		}
	}
	return nil, fmt.Errorf("read table %s %s: the ruleset kept changing while it was read", family, name)
}

var errChanged = errors.New("ruleset changed during the dump")

func (c *Conn) read(fam nftables.TableFamily, family, name string) (*rules.Table, error) {
	ok, err := c.tableExists(fam, name)
	if err != nil {
		return nil, fmt.Errorf("read table %s %s: %w", family, name, err)
	}
	if !ok {
		return nil, ErrNoTable
	}
	t := &rules.Table{Family: family, Name: name}
	if t.Sets, err = c.readSets(fam, name); err != nil {
		return nil, err
	}
	for _, s := range t.Sets {
		if err := c.readElements(fam, name, s); err != nil {
			return nil, err
		}
	}
	if t.Chains, err = c.readChains(fam, name); err != nil {
		return nil, err
	}
	byChain, err := c.readRules(fam, name)
	if err != nil {
		return nil, err
	}
	for _, ch := range t.Chains {
		ch.Rules = byChain[ch.Name]
	}
	return t, nil
}

// dump runs a netlink dump request of nf_tables type typ.
func (c *Conn) dump(typ int, family nftables.TableFamily, attrs []mnl.Attribute) ([]mnl.Message, error) {
	data, err := mnl.MarshalAttributes(attrs)
	if err != nil {
		return nil, err
	}
	msgs, err := c.execute(mnl.Message{
		Header: mnl.Header{Type: msgType(typ), Flags: mnl.Request | mnl.Dump},
		Data:   append(nfgenmsg(byte(family)), data...),
	})
	if err != nil {
		if errors.Is(err, unix.EINTR) {
			return nil, errChanged
		}
		return nil, err
	}
	for _, m := range msgs {
		if m.Header.Flags&mnl.DumpInterrupted != 0 {
			return nil, errChanged
		}
	}
	return msgs, nil
}

// decoder4 decodes a message's attributes after its nfgenmsg header.
func decoder4(m mnl.Message) (*mnl.AttributeDecoder, error) {
	if len(m.Data) < 4 {
		return nil, fmt.Errorf("short nf_tables message (%d bytes)", len(m.Data))
	}
	ad, err := mnl.NewAttributeDecoder(m.Data[4:])
	if err != nil {
		return nil, err
	}
	ad.ByteOrder = bigEndian
	return ad, nil
}
