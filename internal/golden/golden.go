// Package golden compares what a test produced with a file in testdata, or,
// when the test runs with -update, rewrites the file instead (review the
// diff). Test code only.
package golden

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// Check compares got with the golden file; with -update it writes got there.
func Check(t testing.TB, file, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if diff := firstDiff(string(want), got); diff != "" {
		t.Errorf("output differs from %s (run with -update to accept):\n%s\nfull output:\n%s", file, diff, got)
	}
}

// Sequences plays every scenario file matching pattern (for example
// testdata/sequences/*.txt) in a parallel subtest named after the file, and
// checks the trace play returns against the file of the same name ending
// in .golden.
func Sequences(t *testing.T, pattern string, play func(script []byte) (trace string, err error)) {
	t.Helper()
	files, err := filepath.Glob(pattern)
	if err != nil || len(files) == 0 {
		t.Fatalf("no scenarios: %v", err)
	}
	for _, file := range files {
		base := strings.TrimSuffix(file, filepath.Ext(file))
		t.Run(filepath.Base(base), func(t *testing.T) {
			t.Parallel()
			script, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			trace, err := play(script)
			if err != nil {
				t.Fatalf("%v\ntrace so far:\n%s", err, trace)
			}
			Check(t, base+".golden", trace)
		})
	}
}

// firstDiff shows the first line where got differs from want, or "" when
// they are equal.
func firstDiff(want, got string) string {
	if want == got {
		return ""
	}
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := range max(len(w), len(g)) {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			return fmt.Sprintf("line %d:\n  want: %s\n  got:  %s", i+1, wl, gl)
		}
	}
	return ""
}
