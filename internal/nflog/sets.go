package nflog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// Meter is the state of one element of a quota set, as the kernel has it.
type Meter struct {
	Used    uint64        // bytes counted, including refused packets
	Budget  uint64        // the quota; 0 when the element has none
	Expires time.Duration // time left in the element's window
}

// Spent reports whether the budget is used up: the kernel refuses a packet
// once the bytes counted (that packet's included) pass the budget.
func (m Meter) Spent() bool { return m.Budget > 0 && m.Used >= m.Budget }

// SetReader reads quota sets of the live table. Classifier uses it; tests
// give it a fake.
type SetReader interface {
	// Element returns the element of set whose key is key; found is false
	// when the set has no such element.
	Element(set string, key []byte) (m Meter, found bool, err error)
	// Count returns how many elements set holds.
	Count(set string) (int, error)
}

// NFTSets reads the sets of one inet table over nf_tables netlink.
//
// It asks for one element by key (NFT_MSG_GETSETELEM without NLM_F_DUMP)
// rather than listing the set, and decodes the element's quota expression
// itself: google/nftables' GetSetElements lists whole sets and keeps only a
// counter expression of each element, not a quota. Counting a set does list
// it, so counts are cached for a second: logs come rate-limited, but a
// burst should not list a 65536-element set for every packet.
type NFTSets struct {
	nl    *netlink.Conn
	table string
	now   func() time.Time
	count map[string]cachedCount
}

type cachedCount struct {
	n  int
	at time.Time
}

const countTTL = time.Second

// dialSets opens a nf_tables socket in the calling thread's namespace.
func dialSets(table string) (*NFTSets, error) {
	nl, err := netlink.Dial(unix.NETLINK_NETFILTER, nil)
	if err != nil {
		return nil, fmt.Errorf("nf_tables netlink socket: %w", err)
	}
	return &NFTSets{nl: nl, table: table, now: time.Now, count: map[string]cachedCount{}}, nil
}

// Close closes the socket.
func (s *NFTSets) Close() error { return s.nl.Close() }

// Element implements SetReader.
func (s *NFTSets) Element(set string, key []byte) (Meter, bool, error) {
	msgs, err := s.nl.Execute(s.request(set, key, netlink.Request))
	if errors.Is(err, unix.ENOENT) {
		// No such element; a missing set or table is ENOENT too, which
		// Count, called next for an absent element, tells apart.
		return Meter{}, false, nil
	}
	if err != nil {
		return Meter{}, false, fmt.Errorf("reading set %s of table inet %s: %w", set, s.table, err)
	}
	var m Meter
	found := false
	err = eachElement(msgs, func(ad *netlink.AttributeDecoder) {
		found = true
		m = decodeMeter(ad)
	})
	return m, found, err
}

// Count implements SetReader.
func (s *NFTSets) Count(set string) (int, error) {
	now := s.now()
	if c, ok := s.count[set]; ok && now.Sub(c.at) < countTTL {
		return c.n, nil
	}
	msgs, err := s.nl.Execute(s.request(set, nil, netlink.Request|netlink.Dump))
	if errors.Is(err, unix.ENOENT) {
		return 0, fmt.Errorf("table inet %s has no set %s: is the profile's table loaded (see --table)? %w", s.table, set, err)
	}
	if err != nil {
		return 0, fmt.Errorf("listing set %s of table inet %s: %w", set, s.table, err)
	}
	n := 0
	if err := eachElement(msgs, func(*netlink.AttributeDecoder) { n++ }); err != nil {
		return 0, err
	}
	s.count[set] = cachedCount{n, now}
	return n, nil
}

