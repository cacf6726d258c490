//go:build !agent

package cli

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/fleetview"
	"github.com/flotilla-dev/flotilla/internal/rollout/simulate"
)

var updateGolden = flag.Bool("update", false, "rewrite the golden files in testdata/verdicts")

// TestVerdictOutputs prints `flotilla rollout status` and `flotilla status`
// at the end of engine sequences whose outcome must read honestly: a
// rollback after failures (the failures that led to it apart from the live
// counts, no wave left at work), a success with failures within the budget
// (SucceededWithFailures, failures that are not the rollout's apart), and a
// Deadline rollout that completed before its deadline. `go test -update`
// rewrites the golden files.
func TestVerdictOutputs(t *testing.T) {
	for _, name := range []string{"budget-rollback", "attribution", "deadline-early"} {
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("..", "rollout", "testdata", "sequences", name+".yaml"))
			if err != nil {
				t.Fatal(err)
			}
			o, err := simulate.PlayToObjects(data, "app-2")
			if err != nil {
				t.Fatal(err)
			}
			var rolloutOut, statusOut bytes.Buffer
			printRolloutStatus(&rolloutOut, &o.Rollout, o.Now)
			v := fleetview.Build(fleetview.Snapshot{Now: o.Now, Clusters: o.Clusters, Works: o.Works,
				Rollouts: []fleetv1alpha1.Rollout{o.Rollout}, Promises: []fleetv1alpha1.Promise{o.Promise}})
			printFleetStatus(&statusOut, &v, "flotilla")
			golden(t, filepath.Join("testdata", "verdicts", name+".rollout-status.golden"), rolloutOut.String())
			golden(t, filepath.Join("testdata", "verdicts", name+".status.golden"), statusOut.String())
		})
	}
}

// golden compares got with a golden file, rewriting it with -update.
func golden(t *testing.T, file, got string) {
	t.Helper()
	if *updateGolden {
		if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (run with -update to accept):\n%s", file, got)
	}
}
