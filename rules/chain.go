package rules

// Hook is the netfilter hook a base chain is attached to.
type Hook string

const (
	HookInput   Hook = "input"
	HookOutput  Hook = "output"
	HookForward Hook = "forward"
)

// PriorityFilter is nftables' "filter" priority (0).
const PriorityFilter = 0

// Chain is a base filter chain with its rules in order.
type Chain struct {
	Name     string
	Hook     Hook
	Priority int
	Policy   VerdictKind
	Rules    []*Rule
}

// Rule is one rule: statements evaluated left to right. Comment is stored in
// the kernel with the rule and names the profile entry that produced it, so
// a kernel error or a live rule can be traced back to the profile.
type Rule struct {
	Stmts   []Stmt
	Comment string
	Handle  uint64 // set only on rules read back from the kernel
}
