package compiler

import (
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// decoder turns a yaml.Node tree into Go values strictly: it reports every
// unknown field, wrong type and bad value with its position instead of
// stopping at the first, and bounds the work that aliases can cause.
type decoder struct {
	src    *Source
	diags  Diagnostics
	budget int // node visits left; aliases re-visit their target
	over   bool
}

// errBudget stops decoding once an alias bomb has used up the budget.
type errBudget struct{}

func (d *decoder) errorf(n *yaml.Node, path, format string, args ...any) {
	d.diags = append(d.diags, Diagnostic{
		File: d.src.File, Line: n.Line, Column: n.Column, Path: path,
		Message: fmt.Sprintf(format, args...),
	})
}

// visit resolves aliases and charges the budget.
func (d *decoder) visit(n *yaml.Node, path string) *yaml.Node {
	for n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	d.budget--
	if d.budget < 0 {
		panic(errBudget{})
	}
	return n
}

// nodeDecoder is implemented by types whose YAML form is not a plain struct,
// list or scalar of the same shape (a port that is a number or a range, a
// `to` that is the word any or a list, networks kept in file order).
type nodeDecoder interface {
	decodeYAML(d *decoder, n *yaml.Node, path string)
}

var nodeDecoderType = reflect.TypeFor[nodeDecoder]()

func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) {
	n = d.visit(n, path)
	if v.Kind() == reflect.Pointer {
		if n.Tag == "!!null" {
			return
		}
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		v = v.Elem()
	}
	if v.Addr().Type().Implements(nodeDecoderType) {
		v.Addr().Interface().(nodeDecoder).decodeYAML(d, n, path)
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		d.decodeStruct(n, v, path)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.errorf(n, path, "expected a list, got %s", describe(n))
			return
		}
		v.Set(reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content)))
		for i, item := range n.Content {
			d.decode(item, v.Index(i), index(path, i))
		}
	case reflect.String:
		if s, ok := d.scalar(n, path, "!!str", "a string"); ok {
			v.SetString(s)
		}
	case reflect.Int:
		if s, ok := d.scalar(n, path, "!!int", "a whole number"); ok {
			// Bounded by int32, not int: reflect's SetInt would wrap a
			// larger value silently on 32-bit CPUs, where int is 32 bits.
			i, err := strconv.ParseInt(s, 0, 64)
			if err != nil || i < 0 || i > math.MaxInt32 {
				d.errorf(n, path, "number %s is out of range", s)
				return
			}
			v.SetInt(i)
		}
	case reflect.Bool:
		if s, ok := d.scalar(n, path, "!!bool", "true or false"); ok {
			v.SetBool(s == "true" || s == "True" || s == "TRUE")
		}
	default:
		panic(fmt.Sprintf("compiler: no YAML decoding for %s", v.Type()))
	}
}

// scalar returns n's text if n is a scalar with the wanted tag.
func (d *decoder) scalar(n *yaml.Node, path, tag, want string) (string, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag != tag {
		d.errorf(n, path, "expected %s, got %s", want, describe(n))
		return "", false
	}
	return n.Value, true
}

func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, "expected a mapping, got %s", describe(n))
		return
	}
	fields := yamlFields(v.Type())
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		key, val := n.Content[i], n.Content[i+1]
		name := key.Value
		kpath := join(path, name)
		if seen[name] {
			d.errorf(key, kpath, "field %q is given twice", name)
			continue
		}
		seen[name] = true
		idx, ok := fields[name]
		if !ok {
			d.errorf(key, kpath, "unknown field %q%s", name, suggest(name, fields))
			continue
		}
		if v.Type().Field(idx).Tag.Get("number") == "text" {
			if num := d.visit(val, kpath); num.Kind == yaml.ScalarNode && num.Tag == "!!int" {
				v.Field(idx).SetString(num.Value)
				continue
			}
		}
		d.decode(val, v.Field(idx), kpath)
	}
}

// yamlFields maps yaml tag names to field indexes.
func yamlFields(t reflect.Type) map[string]int {
	m := map[string]int{}
	for i := range t.NumField() {
		tag := t.Field(i).Tag.Get("yaml")
		if tag != "" && tag != "-" {
			m[tag] = i
		}
	}
	return m
}

// suggest names the known field closest to a misspelt one.
func suggest(name string, fields map[string]int) string {
	best, bestDist := "", 3
	for f := range fields {
		if dist := editDistance(strings.ToLower(name), strings.ToLower(f)); dist < bestDist || dist == bestDist && f < best {
			best, bestDist = f, dist
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// index is path[i], built without fmt: it runs once per list entry.
func index(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	switch n.Tag {
	case "!!null":
		return "nothing"
	case "!!int":
		return "the number " + n.Value
	case "!!float":
		return "the number " + n.Value
	case "!!bool":
		return n.Value
	}
	return strconv.Quote(n.Value)
}

// raw converts n to plain data (maps, lists, strings, numbers, booleans), the
// form conftest hands to Rego.
func (d *decoder) raw(n *yaml.Node) any {
	for n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	d.budget--
	if d.budget < 0 {
		panic(errBudget{})
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil
		}
		return d.raw(n.Content[0])
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			m[n.Content[i].Value] = d.raw(n.Content[i+1])
		}
		return m
	case yaml.SequenceNode:
		l := make([]any, len(n.Content))
		for i, c := range n.Content {
			l[i] = d.raw(c)
		}
		return l
	}
	return scalarValue(n)
}

// scalarValue converts a resolved scalar by its tag, as yaml.v3 would into
// an interface, without building a decoder per scalar.
func scalarValue(n *yaml.Node) any {
	switch n.Tag {
	case "!!str":
		return n.Value
	case "!!null":
		return nil
	case "!!bool":
		return strings.EqualFold(n.Value, "true")
	case "!!int":
		if i, err := strconv.ParseInt(strings.ReplaceAll(n.Value, "_", ""), 0, 64); err == nil {
			// As yaml.v3 does: an int when it fits (not on 32-bit CPUs
			// past 2^31), else the int64, never a wrapped value.
			if i == int64(int(i)) {
				return int(i)
			}
			return i
		}
	case "!!float":
		if f, err := strconv.ParseFloat(n.Value, 64); err == nil {
			return f
		}
	}
	var v any
	if err := n.Decode(&v); err == nil {
		return v
	}
	return n.Value
}
