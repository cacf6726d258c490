package rollout_test

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flotilla-dev/flotilla/internal/rollout/simulate"
)

var update = flag.Bool("update", false, "rewrite the golden traces in testdata/sequences")

// TestSequences plays every scenario in testdata/sequences over the fake
// fleet, checking the engine's invariants at every step, and compares the
// trace with the scenario's golden file (`go test ./internal/rollout -update`
// rewrites them).
func TestSequences(t *testing.T) {
	files, err := filepath.Glob("testdata/sequences/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scenarios: %v", err)
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".yaml")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			s, err := simulate.Parse(data)
			if err != nil {
				t.Fatal(err)
			}
			res, err := simulate.Run(s, simulate.Options{Check: true})
			if err != nil {
				t.Fatalf("%v\ntrace so far:\n%s", err, res.Trace)
			}
			golden := strings.TrimSuffix(file, ".yaml") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(res.Trace), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if diff := firstDiff(string(want), res.Trace); diff != "" {
				t.Errorf("trace differs from %s (run with -update to accept):\n%s\nfull trace:\n%s", golden, diff, res.Trace)
			}
		})
	}
}

// firstDiff shows the first line where got differs from want.
func firstDiff(want, got string) string {
	if want == got {
		return ""
	}
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < max(len(w), len(g)); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			return fmt.Sprintf("line %d:\n- %s\n+ %s", i+1, wl, gl)
		}
	}
	return ""
}
