package rules

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// The libnftables JSON form of a transaction (libnftables-json(5)), for
// `nft -j -f` and for tools that speak nft's JSON API rather than its
// language. It is rendered from the same values as the text, command by
// command, so both forms put the same table in force; a kernel test loads
// each into its own namespace and compares what nft lists.

// jsonSchemaVersion is the libnftables JSON schema version the output uses.
const jsonSchemaVersion = 1

// JSON is the transaction as a libnftables JSON document:
// {"nftables": [{"metainfo": ...}, {"add": {"table": ...}}, ...]}. Each
// command sits on its own line, so a diff of two documents shows which
// set, chain or rule changed. Output is deterministic: the same
// transaction always gives the same bytes.
func (tx *Transaction) JSON() ([]byte, error) {
	if tx.err != nil {
		return nil, tx.err
	}
	cmds := []any{map[string]any{"metainfo": map[string]int{"json_schema_version": jsonSchemaVersion}}}
	for _, op := range tx.Ops {
		c, err := opJSON(op)
		if err != nil {
			return nil, err
		}
		cmds = append(cmds, c...)
	}
	var b bytes.Buffer
	b.WriteString("{\"nftables\": [\n")
	for i, c := range cmds {
		line, err := marshal(c)
		if err != nil {
			return nil, err
		}
		b.WriteString("  ")
		b.Write(line)
		if i < len(cmds)-1 {
			b.WriteString(",")
		}
		b.WriteString("\n")
	}
	b.WriteString("]}\n")
	return b.Bytes(), nil
}

// marshal encodes v on one line without HTML escaping: nft reads either, but
// `{"&": ...}` is easier to review than `{"\u0026": ...}`.
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("encode nft json: %w", err)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// The objects of libnftables JSON. Struct fields keep nft's own key order,
// which is also what `nft -j list` prints.
type (
	jTable struct {
		Family string `json:"family"`
		Name   string `json:"name"`
	}
	jSet struct {
		Family  string   `json:"family"`
		Table   string   `json:"table"`
		Name    string   `json:"name"`
		Type    KeyType  `json:"type,omitempty"`
		Comment string   `json:"comment,omitempty"`
		Size    uint32   `json:"size,omitempty"`
		Flags   []string `json:"flags,omitempty"`
		Timeout int64    `json:"timeout,omitempty"` // seconds
		Elem    []any    `json:"elem,omitempty"`
	}
	jElement struct {
		Family string `json:"family"`
		Table  string `json:"table"`
		Name   string `json:"name"`
		Elem   []any  `json:"elem"`
	}
	jChain struct {
		Family string      `json:"family"`
		Table  string      `json:"table"`
		Name   string      `json:"name"`
		Type   string      `json:"type"`
		Hook   Hook        `json:"hook"`
		Prio   int         `json:"prio"`
		Policy VerdictKind `json:"policy"`
	}
	jRule struct {
		Family  string `json:"family"`
		Table   string `json:"table"`
		Chain   string `json:"chain"`
		Comment string `json:"comment,omitempty"`
		Expr    []any  `json:"expr"`
	}
	jMatch struct {
		Op    string `json:"op"`
		Left  any    `json:"left"`
		Right any    `json:"right"`
	}
	jPayloadField struct {
		Protocol string `json:"protocol"`
		Field    string `json:"field"`
	}
	jPayloadRaw struct {
		Base   string `json:"base"`
		Offset uint32 `json:"offset"` // bits
		Len    int    `json:"len"`    // bits
	}
	jPrefix struct {
		Addr string `json:"addr"`
		Len  int    `json:"len"`
	}
	jDynset struct {
		Op   SetOp  `json:"op"`
		Elem any    `json:"elem"`
		Set  string `json:"set"`
		Stmt []any  `json:"stmt,omitempty"`
	}
	jQuota struct {
		Val     uint64 `json:"val"`
		ValUnit string `json:"val_unit"`
	}
	jLimit struct {
		Rate      uint64 `json:"rate"`
		RateUnit  string `json:"rate_unit,omitempty"`
		Per       string `json:"per"`
		Burst     uint32 `json:"burst"`
		BurstUnit string `json:"burst_unit,omitempty"`
	}
	jFib struct {
		Result string   `json:"result"`
		Flags  []string `json:"flags"`
	}
	jLog struct {
		Prefix string `json:"prefix"`
		Group  uint16 `json:"group"`
	}
	jMangle struct {
		Key   any `json:"key"`
		Value any `json:"value"`
	}
)

