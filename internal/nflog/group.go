package nflog

import (
	"fmt"
	"slices"

	"github.com/devfence/devfence/rules"
)

// TableGroup returns the NFLOG group the table's log statements send
// packets to, read from the live table so that a watcher binds the group in
// force rather than a default. ok is false when the table logs nothing
// (log.drops 0). A table whose rules log to several groups is an error: a
// watcher reads one, and devfence never writes such a table.
func TableGroup(t *rules.Table) (group uint16, ok bool, err error) {
	var groups []uint16
	for _, c := range t.Chains {
		for _, r := range c.Rules {
			for _, s := range r.Stmts {
				if l, isLog := s.(rules.Log); isLog && !slices.Contains(groups, l.Group) {
					groups = append(groups, l.Group)
				}
			}
		}
	}
	switch len(groups) {
	case 0:
		return 0, false, nil
	case 1:
		return groups[0], true, nil
	}
	slices.Sort(groups)
	return 0, false, fmt.Errorf("table %s %s logs to NFLOG groups %v; choose one with --group", t.Family, t.Name, groups)
}
