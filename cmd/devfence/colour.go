package main

import (
	"io"
	"os"
	"strings"

	"golang.org/x/term"
)

const (
	ansiRed   = "\x1b[31m"
	ansiGreen = "\x1b[32m"
	ansiCyan  = "\x1b[36m"
	ansiReset = "\x1b[0m"
)

// useColour: only a terminal gets colour, and never with NO_COLOR set
// (https://no-color.org: any non-empty value). JSON is never coloured;
// its callers do not ask.
func useColour(w io.Writer) bool {
	if os.Getenv("NO_COLOR") != "" {
		return false
	}
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// colourDiff colours a unified diff and its plan line for w: additions
// green, removals red, hunk headers cyan; unchanged when w is no terminal.
func colourDiff(w io.Writer, diff string) string {
	if !useColour(w) {
		return diff
	}
	return colourLines(diff)
}

func colourLines(diff string) string {
	var b strings.Builder
	for _, l := range strings.SplitAfter(diff, "\n") {
		body, nl := strings.CutSuffix(l, "\n")
		colour := ""
		switch {
		case strings.HasPrefix(body, "+"):
			colour = ansiGreen
		case strings.HasPrefix(body, "-"):
			colour = ansiRed
		case strings.HasPrefix(body, "@@"):
			colour = ansiCyan
		}
		if colour == "" || body == "" {
			b.WriteString(l)
			continue
		}
		b.WriteString(colour + body + ansiReset)
		if nl {
			b.WriteByte('\n')
		}
	}
	return b.String()
}
