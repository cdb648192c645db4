package compiler

import (
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Pos is a 1-based line and column in a profile file.
type Pos struct{ Line, Column int }

// Source is a loaded profile file: its name, the document as plain data (the
// input that Rego policies see, as conftest would parse it), and its YAML
// tree, from which positions are found when a diagnostic needs one.
type Source struct {
	File string
	Raw  map[string]any
	root *yaml.Node
}

// Position returns where path ("egress.allow[2].quota") is in the file: the
// key of a mapping entry, or the item of a list. A path the file does not
// hold, e.g. a field left to its default, gives its nearest ancestor that
// it does; the document start stands for the root.
func (s *Source) Position(path string) Pos {
	pos := Pos{1, 1}
	n := s.root
	for path != "" && n != nil {
		var seg string
		if path[0] == '[' {
			end := strings.IndexByte(path, ']')
			if end < 0 {
				break
			}
			seg, path = path[:end+1], path[end+1:]
		} else {
			end := strings.IndexAny(path, ".[")
			if end < 0 {
				end = len(path)
			}
			seg, path = path[:end], path[end:]
		}
		path = strings.TrimPrefix(path, ".")
		for n.Kind == yaml.AliasNode {
			n = n.Alias
		}
		next, at := child(n, seg)
		if next == nil {
			break
		}
		n, pos = next, at
	}
	return pos
}

// child finds seg ("name" or "[i]") under n, and the position that names it.
func child(n *yaml.Node, seg string) (*yaml.Node, Pos) {
	if seg[0] == '[' {
		i, err := strconv.Atoi(seg[1 : len(seg)-1])
		if err != nil || n.Kind != yaml.SequenceNode || i < 0 || i >= len(n.Content) {
			return nil, Pos{}
		}
		item := n.Content[i]
		return item, Pos{item.Line, item.Column}
	}
	if n.Kind != yaml.MappingNode {
		return nil, Pos{}
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if key := n.Content[i]; key.Value == seg {
			return n.Content[i+1], Pos{key.Line, key.Column}
		}
	}
	return nil, Pos{}
}

// At builds a diagnostic for path in this file.
func (s *Source) At(path, message string) Diagnostic {
	pos := s.Position(path)
	return Diagnostic{File: s.File, Line: pos.Line, Column: pos.Column, Path: path, Message: message}
}
