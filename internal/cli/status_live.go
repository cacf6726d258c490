//go:build !agent

package cli

import (
	"fmt"
	"io"
	"strings"

	"golang.org/x/term"

	"github.com/flotilla-dev/flotilla/internal/display"
)

// terminalInfo says whether w is a terminal and, if so, its size in
// characters (0 when unknown). The -w verbs redraw in place on a terminal and
// print plain lines otherwise; tests inject their own.
type terminalInfo func(w io.Writer) (isTerminal bool, width, height int)

// detectTerminal looks at the file descriptor behind w, if any.
func detectTerminal(w io.Writer) (bool, int, int) {
	f, ok := w.(interface{ Fd() uintptr })
	if !ok {
		return false, 0, 0
	}
	fd := int(f.Fd())
	if !term.IsTerminal(fd) {
		return false, 0, 0
	}
	width, height, err := term.GetSize(fd)
	if err != nil {
		return true, 0, 0
	}
	return true, width, height
}

// ANSI sequences the redraw uses: move the cursor up n rows, go to the start
// of the line, clear from the cursor to the end of the screen.
const (
	ansiUp          = "\x1b[%dA"
	ansiClearToEnd  = "\r\x1b[J"
	moreLinesFormat = "… %d more lines: enlarge the terminal, or pipe the output for all of it"
)

// frameWriter draws frames over each other on a terminal: each draw moves
// the cursor up over the previous frame, clears it, and writes the new one.
// Lines are cut to the terminal's width so that each takes one row (wrapped
// lines would make the cursor arithmetic wrong), and a frame is cut to its
// height (the cursor cannot move above the top of the screen).
type frameWriter struct {
	w io.Writer
	// size is the terminal's width and height, read at each draw as the
	// terminal may have been resized (0 when unknown).
	size func() (width, height int)
	// rows is how many rows the last frame took.
	rows int
}

// newFrameWriter returns a frameWriter over out when it is a terminal, else nil.
func newFrameWriter(out io.Writer, terminal terminalInfo) *frameWriter {
	if isTerminal, _, _ := terminal(out); !isTerminal {
		return nil
	}
	return &frameWriter{w: out, size: func() (int, int) {
		_, width, height := terminal(out)
		return width, height
	}}
}

// draw replaces the previous frame with frame (text lines ending in "\n").
func (f *frameWriter) draw(frame string) error {
	width, height := f.size()
	lines := strings.Split(strings.TrimSuffix(frame, "\n"), "\n")
	if height > 1 && len(lines) > height-1 {
		keep := max(height-2, 0)
		lines = append(lines[:keep], fmt.Sprintf(moreLinesFormat, len(lines)-keep))
	}
	var b strings.Builder
	if f.rows > 0 {
		fmt.Fprintf(&b, ansiUp, f.rows)
	}
	b.WriteString(ansiClearToEnd)
	for _, l := range lines {
		if width > 0 {
			l = display.Truncate(l, width)
		}
		b.WriteString(l + "\n")
	}
	f.rows = len(lines)
	_, err := io.WriteString(f.w, b.String())
	return err
}
