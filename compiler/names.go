package compiler

import (
	"fmt"
	"strings"

	"github.com/devfence/devfence/rules"
)

// Every set name devfence generates is made here, so that no profile name
// can produce a name devfence also uses for something else (an allow rule
// called `default` once declared a second quota_default_v4 that took over
// the default quota).
//
// A name is a kind prefix, then for the kinds that carry one the ident of
// a profile name, then for per-family sets "_v4" or "_v6". Collisions are
// impossible by construction because:
//   - ident is injective: profile names are [a-z0-9-] and never hold '_',
//     so mapping '-' to '_' loses nothing;
//   - the prefixes of the kinds that carry a profile name (namedKinds) are
//     prefix-free among themselves, so the prefix says which kind a name is;
//   - no fixed name starts with one of those prefixes, so a fixed name is
//     never mistaken for a named one, whatever the profile name;
//   - the family suffix is the last "_" part and is always present on
//     per-family sets, so it never merges into the profile name.
//
// TestGeneratedNamesAreCollisionFree checks the last three against the
// lists below; TestReservedWordsAsNames compiles every part of every
// generated name as a rule name.
const (
	kindService    = "svc_"         // + inbound.services[].name
	kindHandshake  = "hs_"          // + consent.handshakes[].name
	kindAllow      = "allow_"       // + egress.allow[].name
	kindAllowQuota = "quota_allow_" // + egress.allow[].name, its own quota
)

// namedKinds lists the prefixes followed by a profile name.
var namedKinds = []string{kindService, kindHandshake, kindAllow, kindAllowQuota}

// The fixed names, which hold no profile name.
const (
	consentBase      = "consent"           // per family
	defaultQuotaBase = "quota_default"     // per family: egress.quota
	unassuredBase    = "unassured_replies" // per family
	totalSet         = "total"             // keyed by family, one set
)

// fixedNames lists the fixed names as declared (per-family ones with their
// suffix), for the collision test.
func fixedNames() []string {
	var out []string
	for _, base := range []string{consentBase, defaultQuotaBase, unassuredBase} {
		for _, f := range families {
			out = append(out, familySet(base, f))
		}
	}
	return append(out, totalSet)
}

// ident turns a profile name into a part of an nft identifier. Names are
// already [a-z0-9-]; mapping '-' to '_' keeps identifiers to [a-z0-9_], which
// no nft parser reads as anything but a name.
func ident(name string) string { return strings.ReplaceAll(name, "-", "_") }

// namedSet is the set of kind for the profile entry called name, family f.
func namedSet(kind, name string, f rules.Family) string {
	return kind + ident(name) + "_" + f.Suffix()
}

// familySet is the fixed set base for family f.
func familySet(base string, f rules.Family) string { return base + "_" + f.Suffix() }

// checkSetNames refuses a table that declares a set name twice. The scheme
// above makes that impossible; this keeps a future kind from silently
// merging two sets in the kernel.
func checkSetNames(t *rules.Table) error {
	seen := map[string]string{}
	for _, s := range t.Sets {
		if first, dup := seen[s.Name]; dup {
			return fmt.Errorf("set %s is generated twice (%s; %s): a devfence bug, please report it", s.Name, first, s.Comment)
		}
		seen[s.Name] = s.Comment
	}
	return nil
}
