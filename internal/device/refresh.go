package device

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/devfence/devfence/rules"
	"github.com/devfence/devfence/rules/netlink"
)

// hostSetMarker is how the compiler marks a set that holds resolved host
// names (its comment ends "; hosts NAME..."): those are the sets refresh
// may rewrite.
const hostSetMarker = "; hosts "

// RefreshResult says what a refresh changed.
type RefreshResult struct {
	Sets  []string // the sets whose elements were replaced
	Stats netlink.Stats
}

// Refresh puts re-resolved host addresses in force: it replaces only the
// elements of the host-name sets that changed, in one transaction, and
// sends nothing when none did. The rest of the table, and the state in
// its dynamic sets, is untouched. A live table that differs from compiled
// in anything else is refused: that needs apply, with its diff.
//
// While an apply --confirm waits (its state in stateDir), refresh refuses:
// the table it would change is about to be confirmed or rolled back.
func Refresh(k Kernel, compiled *rules.Table, stateDir string) (RefreshResult, error) {
	st, err := storeOf(k, stateDir, compiled.Family, compiled.Name)
	if err != nil {
		return RefreshResult{}, err
	}
	l, s, err := open(k, st, "refresh", 0)
	if err != nil {
		return RefreshResult{}, err
	}
	defer l.release()
	if s.Pending != nil {
		return RefreshResult{}, pendingError(s.Pending)
	}
	live, err := readLive(k, compiled.Family, compiled.Name)
	if err != nil {
		return RefreshResult{}, err
	}
	if live == nil {
		return RefreshResult{}, fmt.Errorf("no table %s is in force: run devfence apply first", compiled.Ref())
	}
	if withoutHostElements(live) != withoutHostElements(compiled) {
		return RefreshResult{}, errors.New("the live table differs from the profile in more than host addresses: see devfence diff, then apply")
	}
	tx := &rules.Transaction{}
	var changed []string
	for _, s := range compiled.Sets {
		if !strings.Contains(s.Comment, hostSetMarker) {
			continue
		}
		if elementsText(s) == elementsText(live.Set(s.Name)) {
			continue
		}
		changed = append(changed, s.Name)
		tx.Ops = append(tx.Ops, rules.SetElements(compiled, s.Name, s.Elements).Ops...)
	}
	if len(changed) == 0 {
		return RefreshResult{}, nil
	}
	stats, err := k.Apply(tx)
	if err != nil {
		return RefreshResult{}, err
	}
	return RefreshResult{Sets: changed, Stats: stats}, nil
}

// withoutHostElements renders t with the host-name sets emptied.
func withoutHostElements(t *rules.Table) string {
	c := *t
	c.Sets = slices.Clone(t.Sets)
	for i, s := range c.Sets {
		if strings.Contains(s.Comment, hostSetMarker) {
			empty := *s
			empty.Elements = nil
			c.Sets[i] = &empty
		}
	}
	return c.String()
}

func elementsText(s *rules.Set) string {
	if s == nil {
		return ""
	}
	parts := make([]string, len(s.Elements))
	for i, e := range s.Elements {
		parts[i] = e.String()
	}
	return strings.Join(parts, ",")
}
