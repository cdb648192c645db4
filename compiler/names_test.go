package compiler

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/devfence/devfence/rules"
)

// TestGeneratedNamesAreCollisionFree checks the properties names.go rests on.
func TestGeneratedNamesAreCollisionFree(t *testing.T) {
	for _, a := range namedKinds {
		for _, b := range namedKinds {
			if a != b && strings.HasPrefix(a, b) {
				t.Errorf("kind %q starts with kind %q: a name of one could be read as the other", a, b)
			}
		}
	}
	for _, fixed := range fixedNames() {
		for _, k := range namedKinds {
			if strings.HasPrefix(fixed, k) {
				t.Errorf("fixed set %s starts with kind %q: a profile name could produce it", fixed, k)
			}
		}
	}
}

// reservedWords is every part of every name devfence generates, joined
// the way a profile name could spell it: each run of "_"-separated parts,
// with '-' for '_'.
func reservedWords() []string {
	var parts [][]string
	for _, n := range fixedNames() {
		parts = append(parts, strings.Split(n, "_"))
	}
	for _, k := range namedKinds {
		parts = append(parts, strings.Split(strings.TrimSuffix(k, "_"), "_"))
	}
	for _, f := range families {
		parts = append(parts, []string{f.Suffix()})
	}
	var words []string
	for _, p := range parts {
		for i := range p {
			for j := i + 1; j <= len(p); j++ {
				words = append(words, strings.Join(p[i:j], "-"))
			}
		}
	}
	words = append(words, "input", "output", "forward", DefaultTable)
	slices.Sort(words)
	return slices.Compact(words)
}

// reservedWordsProfile is a profile whose services, handshakes and allow
// rules (each with its own quota) are named after every reserved word,
// next to egress.quota and egress.total. The kernel test in
// internal/device applies it.
func reservedWordsProfile() string {
	var b strings.Builder
	b.WriteString(`version: 1
device: {name: cam}
networks:
  lan: [192.168.1.0/24, "fd00:1::/64"]
egress:
  quota: 1MiB/1h
  total: 64MiB/1h
  allow:
`)
	words := reservedWords()
	for i, w := range words {
		fmt.Fprintf(&b, "    - {name: %s, to: [lan], proto: udp, port: %d, quota: %dKiB/10m}\n", w, 1000+i, 16+i)
	}
	b.WriteString("inbound:\n  services:\n")
	for i, w := range words {
		fmt.Fprintf(&b, "    - {name: %s, from: [lan], proto: tcp, port: %d, consent: true}\n", w, 2000+i)
	}
	b.WriteString("consent:\n  handshakes:\n")
	for i, w := range words {
		fmt.Fprintf(&b, "    - {name: %s, to: [lan], port: %d}\n", w, 3000+i)
	}
	return b.String()
}

// TestReservedWordsAsNames compiles every reserved word as the name of a
// service, a handshake and an allow rule with its own quota: every set is
// declared once, and each rule meters against the quota its profile entry
// says, not one whose generated name it shares.
func TestReservedWordsAsNames(t *testing.T) {
	words := reservedWords()
	if !slices.Contains(words, "default") || !slices.Contains(words, "consent") {
		t.Fatalf("reserved words miss the obvious ones: %v", words)
	}
	p, err := Parse("reserved.yaml", []byte(reservedWordsProfile()))
	if err != nil {
		t.Fatal(err)
	}
	tbl, err := Compile(p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	comments := map[string]string{}
	for _, s := range tbl.Sets {
		if first, dup := comments[s.Name]; dup {
			t.Errorf("set %s declared twice: %q and %q", s.Name, first, s.Comment)
		}
		comments[s.Name] = s.Comment
	}
	// The quota each rule spends, by the comment of the set it adds to.
	var got, want []string
	for _, r := range tbl.Chain("output").Rules {
		for _, s := range r.Stmts {
			d, ok := s.(rules.DynsetUpdate)
			if !ok || d.Quota == 0 || d.Set == totalSet {
				continue
			}
			got = append(got, r.Comment+" -> "+strings.Fields(comments[d.Set])[0]+" "+quotaOwner(comments[d.Set]))
		}
	}
	for _, w := range words {
		for range families {
			want = append(want, fmt.Sprintf("inbound.services %s: replies -> egress.quota ", w))
		}
	}
	for _, w := range words {
		for range families {
			want = append(want, fmt.Sprintf("consent.handshakes %s -> egress.quota ", w))
		}
	}
	for _, w := range words {
		for range families {
			want = append(want, fmt.Sprintf("egress.allow %s -> egress.allow %s", w, w))
		}
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("quota each rule spends (-want +got):\n%s", d)
	}
}

// quotaOwner is the rule name in a per-rule quota set's comment,
// "egress.allow dns quota 16KiB/10m" -> "dns".
func quotaOwner(comment string) string {
	f := strings.Fields(comment)
	if len(f) > 2 && f[2] == "quota" {
		return f[1]
	}
	return ""
}
