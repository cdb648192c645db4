package compiler

import (
	"fmt"
	"unicode/utf8"
)

// badText finds the first byte sequence YAML refuses, invalid UTF-8 or a
// character outside YAML's printable set, and reports it where it is:
// yaml.v3 says only "control characters are not allowed" and nothing of
// where. Columns count characters, as yaml.v3's do.
func badText(file string, data []byte) (Diagnostic, bool) {
	line, col := 1, 1
	for i := 0; i < len(data); {
		// ASCII without DecodeRune: profiles of 100,000 entries are
		// megabytes, and every byte passes here.
		r, size := rune(data[i]), 1
		if r >= utf8.RuneSelf {
			r, size = utf8.DecodeRune(data[i:])
		}
		var msg string
		switch {
		case r == utf8.RuneError && size <= 1:
			msg = fmt.Sprintf("byte 0x%02x is not valid UTF-8; a profile is UTF-8 text", data[i])
		case !yamlPrintable(r):
			msg = fmt.Sprintf("character %U is not allowed in YAML; write it as an escape in a double-quoted string", r)
		}
		if msg != "" {
			return Diagnostic{File: file, Line: line, Column: col, Message: msg}, true
		}
		if n := lineBreak(data[i:]); n > 0 {
			line, col = line+1, 1
			i += n
			continue
		}
		col++
		i += size
	}
	return Diagnostic{}, false
}

// lineBreak is the length of the line break data starts with, 0 if none:
// yaml.v3 counts CR LF, LF, a lone CR, NEL, LS and PS as one each.
func lineBreak(data []byte) int {
	if len(data) == 0 {
		return 0
	}
	// By the first byte: this runs for every byte of a profile.
	switch data[0] {
	case '\n':
		return 1
	case '\r':
		if len(data) > 1 && data[1] == '\n' {
			return 2
		}
		return 1
	case 0xc2: // U+0085
		if len(data) > 1 && data[1] == 0x85 {
			return 2
		}
	case 0xe2: // U+2028, U+2029
		if len(data) > 2 && data[1] == 0x80 && (data[2] == 0xa8 || data[2] == 0xa9) {
			return 3
		}
	}
	return 0
}

// countLines is how many lines yaml.v3 sees in data.
func countLines(data []byte) int {
	lines := 1
	for i := 0; i < len(data); i++ {
		if n := lineBreak(data[i:]); n > 0 {
			lines++
			i += n - 1
		}
	}
	return lines
}

// yamlPrintable is YAML 1.2's c-printable (a byte order mark included).
func yamlPrintable(r rune) bool {
	switch {
	case r == '\t' || r == '\n' || r == '\r' || r == 0x85:
		return true
	case r >= 0x20 && r <= 0x7e:
		return true
	case r >= 0xa0 && r <= 0xd7ff, r >= 0xe000 && r <= 0xfffd, r >= 0x10000 && r <= 0x10ffff:
		return true
	}
	return false
}
