package device

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/devfence/devfence/rules"
)

// saved is a table as the state dir keeps it: the model in JSON, so it
// can be put back over netlink, no nft binary needed.
type saved struct {
	Family string      `json:"family"`
	Name   string      `json:"name"`
	Exists bool        `json:"exists"` // false: there was no table, restoring removes it
	Table  *savedTable `json:"table,omitempty"`
	Saved  time.Time   `json:"saved"`
}

type savedTable struct {
	Sets   []*savedSet   `json:"sets"`
	Chains []*savedChain `json:"chains"`
}

// savedSet keeps elements as their nft text ("192.0.2.0/24", "a-b"): a
// set may hold 100,000 of them, and the state dir is often on flash.
type savedSet struct {
	Name     string         `json:"name"`
	Key      rules.KeyType  `json:"key"`
	Flags    rules.SetFlags `json:"flags"`
	Size     uint32         `json:"size,omitempty"`
	Timeout  time.Duration  `json:"timeout,omitempty"`
	Comment  string         `json:"comment,omitempty"`
	Elements []string       `json:"elements,omitempty"`
}

type savedChain struct {
	Name     string            `json:"name"`
	Hook     rules.Hook        `json:"hook"`
	Priority int               `json:"priority"`
	Policy   rules.VerdictKind `json:"policy"`
	Rules    []*savedRule      `json:"rules"`
}

type savedRule struct {
	Stmts   []savedStmt `json:"stmts"`
	Comment string      `json:"comment,omitempty"`
}

// savedStmt tags a statement with its type, since rules.Stmt is an
// interface.
type savedStmt struct {
	Type  string          `json:"type"`
	Value json.RawMessage `json:"value"`
}

// stmtTypes are the statement types a saved table may hold, by name.
var stmtTypes = func() map[string]reflect.Type {
	m := map[string]reflect.Type{}
	for _, s := range []rules.Stmt{
		rules.Meta{}, rules.CtState{}, rules.CtStatus{}, rules.CtMark{}, rules.CtMarkOr{}, rules.TCPFlags{}, rules.CtDirection{},
		rules.AddrMatch{}, rules.PortMatch{}, rules.ICMPType{}, rules.HopLimit{}, rules.InnerPayload{},
		rules.PayloadPresent{}, rules.TCPDataOffset{}, rules.TransportPayload{}, rules.TransportPayloadPresent{},
		rules.FibSaddrLocal{}, rules.DynsetUpdate{},
		rules.Limit{}, rules.Log{}, rules.Counter{}, rules.Verdict{}, rules.Raw{},
	} {
		t := reflect.TypeOf(s)
		m[t.Name()] = t
	}
	return m
}()

func save(family, name string, t *rules.Table) (*saved, error) {
	s := &saved{Family: family, Name: name, Exists: t != nil, Saved: time.Now().UTC()}
	if t == nil {
		return s, nil
	}
	st := &savedTable{}
	for _, set := range t.Sets {
		ss := &savedSet{Name: set.Name, Key: set.Key, Flags: set.Flags, Size: set.Size, Timeout: set.Timeout, Comment: set.Comment}
		if !set.Dynamic() { // a dynamic set's elements are datapath state, not configuration
			ss.Elements = make([]string, len(set.Elements))
			for i, e := range set.Elements {
				ss.Elements[i] = e.String()
			}
		}
		st.Sets = append(st.Sets, ss)
	}
	for _, ch := range t.Chains {
		sc := &savedChain{Name: ch.Name, Hook: ch.Hook, Priority: ch.Priority, Policy: ch.Policy}
		for _, r := range ch.Rules {
			sr := &savedRule{Comment: r.Comment}
			for _, stmt := range r.Stmts {
				typ := reflect.TypeOf(stmt)
				if stmtTypes[typ.Name()] != typ {
					return nil, fmt.Errorf("save rule %q: statement type %T is not registered", r, stmt)
				}
				v, err := json.Marshal(stmt)
				if err != nil {
					return nil, fmt.Errorf("save rule %q: %w", r, err)
				}
				sr.Stmts = append(sr.Stmts, savedStmt{Type: typ.Name(), Value: v})
			}
			sc.Rules = append(sc.Rules, sr)
		}
		st.Chains = append(st.Chains, sc)
	}
	s.Table = st
	return s, nil
}

// table rebuilds the saved table; nil when there was none.
func (s *saved) table() (*rules.Table, error) {
	if !s.Exists {
		return nil, nil
	}
	if s.Table == nil {
		return nil, errors.New("saved table has no content")
	}
	t := &rules.Table{Family: s.Family, Name: s.Name}
	for _, ss := range s.Table.Sets {
		set := &rules.Set{Name: ss.Name, Key: ss.Key, Flags: ss.Flags, Size: ss.Size, Timeout: ss.Timeout, Comment: ss.Comment}
		for _, text := range ss.Elements {
			e, err := parseElement(ss.Key, text)
			if err != nil {
				return nil, fmt.Errorf("saved set %s: %w", ss.Name, err)
			}
			set.Elements = append(set.Elements, e)
		}
		t.Sets = append(t.Sets, set)
	}
	for _, sc := range s.Table.Chains {
		ch := &rules.Chain{Name: sc.Name, Hook: sc.Hook, Priority: sc.Priority, Policy: sc.Policy}
		for _, sr := range sc.Rules {
			r := &rules.Rule{Comment: sr.Comment}
			for _, ss := range sr.Stmts {
				typ, ok := stmtTypes[ss.Type]
				if !ok {
					return nil, fmt.Errorf("saved rule %q: unknown statement type %q", sr.Comment, ss.Type)
				}
				v := reflect.New(typ)
				if err := json.Unmarshal(ss.Value, v.Interface()); err != nil {
					return nil, fmt.Errorf("saved rule %q: %s: %w", sr.Comment, ss.Type, err)
				}
				r.Stmts = append(r.Stmts, v.Elem().Interface().(rules.Stmt))
			}
			ch.Rules = append(ch.Rules, r)
		}
		t.Chains = append(t.Chains, ch)
	}
	return t, nil
}

// parseElement reads an element back from its nft text.
func parseElement(key rules.KeyType, text string) (rules.Element, error) {
	if key == rules.KeyNFProto {
		n, err := strconv.ParseUint(text, 10, 8)
		if err != nil {
			return rules.Element{}, fmt.Errorf("element %q: %w", text, err)
		}
		return rules.Element{Proto: byte(n)}, nil
	}
	if from, to, ok := strings.Cut(text, "-"); ok {
		a, err1 := netip.ParseAddr(from)
		b, err2 := netip.ParseAddr(to)
		if err := errors.Join(err1, err2); err != nil {
			return rules.Element{}, fmt.Errorf("element %q: %w", text, err)
		}
		return rules.Element{From: a, To: b}, nil
	}
	if strings.Contains(text, "/") {
		p, err := netip.ParsePrefix(text)
		if err != nil {
			return rules.Element{}, fmt.Errorf("element %q: %w", text, err)
		}
		return rules.Range(p), nil
	}
	a, err := netip.ParseAddr(text)
	if err != nil {
		return rules.Element{}, fmt.Errorf("element %q: %w", text, err)
	}
	return rules.Addr(a), nil
}

func (s *saved) ref() string { return s.Family + " " + s.Name }
