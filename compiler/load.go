package compiler

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/devfence/devfence/internal/sortby"
)

// DefaultMaxSize is the largest profile file Load reads unless told otherwise.
const DefaultMaxSize = 1 << 20

// LoadOptions tune loading; the zero value is the documented default.
type LoadOptions struct {
	MaxSize int64 // bytes; 0 means DefaultMaxSize
}

// Load reads, decodes and checks the profile at path. A profile with any
// problem returns a Diagnostics error holding all of them.
func Load(path string, opt LoadOptions) (*Profile, error) {
	data, err := readFile(path, opt)
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}

// readFile reads a file of at most opt.MaxSize bytes.
func readFile(path string, opt LoadOptions) ([]byte, error) {
	limit := opt.MaxSize
	if limit <= 0 {
		limit = DefaultMaxSize
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// Read one byte past the limit, so an oversized file is refused without
	// being read whole.
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if int64(len(data)) > limit {
		return nil, Diagnostics{{File: path, Line: 1, Column: 1,
			Message: fmt.Sprintf("file is larger than %d bytes; files are refused past that size (raise it with --max-size)", limit)}}
	}
	return data, nil
}

// yamlLine splits yaml.v3's "yaml: line N: MESSAGE" (one line); ok is
// false for any other error text.
func yamlLine(msg string) (line, rest string, ok bool) {
	after, ok := strings.CutPrefix(msg, "yaml: line ")
	if !ok {
		return "", "", false
	}
	line, rest, ok = strings.Cut(after, ": ")
	if !ok || line == "" || strings.Trim(line, "0123456789") != "" || strings.Contains(rest, "\n") {
		return "", "", false
	}
	return line, rest, true
}

// Parse decodes and checks a profile held in memory; file names it in diagnostics.
func Parse(file string, data []byte) (*Profile, error) {
	src := &Source{File: file, size: len(data)}
	prof := Defaults()
	prof.Source = src
	d, diags := decodeDocument(src, data, reflect.ValueOf(&prof).Elem(), profileKind)
	if diags != nil {
		return nil, diags
	}
	d.diags = append(d.diags, unlessReported(check(&prof), d.diags)...)
	if len(d.diags) > 0 {
		return nil, sorted(d.diags)
	}
	return &prof, nil
}

// docKind names a kind of file in the messages about its shape.
type docKind struct {
	file  string // "a profile file"
	start string // how one starts: "a profile starts with `version: 1`"
}

var profileKind = docKind{file: "a profile file", start: "a profile starts with `version: 1`"}

// decodeDocument decodes the one YAML document in data into v, strictly.
// A document that is not one YAML document, or whose aliases expand past
// what its size allows, returns diags; otherwise the decoder holds the
// decoding's findings (unsorted, for the caller to add its own checks).
func decodeDocument(src *Source, data []byte, v reflect.Value, kind docKind) (d *decoder, diags Diagnostics) {
	file := src.File
	// yaml.v3 reports bad bytes without a position; find them first.
	if d, bad := badText(file, data); bad {
		return nil, Diagnostics{d}
	}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, Diagnostics{src.At("", "the file is empty; "+kind.start)}
		}
		return nil, Diagnostics{yamlDiagnostic(file, err)}
	}
	var extra yaml.Node
	if dec.Decode(&extra) == nil {
		return nil, Diagnostics{{File: file, Line: extra.Line, Column: extra.Column,
			Message: kind.file + " holds one YAML document; found a second"}}
	}

	// Aliases may be used, but their expansion is bounded by the file's size,
	// so a "billion laughs" file fails fast instead of eating memory.
	d = &decoder{src: src, budget: 4*len(data) + 1024}
	bomb := Diagnostics{src.At("", "YAML aliases expand past what the file's size allows (an alias bomb?); refusing the file")}
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(errBudget); !ok {
				panic(r)
			}
			d, diags = nil, bomb
		}
	}()
	root := doc.Content[0]
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" && root.Value == "" {
		// "---" alone: yaml.v3 puts the empty node after the last line.
		return nil, Diagnostics{src.At("", "the YAML document is empty; "+kind.start)}
	}
	src.root = root
	// Measure what aliases would expand to before anything expands them:
	// a "billion laughs" file is refused in time linear in its size.
	// An alias needs a '*', so most files skip the walk.
	if bytes.IndexByte(data, '*') >= 0 && expandedSize(root, map[*yaml.Node]int{}, d.budget) > d.budget {
		return nil, bomb
	}
	d.decode(root, v, "")
	return d, nil
}

// sorted orders diagnostics by position, keeping the order of those at
// the same place.
func sorted(ds Diagnostics) Diagnostics {
	sortby.StableFunc(ds, func(a, b Diagnostic) int {
		return cmp.Or(cmp.Compare(a.Line, b.Line), cmp.Compare(a.Column, b.Column))
	})
	return ds
}

// expandedSize counts the nodes of n with aliases expanded, memoised per
// node so that shared anchors are measured once; it stops counting past
// limit, so the sum cannot overflow.
func expandedSize(n *yaml.Node, memo map[*yaml.Node]int, limit int) int {
	if n.Kind == yaml.AliasNode {
		return expandedSize(n.Alias, memo, limit)
	}
	if size, ok := memo[n]; ok {
		return size
	}
	memo[n] = limit + 1 // a node that contains itself is infinite
	size := 1
	for _, c := range n.Content {
		if size += expandedSize(c, memo, limit); size > limit {
			size = limit + 1
			break
		}
	}
	memo[n] = size
	return size
}

// unlessReported drops the semantic findings about a field that already failed
// to decode: a bad port would otherwise also be reported as a missing one.
func unlessReported(found, decoded Diagnostics) Diagnostics {
	var out Diagnostics
next:
	for _, f := range found {
		for _, d := range decoded {
			if within(f.Path, d.Path) || within(d.Path, f.Path) {
				continue next
			}
		}
		out = append(out, f)
	}
	return out
}

// within reports whether path is base or lies inside it.
func within(path, base string) bool {
	return path == base || base == "" || strings.HasPrefix(path, base) && (path[len(base)] == '.' || path[len(base)] == '[')
}

func yamlDiagnostic(file string, err error) Diagnostic {
	msg := err.Error()
	if n, rest, ok := yamlLine(msg); ok {
		line, _ := strconv.Atoi(n)
		return Diagnostic{File: file, Line: line, Column: 1, Message: "malformed YAML: " + rest}
	}
	return Diagnostic{File: file, Line: 1, Column: 1, Message: "malformed YAML: " + msg}
}

func reflectValue(ptr any) reflect.Value { return reflect.ValueOf(ptr).Elem() }
