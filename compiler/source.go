package compiler

import "strings"

// Pos is a 1-based line and column in a profile file.
type Pos struct{ Line, Column int }

// Source is a loaded profile file: its name, the document as plain data (the
// input that Rego policies see, as conftest would parse it), and the position
// of every path in it.
type Source struct {
	File string
	Raw  map[string]any
	pos  map[string]Pos
}

// Position returns where path ("egress.allow[2].quota") is in the file, or
// the position of its nearest ancestor that is, e.g. when a policy names a
// field that the file leaves to its default.
func (s *Source) Position(path string) Pos {
	for p := path; ; {
		if pos, ok := s.pos[p]; ok {
			return pos
		}
		i := strings.LastIndexAny(p, ".[")
		if i < 0 {
			return s.pos[""]
		}
		p = p[:i]
	}
}

// At builds a diagnostic for path in this file.
func (s *Source) At(path, message string) Diagnostic {
	pos := s.Position(path)
	return Diagnostic{File: s.File, Line: pos.Line, Column: pos.Column, Path: path, Message: message}
}