func hex32(v uint32) string { return fmt.Sprintf("0x%x", v) }

// obj is a one-key JSON object, the shape of every nft command, object,
// statement and expression.
func obj(key string, v any) map[string]any { return map[string]any{key: v} }

func opJSON(op Op) ([]any, error) {
	switch {
	case op.Table != nil && op.Verb == VerbAdd:
		return tableJSON(op.Table)
	case op.Table != nil && op.Verb == VerbDelete:
		return []any{obj("delete", obj("table", jTable{op.Table.Family, op.Table.Name}))}, nil
	case op.Table != nil:
		return nil, fmt.Errorf("nft json: %s of a table is not supported", op.Verb)
	case op.Verb == VerbFlush:
		return []any{obj("flush", obj("set", jSet{Family: op.Family, Table: op.TableRef, Name: op.Set}))}, nil
	case op.Verb == VerbAdd:
		if len(op.Elements) == 0 {
			// As in the text, nothing to add is no command at all.
			return nil, nil
		}
		elems, err := elementsJSON(op.Elements)
		if err != nil {
			return nil, fmt.Errorf("set %s: %w", op.Set, err)
		}
		return []any{obj("add", obj("element", jElement{op.Family, op.TableRef, op.Set, elems}))}, nil
	}
	return nil, fmt.Errorf("nft json: %s of set elements is not supported", op.Verb)
}

// tableJSON adds the table, then its sets (with their elements), then its
// chains, then the rules of each chain in order: every object exists
// before a later one refers to it.
func tableJSON(t *Table) ([]any, error) {
	out := []any{obj("add", obj("table", jTable{t.Family, t.Name}))}
	for _, s := range t.Sets {
		js, err := setJSON(t, s)
		if err != nil {
			return nil, fmt.Errorf("set %s: %w", s.Name, err)
		}
		out = append(out, obj("add", obj("set", js)))
	}
	for _, c := range t.Chains {
		out = append(out, obj("add", obj("chain", jChain{
			Family: t.Family, Table: t.Name, Name: c.Name,
			Type: "filter", Hook: c.Hook, Prio: c.Priority, Policy: c.Policy,
		})))
	}
	for _, c := range t.Chains {
		for i, r := range c.Rules {
			expr, err := stmtsJSON(r.Stmts)
			if err != nil {
				return nil, fmt.Errorf("chain %s rule %d (%s): %w", c.Name, i+1, r.Comment, err)
			}
			out = append(out, obj("add", obj("rule", jRule{
				Family: t.Family, Table: t.Name, Chain: c.Name, Comment: clean(r.Comment), Expr: expr,
			})))
		}
	}
	return out, nil
}

func setJSON(t *Table, s *Set) (jSet, error) {
	// The comment is ignored by nft 1.0.6's JSON parser but kept for the
	// reader of the document and for nft versions that take it.
	js := jSet{Family: t.Family, Table: t.Name, Name: s.Name, Type: s.Key, Comment: clean(s.Comment), Size: s.Size}
	// No "dynamic": nft 1.0.6 refuses it in JSON ("Invalid set flag") and
	// sets the flag itself on every set that a rule adds to or updates,
	// which are the only sets where it matters.
	for _, f := range []struct {
		bit  SetFlags
		name string
	}{{FlagInterval, "interval"}, {FlagTimeout, "timeout"}} {
		if s.Flags&f.bit != 0 {
			js.Flags = append(js.Flags, f.name)
		}
	}
	if s.Timeout > 0 {
		// libnftables JSON gives set timeouts in whole seconds only.
		if s.Timeout%time.Second != 0 {
			return js, fmt.Errorf("timeout %s is not whole seconds, which nft json cannot express", s.Timeout)
		}
		js.Timeout = int64(s.Timeout / time.Second)
	}
	// Dynamic sets hold state, not configuration: their elements are never
	// rendered, as in the text.
	if !s.Dynamic() && len(s.Elements) > 0 {
		elems, err := elementsJSON(s.Elements)
		if err != nil {
			return js, err
		}
		js.Elem = elems
	}
	return js, nil
}

