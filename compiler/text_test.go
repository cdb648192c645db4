package compiler

import (
	"bytes"
	"testing"
)

// TestLineBreak checks the byte-switch lineBreak against the plain
// definition, YAML's line breaks tried longest first, on every string of
// up to 3 bytes over the bytes that can start or end one.
func TestLineBreak(t *testing.T) {
	want := func(data []byte) int {
		for _, b := range []string{"\r\n", "\n", "\r", "\u0085", "\u2028", "\u2029"} {
			if bytes.HasPrefix(data, []byte(b)) {
				return len(b)
			}
		}
		return 0
	}
	alphabet := []byte{'\n', '\r', 'a', 0x80, 0x85, 0xa8, 0xa9, 0xaa, 0xc2, 0xe2}
	var check func(data []byte)
	check = func(data []byte) {
		if got, w := lineBreak(data), want(data); got != w {
			t.Errorf("lineBreak(%q) = %d, want %d", data, got, w)
		}
		if len(data) == 3 {
			return
		}
		for _, b := range alphabet {
			check(append(data[:len(data):len(data)], b))
		}
	}
	check(nil)
}
