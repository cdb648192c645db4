package mud

import (
	"strings"
	"testing"
)

func TestSanitize(t *testing.T) {
	tests := []struct{ in, want string }{
		{"cl0-frdev", "cl0-frdev"},
		{"Cloud API (HTTPS)", "cloud-api-https"},
		{"https://controller.example.com/a_b", "controller-example-com-a-b"},
		{"urn:ietf:params:mud:dns", "urn-ietf-params-mud-dns"},
		{"  --Weird__Name--  ", "weird-name"},
		{"Ünïcode", "n-code"},
		{"---", ""},
		{strings.Repeat("a", 70), strings.Repeat("a", 63)},
		{strings.Repeat("a", 62) + ".b", strings.Repeat("a", 62)}, // no trailing '-' after cutting
	}
	for _, tc := range tests {
		got := sanitize(tc.in)
		if got != tc.want {
			t.Errorf("sanitize(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if got != "" && !nameRE.MatchString(got) {
			t.Errorf("sanitize(%q) = %q, not a valid name", tc.in, got)
		}
	}
}

func TestUnique(t *testing.T) {
	taken := map[string]bool{}
	long := strings.Repeat("x", 63)
	var got []string
	for _, base := range []string{"a", "a", "a-2", "a", long, long} {
		got = append(got, unique(base, taken))
	}
	want := []string{"a", "a-2", "a-2-2", "a-3", long, strings.Repeat("x", 61) + "-2"}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("unique #%d = %q, want %q", i, got[i], want[i])
		}
		if !nameRE.MatchString(got[i]) {
			t.Errorf("unique #%d = %q, not a valid name", i, got[i])
		}
	}
}

func TestScalar(t *testing.T) {
	tests := []struct{ in, scalar, text string }{
		{"cl0-frdev", "cl0-frdev", "cl0-frdev"},
		{"1", `"1"`, `"1"`},
		{"true", `"true"`, `"true"`},
		{"null", `"null"`, `"null"`},
		{"0x1f", `"0x1f"`, `"0x1f"`},
		{"1e3", `"1e3"`, `"1e3"`},
		{"192.0.2.0/24", "192.0.2.0/24", "192.0.2.0/24"},
		{"2001:db8::/32", `"2001:db8::/32"`, `"2001:db8::/32"`},
		{"Demo sensor (NIST nistmud2)", `"Demo sensor (NIST nistmud2)"`, "Demo sensor (NIST nistmud2)"},
		{"a: b", `"a: b"`, `"a: b"`},
		{"a #b", `"a #b"`, `"a #b"`},
		{"R&D <lab>", `"R&D <lab>"`, `"R&D <lab>"`},
		{"x ", `"x "`, `"x "`},
	}
	for _, tc := range tests {
		if got := scalar(tc.in); got != tc.scalar {
			t.Errorf("scalar(%q) = %s, want %s", tc.in, got, tc.scalar)
		}
		if got := text(tc.in); got != tc.text {
			t.Errorf("text(%q) = %s, want %s", tc.in, got, tc.text)
		}
	}
}

func TestLineCol(t *testing.T) {
	data := []byte("ab\ncd\n\nef")
	for _, tc := range []struct {
		off       int64
		line, col int
	}{{0, 1, 1}, {1, 1, 2}, {2, 1, 3}, {3, 2, 1}, {6, 3, 1}, {7, 4, 1}, {9, 4, 3}, {99, 4, 3}} {
		if l, c := lineCol(data, tc.off); l != tc.line || c != tc.col {
			t.Errorf("lineCol(%d) = %d:%d, want %d:%d", tc.off, l, c, tc.line, tc.col)
		}
	}
}

func TestOneLineAndDescription(t *testing.T) {
	if got := oneLine(" a\tb\n\u2028c  d "); got != "a b c d" {
		t.Errorf("oneLine = %q", got)
	}
	c := newConverter(nil, Options{})
	c.info.systemInfo = strings.Repeat("é", 200)
	d := c.description()
	if n := len([]rune(d)); n != 120 || !strings.HasSuffix(d, "...") {
		t.Errorf("description of %d runes, want 120 ending in ...: %q", n, d)
	}
}

// A byte order mark is tolerated and does not shift positions.
func TestBOM(t *testing.T) {
	_, err := Convert([]byte("\xef\xbb\xbf{\n\"mud\": 1}"), Options{Source: "b.json"})
	if err == nil || err.Error() != "b.json:2:8: mud: expected an object, got a number" {
		t.Errorf("error %v", err)
	}
}
