package netlink

import (
	"fmt"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	mnl "github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/devfence/devfence/rules"
)

// maxComment is the longest comment the userdata TLV (one length byte,
// including the terminating NUL) can hold; nft refuses longer ones too.
const maxComment = 254

func (b *batch) addRule(t *nftables.Table, ch *nftables.Chain, r *rules.Rule) error {
	exprs, err := encodeStmts(r.Stmts, b.c, func(name string) uint32 {
		if s, ok := b.sets[name]; ok {
			return s.ID
		}
		return 0
	})
	if err != nil {
		return fmt.Errorf("rule %q in chain %s: %w", r.Comment, ch.Name, err)
	}
	nr := &nftables.Rule{Table: t, Chain: ch, Exprs: exprs}
	if r.Comment != "" {
		if len(r.Comment) > maxComment {
			return fmt.Errorf("rule %q in chain %s: comment longer than %d bytes", r.Comment, ch.Name, maxComment)
		}
		// nft's comment TLV (NFTNL_UDATA_RULE_COMMENT), so that
		// `nft list` shows it.
		nr.UserData = userdata.AppendString(nil, userdata.TypeComment, r.Comment)
	}
	b.nft.AddRule(nr)
	b.note(ruleName(r, ch.Name), &ruleMsg{table: t.Name, chain: ch.Name, exprs: exprs})
	b.stats.Rules++
	return nil
}

func ruleName(r *rules.Rule, chain string) string {
	if r.Comment == "" {
		return fmt.Sprintf("rule %q in chain %s", r.String(), chain)
	}
	return fmt.Sprintf("rule %q in chain %s", r.Comment, chain)
}

// ruleMsg keeps what is needed to find which expression of a rule message
// the kernel pointed at in an extended ack.
type ruleMsg struct {
	table, chain string
	exprs        []expr.Any
}

// exprAt returns the index of the expression whose attribute contains
// byte offset off of the NEWRULE message (counted from its netlink
// header), replaying google/nftables' layout: nfgenmsg, table, chain,
// rule ID, then the expression list.
func (m *ruleMsg) exprAt(family byte, off int) (int, bool) {
	pos := unix.NLMSG_HDRLEN + 4
	pos += attrLen(len(m.table) + 1)
	pos += attrLen(len(m.chain) + 1)
	pos += attrLen(4) // NFTA_RULE_ID
	pos += 4          // NFTA_RULE_EXPRESSIONS header
	for i, e := range m.exprs {
		b, err := expr.Marshal(family, e)
		if err != nil {
			return 0, false
		}
		n := attrLen(len(b))
		if off >= pos && off < pos+n {
			return i, true
		}
		pos += n
	}
	return 0, false
}

func attrLen(payload int) int { return (4 + payload + 3) &^ 3 }

// readRules lists the table's rules by chain, in order.
func (c *Conn) readRules(family nftables.TableFamily, table string) (map[string][]*rules.Rule, error) {
	msgs, err := c.dump(unix.NFT_MSG_GETRULE, family, []mnl.Attribute{{Type: unix.NFTA_RULE_TABLE, Data: cstring(table)}})
	if err != nil {
		return nil, fmt.Errorf("list rules: %w", err)
	}
	out := map[string][]*rules.Rule{}
	for _, m := range msgs {
		tbl, chain, r, err := decodeRule(m, byte(family), c)
		if err != nil {
			return nil, err
		}
		if tbl == table {
			out[chain] = append(out[chain], r)
		}
	}
	return out, nil
}

