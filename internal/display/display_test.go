package display

import "testing"

func TestTruncate(t *testing.T) {
	for _, tc := range []struct {
		s    string
		n    int
		want string
	}{
		{"short", 5, "short"},
		{"longer", 5, "long…"},
		{"größer als", 6, "größe…"},
	} {
		if got := Truncate(tc.s, tc.n); got != tc.want {
			t.Errorf("Truncate(%q, %d) = %q, want %q", tc.s, tc.n, got, tc.want)
		}
	}
}

func TestOneLine(t *testing.T) {
	if got := OneLine(" a\n\tb  c \n"); got != "a b c" {
		t.Errorf("OneLine = %q", got)
	}
}

func TestPrintable(t *testing.T) {
	for in, want := range map[string]string{
		"plain":                   "plain",
		"two\nlines\tand  spaces": "two lines and spaces",
		"\x1b[2Jcleared\x07":      "?[2Jcleared?",
		"\u009b2Kc1 erased":       "?2Kc1 erased", // the one-byte CSI of C1
		"back\rover\bit":          "back over?it",
		"ünïcode →":               "ünïcode →",
		"cluster \u202eyhtlaeh":   "cluster ?yhtlaeh", // right-to-left override
		"a\u2066b\u2069c":         "a?b?c",            // isolates
		"שלום عربي":               "שלום عربي",        // right-to-left text needs no control
	} {
		if got := Printable(in); got != want {
			t.Errorf("Printable(%q) = %q, want %q", in, got, want)
		}
	}
}
