package compiler_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/devfence/devfence/compiler"
	"github.com/devfence/devfence/internal/golden"
	"github.com/devfence/devfence/rules"
)

// examples lists the profiles in dir, by name without extension.
func examples(t *testing.T, dir string) []string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no profiles in %s (%v)", dir, err)
	}
	return paths
}

func name(path string) string { return strings.TrimSuffix(filepath.Base(path), ".yaml") }

// TestGoldenExamples compiles every valid example and compares the nft text
// with golden/<example>.nft, byte for byte.
func TestGoldenExamples(t *testing.T) {
	for _, path := range examples(t, "../examples") {
		t.Run(name(path), func(t *testing.T) {
			p, err := compiler.Load(path, compiler.LoadOptions{})
			if err != nil {
				t.Fatalf("load: %v", err)
			}
			tbl, err := compiler.Compile(p, compiler.Options{})
			if err != nil {
				t.Fatalf("compile: %v", err)
			}
			text := rules.Replace(tbl).String()
			golden.Compare(t, filepath.Join("../golden", name(path)+".nft"), []byte(text))

			// Deterministic: a second compile gives the same bytes.
			again, _ := compiler.Compile(p, compiler.Options{})
			if got := rules.Replace(again).String(); got != text {
				t.Errorf("a second compile of %s differs from the first", path)
			}
		})
	}
}

// TestGoldenErrors loads every deliberately bad profile and compares its
// diagnostics with golden/errors/<case>.txt.
func TestGoldenErrors(t *testing.T) {
	paths := examples(t, "../examples/invalid")
	if len(paths) < 10 {
		t.Errorf("only %d invalid profiles; the error goldens cover at least ten", len(paths))
	}
	for _, path := range paths {
		t.Run(name(path), func(t *testing.T) {
			// Paths in diagnostics are as the user typed them.
			rel := filepath.Join("examples/invalid", filepath.Base(path))
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			_, err = compiler.Parse(rel, data)
			var diags compiler.Diagnostics
			if !errors.As(err, &diags) {
				t.Fatalf("want diagnostics, got %v", err)
			}
			golden.Compare(t, filepath.Join("../golden/errors", name(path)+".txt"), []byte(diags.Error()+"\n"))
		})
	}
}
