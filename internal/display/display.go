// Package display shortens text for a line of the CLI or the demo's view,
// and keeps text read from the API inert there.
package display

import (
	"strings"
	"unicode"
)

// Truncate cuts s to n characters (runes), marking the cut with "…".
func Truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// OneLine folds s's white space, newlines included, into single spaces.
func OneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// Printable is s on one line, without control characters. Every printer of
// text from the API uses it: a team's message or an agent's report must not
// move the cursor, erase or rewrite a line, or change colours on the
// reader's terminal, nor add a line or break the alignment of a table, nor
// reorder what follows it on the line (Unicode's bidirectional controls,
// such as U+202E, which show "gnp.exe" as "exe.png").
func Printable(s string) string {
	s = OneLine(s)
	if strings.IndexFunc(s, inert) < 0 {
		return s
	}
	return strings.Map(func(r rune) rune {
		if inert(r) {
			return '?'
		}
		return r
	}, s)
}

// inert reports whether r is a character Printable replaces.
func inert(r rune) bool {
	return unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r)
}
