package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	_ "github.com/devfence/devfence/internal/golden" // every test binary takes -update
)

func completionScript(t *testing.T, shell string) string {
	t.Helper()
	code, out, errOut := devfence(t, "completion", shell)
	if code != exitOK {
		t.Fatalf("completion %s: exit %d: %s", shell, code, errOut)
	}
	path := filepath.Join(t.TempDir(), "devfence."+shell)
	if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestCompletionBash checks that the bash script parses, then completes
// the way a user would see it, by calling its function as bash does.
func TestCompletionBash(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("bash is not installed")
	}
	script := completionScript(t, "bash")
	if out, err := exec.Command(bash, "-n", script).CombinedOutput(); err != nil {
		t.Fatalf("bash -n: %v\n%s", err, out)
	}

	dir := t.TempDir()
	for _, f := range []string{"camera.yaml", "plug.yml", "notes.txt", "fleet/x.yaml"} {
		os.MkdirAll(filepath.Join(dir, filepath.Dir(f)), 0o755)
		os.WriteFile(filepath.Join(dir, f), nil, 0o644)
	}
	complete := func(line string) []string {
		t.Helper()
		words := strings.Fields(line)
		if strings.HasSuffix(line, " ") {
			words = append(words, "")
		}
		// COMP_WORDS as bash splits the line; no word holds a quote, so
		// single quotes make a safe array literal.
		var quoted []string
		for _, w := range words {
			quoted = append(quoted, "'"+w+"'")
		}
		prog := `source "$1"; COMP_WORDS=(` + strings.Join(quoted, " ") + `); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _devfence; printf '%s\n' "${COMPREPLY[@]}"`
		cmd := exec.Command(bash, "-c", prog, "bash", script)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%q: %v\n%s", line, err, out)
		}
		got := strings.Fields(string(out))
		slices.Sort(got)
		return got
	}
	for _, tc := range []struct {
		line string
		want []string
	}{
		{"devfence com", []string{"compile", "completion"}},
		{"devfence compile --for", []string{"--format"}},
		{"devfence compile --format ", []string{"json", "nft"}},
		{"devfence completion ", []string{"bash", "zsh"}},
		{"devfence compile ", []string{"camera.yaml", "fleet", "plug.yml"}},
		{"devfence compile --table t --max-size 9 ", []string{"camera.yaml", "fleet", "plug.yml"}},
		{"devfence compile --out-dir ", []string{"fleet"}},
		{"devfence compile --o", []string{"--out-dir", "--output"}},
	} {
		if got := complete(tc.line); !slices.Equal(got, tc.want) {
			t.Errorf("%q: got %q, want %q", tc.line, got, tc.want)
		}
	}
}

// TestCompletionZsh checks that the zsh script parses, where zsh is
// installed.
func TestCompletionZsh(t *testing.T) {
	script := completionScript(t, "zsh")
	data, _ := os.ReadFile(script)
	if !strings.HasPrefix(string(data), "#compdef devfence\n") {
		t.Error("the zsh script does not start with #compdef, so compinit would not load it")
	}
	zsh, err := exec.LookPath("zsh")
	if err != nil {
		t.Skip("zsh is not installed; only the header was checked")
	}
	if out, err := exec.Command(zsh, "-n", script).CombinedOutput(); err != nil {
		t.Fatalf("zsh -n: %v\n%s", err, out)
	}
}

// TestCompletionCoversCommands: every command of the binary is completed,
// in both shells.
func TestCompletionCoversCommands(t *testing.T) {
	for _, shell := range completionShells {
		_, out, _ := devfence(t, "completion", shell)
		for _, c := range commands {
			if c.Hidden {
				continue
			}
			if !strings.Contains(out, "\t"+c.Name+")") {
				t.Errorf("%s script has no case for command %s", shell, c.Name)
			}
		}
	}
}

func TestCompletionUsage(t *testing.T) {
	for _, args := range [][]string{{"completion"}, {"completion", "fish"}, {"completion", "bash", "zsh"}} {
		if code, _, _ := devfence(t, args...); code != exitUsage {
			t.Errorf("%q: exit %d, want %d", args, code, exitUsage)
		}
	}
}

// TestCompileFormat: --format json prints the golden JSON of the example;
// an unknown format is a usage error.
// (With the policies: --no-policy warns once per process, and another test
// expects that warning.)
func TestCompileFormat(t *testing.T) {
	code, out, errOut := devfence(t, "compile", "--format", "json", "../../examples/printer.yaml")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	want, err := os.ReadFile("../../golden/printer.json")
	if err != nil {
		t.Fatal(err)
	}
	if out != string(want) {
		t.Errorf("compile --format json differs from golden/printer.json")
	}
	_, text, _ := devfence(t, "compile", "../../examples/printer.yaml")
	if _, deflt, _ := devfence(t, "compile", "--format", "nft", "../../examples/printer.yaml"); deflt != text {
		t.Error("--format nft differs from the default output")
	}
	for _, args := range [][]string{
		{"compile", "--format", "xml", "../../examples/printer.yaml"},
		{"compile", "--format", "json", "--out-dir", t.TempDir(), "../../examples/printer.yaml"},
	} {
		if code, _, _ := devfence(t, args...); code != exitUsage {
			t.Errorf("%q: exit %d, want %d", args, code, exitUsage)
		}
	}
}