// decodeRule decodes one NEWRULE message of a dump: the rule and the
// table and chain it is in.
func decodeRule(m mnl.Message, family byte, names namer) (table, chain string, r *rules.Rule, err error) {
	ad, err := decoder4(m)
	if err != nil {
		return "", "", nil, err
	}
	r = &rules.Rule{}
	var ks []kexpr
	for ad.Next() {
		switch ad.Type() {
		case unix.NFTA_RULE_TABLE:
			table = ad.String()
		case unix.NFTA_RULE_CHAIN:
			chain = ad.String()
		case unix.NFTA_RULE_HANDLE:
			r.Handle = ad.Uint64()
		case unix.NFTA_RULE_USERDATA:
			if c, ok := userdataString(ad.Bytes(), userdata.TypeComment); ok {
				r.Comment = c
			}
		case unix.NFTA_RULE_EXPRESSIONS:
			ad.Nested(func(list *mnl.AttributeDecoder) error {
				ks = decodeExprList(list, family)
				return nil
			})
		}
	}
	if err := ad.Err(); err != nil {
		return "", "", nil, fmt.Errorf("decode rule: %w", err)
	}
	r.Stmts = decodeExprs(ks, names)
	return table, chain, r, nil
}

// parseExpr decodes one expression with google/nftables' types; nil when
// it has none for the name or the data does not parse (the caller then
// describes the raw expression).
func parseExpr(family byte, name string, data []byte) expr.Any {
	var e expr.Any
	switch name {
	case "meta":
		e = &expr.Meta{}
	case "cmp":
		e = &expr.Cmp{}
	case "payload":
		e = &expr.Payload{}
	case "bitwise":
		e = &expr.Bitwise{}
	case "lookup":
		e = &expr.Lookup{}
	case "ct":
		e = &expr.Ct{}
	case "immediate":
		e = &expr.Immediate{}
	case "counter":
		e = &expr.Counter{}
	case "dynset":
		e = &expr.Dynset{}
	case "quota":
		e = &expr.Quota{}
	case "limit":
		e = &expr.Limit{}
	case "log":
		e = &expr.Log{}
	case "fib":
		e = &expr.Fib{}
	case "range":
		e = &expr.Range{}
	case "reject":
		e = &expr.Reject{}
	case "nat":
		e = &expr.NAT{}
	case "masq":
		e = &expr.Masq{}
	case "redir":
		e = &expr.Redir{}
	case "objref":
		e = &expr.Objref{}
	case "exthdr":
		e = &expr.Exthdr{}
	case "queue":
		e = &expr.Queue{}
	case "connlimit":
		e = &expr.Connlimit{}
	case "hash":
		e = &expr.Hash{}
	case "numgen":
		e = &expr.Numgen{}
	case "notrack":
		return &expr.Notrack{}
	default:
		return nil
	}
	data, err := withoutPads(name, data)
	if err != nil {
		return nil
	}
	if !unmarshal(family, data, e) {
		return nil
	}
	// A verdict is an immediate into the verdict register.
	if imm, ok := e.(*expr.Immediate); ok && imm.Register == unix.NFT_REG_VERDICT && len(imm.Data) == 0 {
		v := &expr.Verdict{}
		if !unmarshal(family, data, v) {
			return nil
		}
		return v
	}
	return e
}

// unmarshal is expr.Unmarshal, made total: google/nftables' decoders read
// fixed-size attributes without checking their length (a log expression
// whose group attribute is empty panicked, found by FuzzDecodeRule), and
// what the kernel lists was written by whoever holds CAP_NET_ADMIN. An
// expression that does not parse is described raw instead.
func unmarshal(family byte, data []byte, e expr.Any) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	return expr.Unmarshal(family, data, e) == nil
}

// decodeExprList reads a rule's NFTA_RULE_EXPRESSIONS list: each
// expression's name, raw data and parsed form.
func decodeExprList(list *mnl.AttributeDecoder, family byte) []kexpr {
	var ks []kexpr
	for list.Next() {
		var k kexpr
		list.Nested(func(nd *mnl.AttributeDecoder) error {
			for nd.Next() {
				switch nd.Type() {
				case unix.NFTA_EXPR_NAME:
					k.name = nd.String()
				case unix.NFTA_EXPR_DATA:
					k.data = nd.Bytes()
				}
			}
			return nil
		})
		k.e = parseExpr(family, k.name, k.data)
		ks = append(ks, k)
	}
	return ks
}
