package device

import (
	"fmt"
	"strings"

	"github.com/devfence/devfence/rules"
)

// Plan counts what replacing the live table with the compiled one
// changes, as terraform's plan summary does: rules per chain, sets and
// chains added, removed or changed, and static set elements. Dynamic sets'
// elements are the datapath's state, not configuration, and never count.
type Plan struct {
	RulesAdded      int `json:"rules_added"`
	RulesRemoved    int `json:"rules_removed"`
	ChainsAdded     int `json:"chains_added"`
	ChainsRemoved   int `json:"chains_removed"`
	ChainsChanged   int `json:"chains_changed"` // hook, priority or policy
	SetsAdded       int `json:"sets_added"`
	SetsRemoved     int `json:"sets_removed"`
	SetsChanged     int `json:"sets_changed"` // definition or static elements
	ElementsAdded   int `json:"elements_added"`
	ElementsRemoved int `json:"elements_removed"`
}

// PlanChange compares the live table (nil: none in force) with compiled.
// A rule whose text changed counts as one removed and one added.
func PlanChange(live, compiled *rules.Table) Plan {
	var p Plan
	liveChains, liveSets := map[string]*rules.Chain{}, map[string]*rules.Set{}
	if live != nil {
		for _, c := range live.Chains {
			liveChains[c.Name] = c
		}
		for _, s := range live.Sets {
			liveSets[s.Name] = s
		}
	}
	for _, c := range compiled.Chains {
		old, ok := liveChains[c.Name]
		delete(liveChains, c.Name)
		if !ok {
			p.ChainsAdded++
			p.RulesAdded += len(c.Rules)
			continue
		}
		if old.Hook != c.Hook || old.Priority != c.Priority || old.Policy != c.Policy {
			p.ChainsChanged++
		}
		add, rm := multisetDiff(ruleTexts(old.Rules), ruleTexts(c.Rules))
		p.RulesAdded += add
		p.RulesRemoved += rm
	}
	for _, c := range liveChains {
		p.ChainsRemoved++
		p.RulesRemoved += len(c.Rules)
	}
	for _, s := range compiled.Sets {
		old, ok := liveSets[s.Name]
		delete(liveSets, s.Name)
		if !ok {
			p.SetsAdded++
			p.ElementsAdded += len(staticElements(s))
			continue
		}
		add, rm := multisetDiff(staticElements(old), staticElements(s))
		p.ElementsAdded += add
		p.ElementsRemoved += rm
		if add+rm > 0 || setDefinition(old) != setDefinition(s) {
			p.SetsChanged++
		}
	}
	for _, s := range liveSets {
		p.SetsRemoved++
		p.ElementsRemoved += len(staticElements(s))
	}
	return p
}

// Empty reports whether the plan changes nothing.
func (p Plan) Empty() bool { return p == Plan{} }

// String is the one-line summary, e.g. "+12 -3 rules, 2 sets changed,
// 1 element added"; the rule counts always show, the rest when not zero.
func (p Plan) String() string {
	parts := []string{fmt.Sprintf("+%d -%d rules", p.RulesAdded, p.RulesRemoved)}
	for _, n := range []struct {
		count int
		what  string
	}{
		{p.ChainsAdded, "chain% added"}, {p.ChainsRemoved, "chain% removed"}, {p.ChainsChanged, "chain% changed"},
		{p.SetsAdded, "set% added"}, {p.SetsRemoved, "set% removed"}, {p.SetsChanged, "set% changed"},
		{p.ElementsAdded, "element% added"}, {p.ElementsRemoved, "element% removed"},
	} {
		if n.count == 0 {
			continue
		}
		plural := "s"
		if n.count == 1 {
			plural = ""
		}
		parts = append(parts, fmt.Sprintf("%d %s", n.count, strings.Replace(n.what, "%", plural, 1)))
	}
	return strings.Join(parts, ", ")
}

func ruleTexts(rs []*rules.Rule) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.String()
	}
	return out
}

func staticElements(s *rules.Set) []string {
	if s.Dynamic() {
		return nil
	}
	out := make([]string, len(s.Elements))
	for i, e := range s.Elements {
		out[i] = e.String()
	}
	return out
}

func setDefinition(s *rules.Set) string {
	return fmt.Sprintf("%v %v %d %d %q", s.Key, s.Flags, s.Size, s.Timeout, s.Comment)
}

// multisetDiff counts the items of b missing from a (added) and of a
// missing from b (removed), with repeats counted.
func multisetDiff(a, b []string) (added, removed int) {
	n := map[string]int{}
	for _, s := range a {
		n[s]++
	}
	for _, s := range b {
		n[s]--
	}
	for _, c := range n {
		if c > 0 {
			removed += c
		} else {
			added -= c
		}
	}
	return added, removed
}
