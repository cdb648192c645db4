package device

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/devfence/devfence/rules"
)

// hex64 is a well-formed SHA-256 digest.
const hex64 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

var fuzzTarget = Target{NetNS: "netns-a", Family: "inet", Name: "devfence"}

// validState is a state file with a previous table and a pending apply
// --confirm, as apply writes it.
func validState(t testing.TB) []byte {
	t.Helper()
	tbl := &rules.Table{Family: "inet", Name: "devfence", Chains: []*rules.Chain{{Name: "input", Hook: rules.HookInput, Policy: rules.Drop,
		Rules: []*rules.Rule{{Stmts: []rules.Stmt{rules.Verdict{Kind: rules.Accept}}, Comment: "x"}}}}}
	prev, err := save("inet", "devfence", tbl)
	if err != nil {
		t.Fatal(err)
	}
	none, _ := save("inet", "devfence", nil)
	s := &state{Version: stateVersion, NetNS: "netns-a", Family: "inet", Name: "devfence", Previous: none,
		Pending: &pending{ID: "1", Kind: kindConfirm, PID: 1, Deadline: time.Unix(1e9, 0).UTC(), Next: "ab", Before: prev}}
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestParseStateCrafted: a crafted or damaged state file is one error
// naming what is wrong, never a panic, and never another table.
func TestParseStateCrafted(t *testing.T) {
	valid := string(validState(t))
	for _, tc := range []struct{ name, data, want string }{
		{"empty object", `{}`, "version 0, want 1"},
		{"null", `null`, "empty state (null)"},
		{"array", `[]`, "cannot unmarshal array"},
		{"truncated", valid[:len(valid)/2], "unexpected end of JSON input"},
		{"no target", `{"version":1}`, `belongs to table   in , not inet devfence in netns-a`},
		{"another namespace", strings.Replace(valid, `"netns":"netns-a"`, `"netns":"netns-b"`, 1), "belongs to table inet devfence in netns-b, not inet devfence in netns-a"},
		{"another table", strings.Replace(valid, `"name":"devfence","previous"`, `"name":"sentinel","previous"`, 1), "belongs to table inet sentinel in netns-a"},
		{"previous names another table", strings.Replace(valid, `"previous":{"family":"inet","name":"devfence"`, `"previous":{"family":"inet","name":"sentinel"`, 1), "previous: saved table is inet sentinel, not inet devfence: refusing to touch it"},
		{"pending names another table", strings.Replace(valid, `"before":{"family":"inet","name":"devfence"`, `"before":{"family":"ip","name":"devfence"`, 1), "pending: saved table is ip devfence, not inet devfence"},
		{"pending without table", `{"version":1,"netns":"netns-a","family":"inet","name":"devfence","pending":{"id":"1","kind":"confirm","deadline":"2030-01-01T00:00:00Z"}}`, "pending: no saved table"},
		{"pending null", `{"version":1,"netns":"netns-a","family":"inet","name":"devfence","pending":null}`, ""},
		{"pending empty", `{"version":1,"netns":"netns-a","family":"inet","name":"devfence","pending":{}}`, "pending: no id"},
		{"pending without deadline", strings.Replace(valid, `"deadline":"2001-09-09T01:46:40Z",`, ``, 1), "pending: no deadline"},
		{"bad kind", strings.Replace(valid, `"kind":"confirm"`, `"kind":"reboot"`, 1), `pending: kind "reboot"`},
		{"saved table without content", strings.Replace(valid, `"exists":true,"table":`, `"exists":true,"x":`, 1), "saved table has no content"},
		{"unknown statement", strings.Replace(valid, `"type":"Verdict"`, `"type":"Exec"`, 1), `unknown statement type "Exec"`},
		{"settled without id", strings.Replace(valid, `"pending":`, `"settled":{},"pending":`, 1), "settled: no id"},
		{"applied", strings.Replace(valid, `"pending":`, `"applied":{"at":"2026-11-29T17:00:00Z","profile":"p.yaml","profile_sha256":"`+hex64+`","table":"`+hex64+`"},"pending":`, 1), ""},
		{"applied without time", strings.Replace(valid, `"pending":`, `"applied":{"table":"`+hex64+`"},"pending":`, 1), "applied: no time"},
		{"applied with a short digest", strings.Replace(valid, `"pending":`, `"applied":{"at":"2026-11-29T17:00:00Z","table":"ab"},"pending":`, 1), `applied: table digest "ab" is not a SHA-256`},
		{"applied with an upper-case profile digest", strings.Replace(valid, `"pending":`, `"applied":{"at":"2026-11-29T17:00:00Z","profile_sha256":"`+strings.ToUpper(hex64)+`","table":"`+hex64+`"},"pending":`, 1), "applied: profile digest"},
		{"applied null", strings.Replace(valid, `"pending":`, `"applied":null,"pending":`, 1), ""},
		{"valid", valid, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseState([]byte(tc.data), fuzzTarget)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if tc.want == "" && err != nil || tc.want != "" && !strings.Contains(got, tc.want) {
				t.Errorf("parseState: %q, want an error containing %q", got, tc.want)
			}
			if strings.Contains(got, "\n") {
				t.Errorf("error is more than one line: %q", got)
			}
		})
	}
}

// FuzzParseState: whatever the file holds, parsing (and rebuilding the
// tables it accepts, as restore does) does not panic, and an accepted
// file names only the target's table.
func FuzzParseState(f *testing.F) {
	f.Add(validState(f))
	f.Add([]byte(`{}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := parseState(data, fuzzTarget)
		if err != nil {
			return
		}
		for _, sv := range []*saved{s.Previous, pendingBefore(s)} {
			if sv == nil {
				continue
			}
			tbl, err := sv.table()
			if err != nil {
				t.Fatalf("accepted a state whose table does not rebuild: %v", err)
			}
			if sv.ref() != fuzzTarget.ref() || tbl != nil && tbl.Ref() != fuzzTarget.ref() {
				t.Fatalf("accepted a state for table %s", sv.ref())
			}
			if tbl != nil {
				_ = tbl.String()
			}
		}
	})
}

func pendingBefore(s *state) *saved {
	if s.Pending == nil {
		return nil
	}
	return s.Pending.Before
}
