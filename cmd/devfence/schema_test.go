//go:build !nopolicy

package main

import (
	"testing"

	"github.com/devfence/devfence/compiler"
)

// TestSchemaCommand: `devfence schema` prints compiler.Schema, which
// compiler's tests keep in golden/schema.json.
func TestSchemaCommand(t *testing.T) {
	code, out, errOut := devfence(t, "schema")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	want, err := compiler.Schema()
	if err != nil {
		t.Fatal(err)
	}
	if out != string(want) {
		t.Error("devfence schema differs from compiler.Schema()")
	}
	if code, _, _ := devfence(t, "schema", "extra"); code != exitUsage {
		t.Errorf("schema with an argument: exit %d, want %d", code, exitUsage)
	}
}
