package mud

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// A MUD file is parsed into this tree rather than into map[string]any so that
// every value keeps its byte offset (errors then carry file:line:col) and so
// that duplicate keys, which encoding/json would silently resolve to the last
// one, can be refused: in a firewall input "which of the two did you mean"
// must not be guessed.
type kind int

const (
	kNull kind = iota
	kBool
	kNumber
	kString
	kArray
	kObject
)

func (k kind) String() string {
	return [...]string{"null", "a boolean", "a number", "a string", "an array", "an object"}[k]
}

type value struct {
	kind kind
	off  int64    // byte offset of the value's first character
	b    bool     // kBool
	s    string   // kString, or the literal text of a kNumber
	arr  []*value // kArray
	keys []string // kObject, in document order
	obj  map[string]*value
}

// maxDepth bounds recursion; real MUD files nest about ten levels deep.
const maxDepth = 64

// syntaxError is a JSON-level failure at a byte offset.
type syntaxError struct {
	off int64
	msg string
}

func (e *syntaxError) Error() string { return e.msg }

func parseJSON(data []byte) (*value, error) {
	// A byte order mark is not JSON, but editors add it and it cannot mean
	// anything else; blanking it keeps every offset as it is in the file.
	if bytes.HasPrefix(data, bom) {
		data = append([]byte("   "), data[len(bom):]...)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, &syntaxError{0, "the file is empty"}
	}
	// Syntax is checked by a whole-input pass first: its errors carry the
	// offset of the offending byte, where the token reader below reports the
	// end of the last good token.
	var se *json.SyntaxError
	if err := json.Unmarshal(data, new(json.RawMessage)); errors.As(err, &se) {
		off := se.Offset - 1 // Offset counts the offending byte
		if se.Error() == "unexpected end of JSON input" {
			return nil, &syntaxError{int64(len(data)), "unexpected end of input (truncated file?)"}
		}
		return nil, &syntaxError{max(off, 0), se.Error()}
	} else if err != nil {
		return nil, &syntaxError{0, err.Error()}
	}
	p := &jsonParser{data: data, dec: json.NewDecoder(bytes.NewReader(data))}
	p.dec.UseNumber()
	return p.value(0)
}

var bom = []byte("\xef\xbb\xbf")

type jsonParser struct {
	data []byte
	dec  *json.Decoder
}

// next returns where the next token starts: InputOffset points just past the
// previous token, before any whitespace and the ':' or ',' that follows it.
func (p *jsonParser) next() int64 {
	off := p.dec.InputOffset()
	for off < int64(len(p.data)) && strings.IndexByte(" \t\r\n:,", p.data[off]) >= 0 {
		off++
	}
	return off
}

// token reads the next token. The input's syntax was checked already, so an
// error here is unexpected; it is still reported, never skipped.
func (p *jsonParser) token() (json.Token, error) {
	tok, err := p.dec.Token()
	if err != nil {
		return nil, &syntaxError{p.next(), err.Error()}
	}
	return tok, nil
}

func (p *jsonParser) value(depth int) (*value, error) {
	off := p.next()
	if depth > maxDepth {
		return nil, &syntaxError{off, fmt.Sprintf("nested deeper than %d levels", maxDepth)}
	}
	tok, err := p.token()
	if err != nil {
		return nil, err
	}
	v := &value{off: off}
	switch t := tok.(type) {
	case nil:
		v.kind = kNull
	case bool:
		v.kind, v.b = kBool, t
	case json.Number:
		v.kind, v.s = kNumber, string(t)
	case string:
		v.kind, v.s = kString, t
	case json.Delim:
		switch t {
		case '[':
			v.kind = kArray
			for p.dec.More() {
				item, err := p.value(depth + 1)
				if err != nil {
					return nil, err
				}
				v.arr = append(v.arr, item)
			}
		case '{':
			v.kind, v.obj = kObject, map[string]*value{}
			for p.dec.More() {
				koff := p.next()
				kt, err := p.token()
				if err != nil {
					return nil, err
				}
				key, _ := kt.(string) // Token never yields anything else as a key
				if _, dup := v.obj[key]; dup {
					return nil, &syntaxError{koff, fmt.Sprintf("duplicate key %q in one object", key)}
				}
				item, err := p.value(depth + 1)
				if err != nil {
					return nil, err
				}
				v.keys = append(v.keys, key)
				v.obj[key] = item
			}
		}
		if _, err := p.token(); err != nil { // the closing ']' or '}'
			return nil, err
		}
	}
	return v, nil
}

// lineCol turns a byte offset into a 1-based line and column (in bytes).
func lineCol(data []byte, off int64) (int, int) {
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	before := data[:off]
	line := bytes.Count(before, []byte("\n")) + 1
	col := int(off) - (bytes.LastIndexByte(before, '\n') + 1) + 1
	return line, col
}

// compact renders a value briefly for messages about constructs that are not
// imported, so the reader can recognise them without opening the file.
func (v *value) compact(max int) string {
	var b strings.Builder
	v.write(&b)
	s := b.String()
	if len(s) > max {
		s = s[:max-3] + "..."
	}
	return s
}

// String renders the value whole, keys in document order: two values
// that read the same render the same.
func (v *value) String() string {
	var b strings.Builder
	v.write(&b)
	return b.String()
}

func (v *value) write(b *strings.Builder) {
	switch v.kind {
	case kNull:
		b.WriteString("null")
	case kBool:
		fmt.Fprint(b, v.b)
	case kNumber:
		b.WriteString(v.s)
	case kString:
		b.WriteString(jsonQuote(v.s))
	case kArray:
		b.WriteByte('[')
		for i, item := range v.arr {
			if i > 0 {
				b.WriteByte(',')
			}
			item.write(b)
		}
		b.WriteByte(']')
	case kObject:
		b.WriteByte('{')
		for i, k := range v.keys {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(jsonQuote(k))
			b.WriteByte(':')
			v.obj[k].write(b)
		}
		b.WriteByte('}')
	}
}

// jsonQuote quotes s as JSON without encoding/json's HTML escaping, which
// would turn a '&' in a URL into \u0026 in a message meant for people.
func jsonQuote(s string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	return strings.TrimSuffix(b.String(), "\n")
}