// elementsJSON writes elements the way the text does: an address, a
// prefix, a range, or the number of an nf_proto key.
func elementsJSON(elems []Element) ([]any, error) {
	out := make([]any, 0, len(elems))
	for _, e := range elems {
		switch {
		case !e.From.IsValid():
			out = append(out, e.Proto)
		case !e.To.IsValid() || e.From.Is4() != e.To.Is4():
			return nil, fmt.Errorf("element %s has no valid end of its family", e)
		case e.From == e.To:
			out = append(out, e.From.String())
		default:
			if p, ok := e.Prefix(); ok {
				out = append(out, obj("prefix", jPrefix{p.Addr().String(), p.Bits()}))
			} else {
				out = append(out, obj("range", []string{e.From.String(), e.To.String()}))
			}
		}
	}
	return out, nil
}

func stmtsJSON(stmts []Stmt) ([]any, error) {
	out := make([]any, 0, len(stmts))
	for _, s := range stmts {
		j, err := stmtJSON(s)
		if err != nil {
			return nil, err
		}
		out = append(out, j)
	}
	return out, nil
}

// errNoJSON marks a statement that has no JSON form; callers wrap it with
// the rule that holds it.
var errNoJSON = errors.New("has no nft json form")

func match(op string, left, right any) any { return obj("match", jMatch{op, left, right}) }

// flagMatch is a bitmask test on left: "in" is JSON's name for the implicit
// flag test that `ct state a,b` is in the text, and "!" the negated one
// that nft lists as `ct status ! assured`.
func flagMatch(left any, what string, names []string, neg bool) (any, error) {
	if len(names) == 0 {
		return nil, fmt.Errorf("%s match without flags: %w", what, errNoJSON)
	}
	var right any = names
	if len(names) == 1 {
		right = names[0]
	}
	op := "in"
	if neg {
		op = "!"
	}
	return match(op, left, right), nil
}

func eq(neg bool) string {
	if neg {
		return "!="
	}
	return "=="
}

func payload(proto, field string) any { return obj("payload", jPayloadField{proto, field}) }

