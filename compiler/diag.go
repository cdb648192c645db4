package compiler

import (
	"fmt"
	"strings"
)

// Diagnostic is one finding about a profile, positioned in its file.
type Diagnostic struct {
	File    string `json:"file"`
	Line    int    `json:"line"`
	Column  int    `json:"column"`
	Path    string `json:"path"`
	Message string `json:"message"`
	Policy  string `json:"policy,omitempty"`
}

// String is the compiler-style form: FILE:LINE:COL: path: message (policy).
func (d Diagnostic) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s:%d:%d: ", d.File, d.Line, d.Column)
	if d.Path != "" {
		b.WriteString(d.Path)
		b.WriteString(": ")
	}
	b.WriteString(d.Message)
	if d.Policy != "" {
		fmt.Fprintf(&b, " (%s)", d.Policy)
	}
	return b.String()
}

// Diagnostics is every finding in one file; as an error it prints one per line.
type Diagnostics []Diagnostic

func (ds Diagnostics) Error() string {
	lines := make([]string, len(ds))
	for i, d := range ds {
		lines[i] = d.String()
	}
	return strings.Join(lines, "\n")
}
