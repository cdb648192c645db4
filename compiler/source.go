package compiler

import (
	"strconv"
	"strings"
	"sync"

	"gopkg.in/yaml.v3"
)

// Pos is a 1-based line and column in a profile file.
type Pos struct{ Line, Column int }

// Source is a loaded profile file: its name and its YAML tree, from which
// positions are found when a diagnostic needs one, and the document as plain
// data when policies need it.
type Source struct {
	File string
	root *yaml.Node
	size int // bytes, which bound the alias expansion of Document

	once sync.Once
	doc  map[string]any
}

// Document is the profile as plain data, as written and without defaults:
// the input Rego policies see, as conftest would parse the file. It is built
// on first use, so commands that check no policies (the device build) never
// pay for a second copy of a large profile.
func (s *Source) Document() map[string]any {
	s.once.Do(func() {
		s.doc = map[string]any{}
		if s.root == nil {
			return
		}
		// Decoding already walked every node within this budget; twice
		// that cannot be exceeded by a profile that loaded.
		d := &decoder{src: s, budget: 2 * (4*s.size + 1024)}
		defer func() {
			if r := recover(); r != nil {
				if _, ok := r.(errBudget); !ok {
					panic(r)
				}
			}
		}()
		if m, ok := d.raw(s.root).(map[string]any); ok {
			s.doc = m
		}
	})
	return s.doc
}

// Release drops the YAML tree once nothing will ask for a position or the
// plain document: the tree is the largest part of a loaded profile (about
// 175 bytes per list item, 17 MB for 100,000 network entries), and a
// compile that follows needs none of it. Afterwards Position gives the
// document start and Document what it built before, or an empty map.
func (s *Source) Release() {
	s.once.Do(func() { s.doc = map[string]any{} })
	s.root = nil
}

// Position returns where path ("egress.allow[2].quota") is in the file: the
// key of a mapping entry, or the item of a list. A path the file does not
// hold, e.g. a field left to its default, gives its nearest ancestor that
// it does; the document start stands for the root.
func (s *Source) Position(path string) Pos {
	_, pos := s.walk(path)
	return pos
}

// node is the value at path, or nil when the file has none there.
func (s *Source) node(path string) *yaml.Node {
	n, _ := s.walk(path)
	return n
}

// walk follows path from the root as far as the file goes: the last node
// reached, and the position of its key (or item).
func (s *Source) walk(path string) (*yaml.Node, Pos) {
	pos := Pos{1, 1}
	n := s.root
	for path != "" && n != nil {
		var seg string
		if path[0] == '[' {
			end := strings.IndexByte(path, ']')
			if end < 0 {
				return nil, pos
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
			return nil, pos
		}
		n, pos = next, at
	}
	return n, pos
}

// child finds seg ("name" or "[i]") under n, and the position that names it.
func child(n *yaml.Node, seg string) (*yaml.Node, Pos) {
	if seg == "" {
		// A name holding '.' split the path ("networks.." for a network
		// called "."): no such key, so the nearest ancestor stands.
		return nil, Pos{}
	}
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
