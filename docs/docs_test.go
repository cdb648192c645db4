// Package docs holds the project's Markdown; its tests keep the field
// reference in step with the profile's schema and every relative link
// inside the repository.
package docs

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/devfence/devfence/compiler"
	"github.com/google/go-cmp/cmp"
)

// docField is one row of docs/PROFILE.md's field table.
type docField struct {
	Type    string
	Default string
}

var fieldRow = regexp.MustCompile("^\\| `([^`]+)` \\| ([^|]+) \\| ([^|]+) \\|")

func profileDocFields(t *testing.T) map[string]docField {
	t.Helper()
	data, err := os.ReadFile("PROFILE.md")
	if err != nil {
		t.Fatal(err)
	}
	fields := map[string]docField{}
	inTable := false
	for i, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "## ") {
			inTable = line == "## Fields"
		}
		m := fieldRow.FindStringSubmatch(line)
		if !inTable || m == nil {
			continue
		}
		if _, dup := fields[m[1]]; dup {
			t.Errorf("PROFILE.md:%d: field %s listed twice", i+1, m[1])
		}
		fields[m[1]] = docField{Type: strings.TrimSpace(m[2]), Default: strings.TrimSpace(m[3])}
	}
	if len(fields) == 0 {
		t.Fatal("PROFILE.md: no field table found")
	}
	return fields
}

// schemaFields walks the schema's properties the way PROFILE.md names
// fields: dotted yaml keys, "[]" for the entries of a list.
func schemaFields(t *testing.T) map[string]map[string]any {
	t.Helper()
	raw, err := compiler.Schema()
	if err != nil {
		t.Fatal(err)
	}
	var root map[string]any
	if err := json.Unmarshal(raw, &root); err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]any{}
	var walk func(node map[string]any, prefix string)
	walk = func(node map[string]any, prefix string) {
		if items, ok := node["items"].(map[string]any); ok && node["type"] == "array" {
			walk(items, prefix+"[]")
			return
		}
		props, _ := node["properties"].(map[string]any)
		for name, p := range props {
			path := name
			if prefix != "" {
				path = prefix + "." + name
			}
			child := p.(map[string]any)
			out[path] = child
			walk(child, path)
		}
	}
	walk(root, "")
	return out
}

// jsonTypes maps the type column's words that are JSON types.
var jsonTypes = map[string]string{
	"object": "object", "list": "array", "string": "string",
	"integer": "integer", "boolean": "boolean",
}

// TestProfileDocMatchesSchema: every field of the schema is in the table,
// no row names a field the schema lacks, and types and defaults agree.
func TestProfileDocMatchesSchema(t *testing.T) {
	schema := schemaFields(t)
	doc := profileDocFields(t)

	var want, got []string
	for p := range schema {
		want = append(want, p)
	}
	for p := range doc {
		got = append(got, p)
	}
	sort.Strings(want)
	sort.Strings(got)
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("fields of PROFILE.md differ from the schema (-schema +doc):\n%s", d)
	}

	for path, f := range doc {
		node, ok := schema[path]
		if !ok {
			continue
		}
		if typ, ok := node["type"].(string); ok {
			if jsonTypes[f.Type] != typ {
				t.Errorf("PROFILE.md: %s: type %q, schema says %q", path, f.Type, typ)
			}
		} else if jsonTypes[f.Type] != "" && f.Type != "list" {
			t.Errorf("PROFILE.md: %s: type %q, but the schema gives it no single JSON type", path, f.Type)
		}
		wantDefault := "-"
		if d, ok := node["default"]; ok {
			b, _ := json.Marshal(d)
			wantDefault = "`" + strings.Trim(string(b), `"`) + "`"
		}
		if f.Default != wantDefault {
			t.Errorf("PROFILE.md: %s: default %s, schema says %s", path, f.Default, wantDefault)
		}
	}
}

var mdLink = regexp.MustCompile(`\]\(([^)\s]+)\)`)

// TestLinksStayInRepository: a relative link in any Markdown file must
// name a file of this repository; docs that point outside are dead in a
// clone.
func TestLinksStayInRepository(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "third_party") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".md") {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		for _, m := range mdLink.FindAllStringSubmatch(string(data), -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") || strings.HasPrefix(target, "#") {
				continue
			}
			target, _, _ = strings.Cut(target, "#")
			abs := filepath.Join(filepath.Dir(path), target)
			checked++
			if inside, _ := filepath.Rel(root, abs); strings.HasPrefix(inside, "..") {
				t.Errorf("%s: link %q leaves the repository", rel, m[1])
				continue
			}
			if _, err := os.Stat(abs); err != nil {
				t.Errorf("%s: link %q: no such file in the repository", rel, m[1])
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked == 0 {
		t.Fatal("no relative link found: the walk is broken")
	}
}
