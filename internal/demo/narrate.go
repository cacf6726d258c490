package demo

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/term"
)

// narrator writes the story: numbered headings, what the user sees, the
// command that shows the same, and live views that a terminal redraws in
// place and any other output gets as plain lines, one per change.
type narrator struct {
	out io.Writer
	tty bool
	// width is the terminal's, to which live lines are cut (a wrapped line
	// would throw the redraw off); 0 when out is not a terminal.
	width int
	step  int
	steps int
}

// minWidth is the narrowest terminal the live view assumes.
const minWidth = 40

func newNarrator(out io.Writer, steps int) *narrator {
	n := &narrator{out: out, steps: steps}
	if f, ok := out.(*os.File); ok && term.IsTerminal(int(f.Fd())) && os.Getenv("TERM") != "dumb" {
		n.tty, n.width = true, 80
		if w, _, err := term.GetSize(int(f.Fd())); err == nil && w > 0 {
			n.width = max(w, minWidth)
		}
	}
	return n
}

// heading starts the next step: its title, then what the user is seeing.
func (n *narrator) heading(title string, explain ...string) {
	n.step++
	fmt.Fprintf(n.out, "\n%s %d/%d  %s\n", n.bold("=="), n.step, n.steps, n.bold(title))
	for _, e := range explain {
		fmt.Fprintln(n.out, e)
	}
}

// cmd shows the commands that show (or do) the same as the step.
func (n *narrator) cmd(commands ...string) {
	for _, c := range commands {
		fmt.Fprintf(n.out, "  %s %s\n", n.dim("$"), c)
	}
}

func (n *narrator) say(format string, args ...any) {
	fmt.Fprintf(n.out, format+"\n", args...)
}

// block writes a pre-formatted block (a table).
func (n *narrator) block(s string) {
	fmt.Fprint(n.out, s)
}

// ok reports an outcome the demo checked.
func (n *narrator) ok(format string, args ...any) {
	mark := "ok:"
	if n.tty {
		mark = "\x1b[32m✓\x1b[0m"
	}
	fmt.Fprintf(n.out, "%s %s\n", mark, fmt.Sprintf(format, args...))
}

func (n *narrator) bold(s string) string {
	if !n.tty {
		return s
	}
	return "\x1b[1m" + s + "\x1b[0m"
}

func (n *narrator) dim(s string) string {
	if !n.tty {
		return s
	}
	return "\x1b[2m" + s + "\x1b[0m"
}

// live starts a live view.
func (n *narrator) live() *liveView {
	return &liveView{n: n, start: time.Now(), printed: map[string]string{}}
}

// liveView shows successive frames of something that moves. On a terminal
// each frame replaces the previous one; elsewhere each line that changed is
// printed once, stamped with the time since the view started.
type liveView struct {
	n       *narrator
	start   time.Time
	drawn   int               // lines of the frame on screen (terminal)
	printed map[string]string // last text printed per line key (plain)
}

func (v *liveView) show(frame []line, now time.Time) {
	elapsed := now.Sub(v.start).Truncate(time.Second)
	stamp := fmt.Sprintf("%d:%02d", int(elapsed.Minutes()), int(elapsed.Seconds())%60)
	if !v.n.tty {
		for _, l := range frame {
			if v.printed[l.key] != l.text {
				v.printed[l.key] = l.text
				fmt.Fprintf(v.n.out, "  [%s] %s\n", stamp, strings.TrimLeft(l.text, " "))
			}
		}
		return
	}
	var b strings.Builder
	if v.drawn > 0 {
		fmt.Fprintf(&b, "\x1b[%dA\x1b[J", v.drawn) // back to the frame's first line, and clear below
	}
	for i, l := range frame {
		text := l.text
		if i == 0 {
			text = v.n.dim("["+stamp+"]") + " " + text
		}
		// A wrapped line would throw the redraw off by one: cut to the width.
		b.WriteString(cutVisible(text, v.n.width-1) + "\n")
	}
	v.drawn = len(frame)
	fmt.Fprint(v.n.out, b.String())
}

// cutVisible cuts s to n visible characters, leaving ANSI escape sequences
// whole (they take no room) and resetting attributes after a cut.
func cutVisible(s string, n int) string {
	var b strings.Builder
	visible, inEscape := 0, false
	for _, r := range s {
		switch {
		case inEscape:
			b.WriteRune(r)
			if r >= '@' && r <= '~' && r != '[' {
				inEscape = false
			}
			continue
		case r == '\x1b':
			inEscape = true
			b.WriteRune(r)
			continue
		}
		if visible == n {
			b.WriteString("\x1b[0m")
			return b.String()
		}
		b.WriteRune(r)
		visible++
	}
	return b.String()
}
