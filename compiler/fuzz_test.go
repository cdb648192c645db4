package compiler_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/devfence/devfence/compiler"
	"github.com/devfence/devfence/rules"
)

// FuzzParse feeds the profile loader arbitrary files. Nothing may panic; a
// refused file gets diagnostics that point into the file; an accepted one
// compiles, to the same text every time, and gives policies a document.
// The seeds are every profile in examples/ (valid, invalid and denied) and
// the MUD importer's golden output; found crashers stay in
// testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	for _, pattern := range []string{"../examples/*.yaml", "../examples/*/*.yaml", "../golden/mud/*.yaml"} {
		paths, _ := filepath.Glob(pattern)
		for _, path := range paths {
			if data, err := os.ReadFile(path); err == nil {
				f.Add(data)
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkParse(t, data)
	})
}

// checkParse is FuzzParse's property, also run on the crashers that became
// regular tests.
func checkParse(t *testing.T, data []byte) {
	t.Helper()
	p, err := compiler.Parse("f.yaml", data)
	if err != nil {
		var diags compiler.Diagnostics
		if !errors.As(err, &diags) || len(diags) == 0 {
			t.Fatalf("refused without diagnostics: %v", err)
		}
		lines := compiler.CountLines(data)
		for _, d := range diags {
			if d.File != "f.yaml" || d.Line < 1 || d.Line > lines || d.Column < 1 || d.Message == "" {
				t.Fatalf("diagnostic outside the %d-line file or without a message: %+v", lines, d)
			}
		}
		return
	}
	tbl, err := compiler.Compile(p, compiler.Options{})
	if err != nil {
		if p.Inbound.Policy != "established-only" {
			return // the one refusal Compile leaves to policies
		}
		t.Fatalf("loaded but does not compile: %v", err)
	}
	text := rules.Replace(tbl).String()
	again, err := compiler.Compile(p, compiler.Options{})
	if err != nil || rules.Replace(again).String() != text {
		t.Fatalf("a second compile differs (%v)", err)
	}
	if p.Source.Document() == nil {
		t.Fatal("no document for policies")
	}
}
