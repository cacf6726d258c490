// Package display shortens text for a line of the CLI or the demo's view.
package display

import "strings"

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
