package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/devfence/devfence/internal/netlab"
	"github.com/devfence/devfence/rules/netlink/nltest"
)

// readmeBlock is one fenced code block of README.md.
type readmeBlock struct {
	lang  string
	line  int      // of the opening fence
	lines []string // the block's text
}

// readmeBlocks reads the fenced code blocks of a Markdown file.
func readmeBlocks(t *testing.T, path string) []readmeBlock {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var blocks []readmeBlock
	var open *readmeBlock
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		fence := strings.HasPrefix(strings.TrimSpace(line), "```")
		switch {
		case open == nil && fence:
			open = &readmeBlock{lang: strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "```")), line: n}
		case open != nil && fence:
			blocks = append(blocks, *open)
			open = nil
		case open != nil:
			open.lines = append(open.lines, line)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if open != nil {
		t.Fatalf("%s:%d: code block never closed", path, open.line)
	}
	return blocks
}

// readmeCommand is one command line of an sh block, continuation lines
// joined.
type readmeCommand struct {
	line int
	text string
}

func shellCommands(b readmeBlock) []readmeCommand {
	var cmds []readmeCommand
	var cur *readmeCommand
	for i, l := range b.lines {
		n := b.line + 1 + i
		if cur == nil {
			if s := strings.TrimSpace(l); s == "" || strings.HasPrefix(s, "#") {
				continue
			}
			cur = &readmeCommand{line: n}
		}
		if body, cont := strings.CutSuffix(l, `\`); cont {
			cur.text += body
			continue
		}
		cur.text += l
		cmds = append(cmds, *cur)
		cur = nil
	}
	if cur != nil {
		cmds = append(cmds, *cur)
	}
	return cmds
}

// readmeTestCommand is the README's test command. This test is one of
// the tests it runs, so running it here would recurse; the line is checked
// to be exactly this command instead, and CI (.ci/run) runs it.
const readmeTestCommand = "go test ./..."

// TestREADMECodeBlocks checks every fenced code block of README.md, by
// the language its fence names:
//
//   - sh: every command line runs, as written, from the repository root,
//     and must exit 0. `go run ./cmd/devfence` and `devfence` are the full
//     build (what `go run ./cmd/devfence` compiles), built once. A line
//     whose devfence command works on the kernel (one with --netns) runs
//     under `ip netns exec` in a throwaway namespace, with a tmpfs over
//     /var/lib so that nothing it saves reaches the host.
//   - yaml: a profile; it must compile (and, in the full build, pass the
//     policies). One that starts with `profile:` is a test file of that
//     profile (docs/TESTING.md); `devfence test` must pass it.
//   - text: output shown as an example; not run.
//
// A block with any other fence, or none, fails the test, so no block goes
// unchecked by oversight.
func TestREADMECodeBlocks(t *testing.T) {
	readme := filepath.Join(root, "README.md")
	blocks := readmeBlocks(t, readme)
	if len(blocks) == 0 {
		t.Fatal("README.md has no code blocks")
	}
	var ran int
	for _, b := range blocks {
		where := fmt.Sprintf("README.md:%d", b.line)
		switch b.lang {
		case "sh":
			for _, c := range shellCommands(b) {
				ran++
				t.Run(fmt.Sprintf("README.md:%d", c.line), func(t *testing.T) { runREADMECommand(t, c.text) })
			}
		case "yaml":
			t.Run(where, func(t *testing.T) {
				// A test file names its profile relative to itself: the
				// block's directory has the repository's examples.
				dir := t.TempDir()
				examples, err := filepath.Abs(filepath.Join(root, "examples"))
				if err != nil {
					t.Fatal(err)
				}
				if err := os.Symlink(examples, filepath.Join(dir, "examples")); err != nil {
					t.Fatal(err)
				}
				text := strings.Join(b.lines, "\n") + "\n"
				if strings.HasPrefix(text, "profile:") {
					path := filepath.Join(dir, fmt.Sprintf("README.md-%d.test.yaml", b.line))
					if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
						t.Fatal(err)
					}
					// The full build, as for the sh blocks: the device build
					// has no test command.
					if out, err := exec.Command(builtBinary(t, ""), "test", path).CombinedOutput(); err != nil {
						t.Errorf("the test file does not pass: %v\n%s", err, out)
					}
					return
				}
				path := filepath.Join(dir, fmt.Sprintf("README.md-%d.yaml", b.line))
				if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
					t.Fatal(err)
				}
				if code, _, errs := devfence(t, "compile", path); code != exitOK {
					t.Errorf("the profile does not compile: exit %d\n%s", code, errs)
				}
			})
		case "text":
		default:
			t.Errorf("%s: a code block fenced ```%s: fence it sh (commands this test runs), yaml (a profile it compiles) or text (output, not checked)", where, b.lang)
		}
	}
	if ran == 0 {
		t.Error("README.md shows no sh command")
	}
}

// runREADMECommand runs one command line of the README as a shell runs it.
func runREADMECommand(t *testing.T, line string) {
	command := line
	if i := strings.Index(command, " #"); i >= 0 {
		command = command[:i]
	}
	command = strings.TrimSpace(command)
	if f := strings.Fields(command); len(f) >= 2 && f[0] == "go" && f[1] == "test" {
		if command != readmeTestCommand {
			t.Fatalf("%q: the README's test command is %q; this test runs no other go test", command, readmeTestCommand)
		}
		ci, err := os.ReadFile(filepath.Join(root, ".ci", "run"))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(ci), "go test -count=1 ./...") {
			t.Errorf(".ci/run does not run the README's test command (go test -count=1 ./...)")
		}
		return
	}

	bin := builtBinary(t, "")
	shell := strings.ReplaceAll(line, "go run ./cmd/devfence", "devfence")
	args := []string{"sh", "-c", shell}
	if kernelCommand(shell) {
		ip := netlab.RequireTool(t, "ip")
		ns := nltest.NS(t)
		// ip netns exec enters a mount namespace of its own, so the
		// tmpfs is seen by this command only.
		args = []string{ip, "netns", "exec", ns, "sh", "-c", `mount -t tmpfs devfence-readme /var/lib && exec sh -c "$1"`, "sh", shell}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Dir = root
	gobin := filepath.Join(runtime.GOROOT(), "bin")
	cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(bin)+string(os.PathListSeparator)+gobin+string(os.PathListSeparator)+os.Getenv("PATH"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Errorf("%s: %v\n%s", line, err, out)
	}
}

// kernelCommand reports whether the devfence command of a shell line
// works on the kernel: it is one with --netns.
func kernelCommand(shell string) bool {
	f := strings.Fields(shell)
	for i, w := range f {
		if w != "devfence" {
			continue
		}
		for _, arg := range f[i+1:] {
			if strings.HasPrefix(arg, "-") {
				continue // -q, -v before the command's name
			}
			// Not found: an authoring command that this test binary, the
			// device build, lacks (none works on the kernel), or a typo,
			// which the full build run below refuses.
			for _, c := range commands {
				if c.Name == arg {
					return hasFlag(c, "netns")
				}
			}
			return false
		}
	}
	return false
}
