//go:build !nopolicy

package main

import (
	"regexp"
	"strings"
	"testing"
)

// TestManPage checks that the page is roff for section 1 and that every
// command and each of its flags is documented in it.
func TestManPage(t *testing.T) {
	code, page, stderr := devfence(t, "man")
	if code != 0 {
		t.Fatalf("devfence man: exit %d: %s", code, stderr)
	}
	if !strings.HasPrefix(page, ".nh\n.TH devfence 1\n") {
		t.Errorf("page does not start as a section 1 roff page:\n%.200s", page)
	}
	app := newApp(nil, nil)
	for _, c := range app.VisibleCommands() {
		heading := regexp.MustCompile(`(?m)^\.SH ` + regexp.QuoteMeta(c.Name) + `(,|$)`)
		if !heading.MatchString(page) {
			t.Errorf("no section for command %s", c.Name)
			continue
		}
		for _, f := range c.VisibleFlags() {
			name := f.Names()[0]
			if !strings.Contains(page, `\fB`+roff("--"+name)) && !strings.Contains(page, `\fB`+roff("-"+name)) {
				t.Errorf("command %s: flag --%s is not in the page", c.Name, name)
			}
		}
	}
	if strings.Contains(page, ".SH man\n") {
		t.Error("the hidden man command is in the page")
	}
	if code, _, stderr := devfence(t, "man", "extra"); code != exitUsage || !strings.Contains(stderr, "man takes no arguments") {
		t.Errorf("man extra: exit %d, stderr %q; want %d and a usage error", code, stderr, exitUsage)
	}
}
