package demo

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestNarratorOnAPlainWriter(t *testing.T) {
	var out bytes.Buffer
	n := newNarrator(&out, 2)
	if n.tty {
		t.Fatal("a buffer is not a terminal")
	}
	n.heading("First", "what you see")
	n.cmd("flotilla rollout list")
	n.ok("done %d", 1)
	want := "\n== 1/2  First\nwhat you see\n  $ flotilla rollout list\nok: done 1\n"
	if out.String() != want {
		t.Errorf("narration = %q, want %q", out.String(), want)
	}
}

// Without a terminal, a live view prints each line once per change,
// stamped with the time since the view started.
func TestLiveViewPlain(t *testing.T) {
	var out bytes.Buffer
	v := newNarrator(&out, 1).live()
	start := v.start
	v.show([]line{{"a", "rollout: Progressing"}, {"b", "  member-1 old"}}, start)
	v.show([]line{{"a", "rollout: Progressing"}, {"b", "  member-1 new"}}, start.Add(75*time.Second))
	v.show([]line{{"a", "rollout: Progressing"}, {"b", "  member-1 new"}}, start.Add(76*time.Second))
	want := "  [0:00] rollout: Progressing\n  [0:00] member-1 old\n  [1:15] member-1 new\n"
	if out.String() != want {
		t.Errorf("output = %q, want %q", out.String(), want)
	}
}

// On a terminal, each frame replaces the previous one in place, and lines
// are cut to the terminal's width so that none wraps.
func TestLiveViewTerminal(t *testing.T) {
	var out bytes.Buffer
	n := &narrator{out: &out, tty: true, width: 40}
	v := n.live()
	v.show([]line{{"a", "header"}, {"b", "one"}, {"c", strings.Repeat("x", 100)}}, v.start)
	first := out.Len()
	v.show([]line{{"a", "header"}, {"b", "two"}}, v.start.Add(time.Second))
	second := out.String()[first:]
	if !strings.HasPrefix(second, "\x1b[3A\x1b[J") {
		t.Errorf("second frame does not move back over the 3 lines of the first: %q", second)
	}
	if strings.Contains(out.String()[:first], "\x1b[3A") {
		t.Errorf("first frame moved the cursor up: %q", out.String()[:first])
	}
	if !strings.Contains(second, "[0:01]") || !strings.Contains(second, "two") {
		t.Errorf("second frame = %q", second)
	}
	for _, l := range strings.Split(out.String()[:first], "\n") {
		if visible := len([]rune(stripEscapes(l))); visible > 39 {
			t.Errorf("line of %d visible characters at width 40: %q", visible, l)
		}
	}
}

func TestCutVisible(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"abcdef", 3, "abc\x1b[0m"},
		{"\x1b[2m[0:01]\x1b[0m rollout", 8, "\x1b[2m[0:01]\x1b[0m r\x1b[0m"},
		{"ünïcödé", 3, "ünï\x1b[0m"},
	} {
		if got := cutVisible(tc.in, tc.n); got != tc.want {
			t.Errorf("cutVisible(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}

func stripEscapes(s string) string {
	var b strings.Builder
	in := false
	for _, r := range s {
		switch {
		case in:
			if r >= '@' && r <= '~' && r != '[' {
				in = false
			}
		case r == '\x1b':
			in = true
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
