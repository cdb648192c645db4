package rules

import (
	"errors"
	"fmt"
	"strings"
)

// Verb is what an operation does to its object.
type Verb string

const (
	VerbAdd    Verb = "add"
	VerbDelete Verb = "delete"
	VerbFlush  Verb = "flush"
)

// Op is one operation of a transaction. Exactly one of its objects is set.
type Op struct {
	Verb Verb
	// Table: add creates it (with everything in it when it has sets or
	// chains); delete removes it whole.
	Table *Table
	// Elements: add puts Elements into the named set of the table; flush
	// empties it first.
	Set      string
	Elements []Element
	Family   string
	TableRef string
}

// Transaction is a list of operations that the kernel applies all or nothing,
// in the knftables style: build it, keep the first error, then run it.
type Transaction struct {
	Ops []Op
	err error
}

// Err is the first error met while building the transaction.
func (tx *Transaction) Err() error { return tx.err }

func (tx *Transaction) fail(err error) {
	if tx.err == nil {
		tx.err = err
	}
}

// Replace returns the transaction that puts t in force in place of whatever
// table of that name exists: create it empty (so the delete cannot fail),
// delete it, then add the full table. Other tables are never named.
func Replace(t *Table) *Transaction {
	tx := &Transaction{}
	if t == nil || t.Name == "" || t.Family == "" {
		tx.fail(errors.New("replace: the table needs a family and a name"))
		return tx
	}
	empty := &Table{Family: t.Family, Name: t.Name}
	tx.Ops = append(tx.Ops,
		Op{Verb: VerbAdd, Table: empty},
		Op{Verb: VerbDelete, Table: empty},
		Op{Verb: VerbAdd, Table: t},
	)
	return tx
}

// Remove returns the transaction that deletes the table if it exists.
func Remove(family, name string) *Transaction {
	empty := &Table{Family: family, Name: name}
	return &Transaction{Ops: []Op{{Verb: VerbAdd, Table: empty}, {Verb: VerbDelete, Table: empty}}}
}

// SetElements returns the transaction that replaces the elements of one
// static set, leaving the rest of the table, and its state, alone.
func SetElements(t *Table, set string, elems []Element) *Transaction {
	tx := &Transaction{}
	if s := t.Set(set); s == nil {
		tx.fail(fmt.Errorf("table %s has no set %q", t.Ref(), set))
		return tx
	}
	tx.Ops = append(tx.Ops,
		Op{Verb: VerbFlush, Set: set, Family: t.Family, TableRef: t.Name},
		Op{Verb: VerbAdd, Set: set, Family: t.Family, TableRef: t.Name, Elements: elems},
	)
	return tx
}

// String is the transaction as `nft -f` text.
func (tx *Transaction) String() string {
	var b strings.Builder
	for _, op := range tx.Ops {
		switch {
		case op.Table != nil && op.Verb == VerbAdd && (len(op.Table.Sets) > 0 || len(op.Table.Chains) > 0):
			WriteTable(&b, op.Table)
		case op.Table != nil && op.Verb == VerbAdd:
			fmt.Fprintf(&b, "table %s\n", op.Table.Ref())
		case op.Table != nil:
			fmt.Fprintf(&b, "%s table %s\n", op.Verb, op.Table.Ref())
		case op.Verb == VerbFlush:
			fmt.Fprintf(&b, "flush set %s %s %s\n", op.Family, op.TableRef, op.Set)
		default:
			elems := make([]string, len(op.Elements))
			for i, e := range op.Elements {
				elems[i] = e.String()
			}
			if len(elems) > 0 {
				fmt.Fprintf(&b, "add element %s %s %s { %s }\n", op.Family, op.TableRef, op.Set, strings.Join(elems, ", "))
			}
		}
	}
	return b.String()
}