// stmtJSON is the JSON statement of one Stmt, mirroring its String.
func stmtJSON(s Stmt) (any, error) {
	switch s := s.(type) {
	case Meta:
		v := s.Value
		if s.Key == MetaIIF || s.Key == MetaOIF {
			// The text quotes interface names; the same cleaning keeps the
			// two forms equal.
			v = clean(v)
		}
		if n, err := strconv.ParseUint(v, 10, 8); err == nil && s.Key == MetaL4Proto {
			// A protocol without a name is a number in the text too.
			return match("==", obj("meta", obj("key", s.Key)), n), nil
		}
		return match("==", obj("meta", obj("key", s.Key)), v), nil
	case CtState:
		var names []string
		for _, st := range ctStateNames {
			if s.States&st.bit != 0 {
				names = append(names, st.name)
			}
		}
		return flagMatch(obj("ct", obj("key", "state")), "ct state", names, false)
	case CtStatus:
		return flagMatch(obj("ct", obj("key", "status")), "ct status", s.names(), s.Neg)
	case TCPFlags:
		return flagMatch(payload("tcp", "flags"), "tcp flags", s.names(), s.Neg)
	case CtMark:
		// Hex strings, which nft parses as the integers they are, read
		// better than 2147483648.
		return match("==", obj("&", []any{obj("ct", obj("key", "mark")), hex32(s.Mask)}), hex32(s.Value)), nil
	case CtMarkOr:
		// nft's JSON name for a statement that writes a packet or
		// connection field is "mangle".
		return obj("mangle", jMangle{Key: obj("ct", obj("key", "mark")),
			Value: obj("|", []any{obj("ct", obj("key", "mark")), hex32(s.Bits)})}), nil
	case PayloadPresent:
		return match("==", obj("&", []any{obj("payload", jPayloadRaw{Base: "ih", Offset: 0, Len: 8}), 0}), 0), nil
	case CtDirection:
		dir := "original"
		if s.Reply {
			dir = "reply"
		}
		return match("==", obj("ct", obj("key", "direction")), dir), nil
	case AddrMatch:
		var right any
		switch {
		case s.Set != "":
			right = "@" + s.Set
		case !s.Prefix.IsValid():
			return nil, fmt.Errorf("%s: address match without set or prefix: %w", s.Family.Proto(), errNoJSON)
		case s.Prefix.IsSingleIP():
			right = s.Prefix.Addr().String()
		default:
			right = obj("prefix", jPrefix{s.Prefix.Addr().String(), s.Prefix.Bits()})
		}
		return match(eq(s.Neg), payload(s.Family.Proto(), s.Field.addr()), right), nil
	case PortMatch:
		var right any = s.Lo
		if s.Lo != s.Hi {
			right = obj("range", []uint16{s.Lo, s.Hi})
		}
		return match("==", payload(s.Proto, s.Field.port()), right), nil
	case ICMPType:
		proto, names := "icmp", icmpNames
		if s.V6 {
			proto, names = "icmpv6", icmpv6Names
		}
		var right any = s.Type
		if name, ok := names[s.Type]; ok {
			right = name
		}
		return match("==", payload(proto, "type"), right), nil
	case HopLimit:
		return match("==", payload("ip6", "hoplimit"), s.Value), nil
	case InnerPayload:
		if len(s.Data) == 0 {
			return nil, fmt.Errorf("empty @ih match: %w", errNoJSON)
		}
		// A hex string, not a JSON number: a clear-to-send banner may be
		// longer than any number JSON readers keep exactly, and nft parses
		// "0x..." for an integer of any width, as in the text.
		return match("==",
			obj("payload", jPayloadRaw{Base: "ih", Offset: s.Offset * 8, Len: len(s.Data) * 8}),
			"0x"+hex.EncodeToString(s.Data)), nil
	case TCPDataOffset:
		return match("==", payload("tcp", "doff"), s.Words), nil
	case TransportPayload:
		if len(s.Data) == 0 {
			return nil, fmt.Errorf("empty @th match: %w", errNoJSON)
		}
		return match("==",
			obj("payload", jPayloadRaw{Base: "th", Offset: s.Offset * 8, Len: len(s.Data) * 8}),
			"0x"+hex.EncodeToString(s.Data)), nil
	case TransportPayloadPresent:
		return match("==", obj("&", []any{obj("payload", jPayloadRaw{Base: "th", Offset: s.Offset * 8, Len: 8}), 0}), 0), nil
	case FibSaddrLocal:
		return match(eq(s.Neg), obj("fib", jFib{Result: "type", Flags: []string{"saddr"}}), "local"), nil
	case DynsetUpdate:
		d := jDynset{Op: s.Op, Elem: keyJSON(s.Key), Set: "@" + s.Set}
		switch {
		case s.Quota > 0 && s.Limit != nil:
			return nil, fmt.Errorf("set statement with both a quota and a limit: %w", errNoJSON)
		case s.Quota > 0:
			// "until" is nft's default quota (inv false): it matches while
			// budget is left, which is what makes the meter fail closed.
			d.Stmt = []any{obj("quota", jQuota{Val: s.Quota, ValUnit: "bytes"})}
		case s.Limit != nil:
			// Not "over": it matches while the key's rate holds.
			d.Stmt = []any{obj("limit", limitJSON(*s.Limit))}
		}
		return obj("set", d), nil
	case Limit:
		return obj("limit", limitJSON(s)), nil
	case Log:
		return obj("log", jLog{Prefix: clean(s.Prefix), Group: s.Group}), nil
	case Counter:
		// Values are state, never configuration (see Counter): an
		// anonymous counter starting at zero, like the text's "counter".
		return obj("counter", nil), nil
	case Verdict:
		return obj(string(s.Kind), nil), nil
	case Raw:
		return nil, fmt.Errorf("raw statement %q: %w", s.Text, errNoJSON)
	}
	return nil, fmt.Errorf("statement %T: %w", s, errNoJSON)
}

// keyJSON is the element expression of a set statement: an address,
// masked to its prefix when Bits asks, or the packet's family.
func keyJSON(k Key) any {
	if k.NFProto {
		return obj("meta", obj("key", MetaNFProto))
	}
	addr := payload(k.Family.Proto(), k.Field.addr())
	if k.Bits > 0 && k.Bits < k.bitLen() {
		return obj("&", []any{addr, k.Mask().String()})
	}
	return addr
}

// clean is the content of the text's quoted string (see quote), so that a
// comment or prefix reads the same in both forms.
func clean(s string) string {
	q := quote(s)
	return q[1 : len(q)-1]
}

// limitJSON is a limit as libnftables writes it: units only for bytes.
func limitJSON(l Limit) jLimit {
	j := jLimit{Rate: l.Rate, Per: l.Unit, Burst: l.Burst}
	if l.Bytes {
		j.RateUnit, j.BurstUnit = "bytes", "bytes"
	}
	return j
}
