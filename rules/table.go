// Package rules is devfence's model of one nftables table: typed values for
// the table, its sets, chains and rules, and the transactions that put them
// in force. A Transaction's String is the `nft -f` text; the netlink
// subpackage encodes the very same values for the kernel.
package rules

// Table is one nftables table with everything in it, in the order it is
// rendered and applied.
type Table struct {
	Family string // always "inet" for devfence
	Name   string
	Sets   []*Set
	Chains []*Chain
}

// Set returns the set called name, or nil.
func (t *Table) Set(name string) *Set {
	for _, s := range t.Sets {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// Chain returns the chain called name, or nil.
func (t *Table) Chain(name string) *Chain {
	for _, c := range t.Chains {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// Ref is how other commands name the table: "inet devfence".
func (t *Table) Ref() string { return t.Family + " " + t.Name }
