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
// reader's terminal, nor add a line or break the alignment of a table.
func Printable(s string) string {
	s = OneLine(s)
	if strings.IndexFunc(s, unicode.IsControl) < 0 {
		return s
	}
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return '?'
		}
		return r
	}, s)
}