// request is a NFT_MSG_GETSETELEM for one key, or for the whole set when
// key is nil.
func (s *NFTSets) request(set string, key []byte, flags netlink.HeaderFlags) netlink.Message {
	ae := netlink.NewAttributeEncoder()
	ae.String(unix.NFTA_SET_ELEM_LIST_TABLE, s.table)
	ae.String(unix.NFTA_SET_ELEM_LIST_SET, set)
	if key != nil {
		ae.Nested(unix.NFTA_SET_ELEM_LIST_ELEMENTS, func(ae *netlink.AttributeEncoder) error {
			ae.Nested(unix.NFTA_LIST_ELEM, func(ae *netlink.AttributeEncoder) error {
				ae.Nested(unix.NFTA_SET_ELEM_KEY, func(ae *netlink.AttributeEncoder) error {
					ae.Bytes(unix.NFTA_DATA_VALUE, key)
					return nil
				})
				return nil
			})
			return nil
		})
	}
	attrs, _ := ae.Encode() // only fails on a nested callback error; there are none
	return netlink.Message{
		Header: netlink.Header{
			Type:  netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | unix.NFT_MSG_GETSETELEM),
			Flags: flags,
		},
		Data: append(nfgenmsg(unix.NFPROTO_INET, 0), attrs...),
	}
}

// eachElement calls fn with a decoder over each element of NEWSETELEM
// replies.
func eachElement(msgs []netlink.Message, fn func(*netlink.AttributeDecoder)) error {
	for _, m := range msgs {
		if m.Header.Type != netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8|unix.NFT_MSG_NEWSETELEM) || len(m.Data) < 4 {
			continue
		}
		ad, err := netlink.NewAttributeDecoder(m.Data[4:])
		if err != nil {
			return err
		}
		for ad.Next() {
			if ad.Type() != unix.NFTA_SET_ELEM_LIST_ELEMENTS {
				continue
			}
			ad.Nested(func(list *netlink.AttributeDecoder) error {
				for list.Next() {
					if list.Type() == unix.NFTA_LIST_ELEM {
						list.Nested(func(elem *netlink.AttributeDecoder) error {
							elem.ByteOrder = binary.BigEndian
							fn(elem)
							return nil
						})
					}
				}
				return nil
			})
		}
		if err := ad.Err(); err != nil {
			return err
		}
	}
	return nil
}

// nftaSetElemExpressions (NFTA_SET_ELEM_EXPRESSIONS) lists an element's
// expressions when it has more than one; x/sys/unix does not define it.
const nftaSetElemExpressions = 11

// decodeMeter reads the expiry and the quota expression of one element.
func decodeMeter(ad *netlink.AttributeDecoder) Meter {
	var m Meter
	for ad.Next() {
		switch ad.Type() {
		case unix.NFTA_SET_ELEM_EXPIRATION:
			m.Expires = time.Duration(ad.Uint64()) * time.Millisecond
		case unix.NFTA_SET_ELEM_EXPR:
			ad.Nested(func(e *netlink.AttributeDecoder) error {
				decodeQuota(e, &m)
				return nil
			})
		case nftaSetElemExpressions:
			ad.Nested(func(list *netlink.AttributeDecoder) error {
				for list.Next() {
					list.Nested(func(e *netlink.AttributeDecoder) error {
						decodeQuota(e, &m)
						return nil
					})
				}
				return nil
			})
		}
	}
	return m
}

// decodeQuota reads one expression (NFTA_EXPR_NAME, NFTA_EXPR_DATA) into m
// if it is a quota.
func decodeQuota(e *netlink.AttributeDecoder, m *Meter) {
	var name string
	var data []byte
	for e.Next() {
		switch e.Type() {
		case unix.NFTA_EXPR_NAME:
			name = e.String()
		case unix.NFTA_EXPR_DATA:
			data = e.Bytes()
		}
	}
	if name != "quota" {
		return
	}
	q, err := netlink.NewAttributeDecoder(data)
	if err != nil {
		return
	}
	q.ByteOrder = binary.BigEndian
	for q.Next() {
		switch q.Type() {
		case unix.NFTA_QUOTA_BYTES:
			m.Budget = q.Uint64()
		case unix.NFTA_QUOTA_CONSUMED:
			m.Used = q.Uint64()
		}
	}
}
