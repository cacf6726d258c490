package fleetview

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/rollout/simulate"
)

// verdictScenarios are engine sequences whose end the views must tell
// honestly: a rollback after failures, a success with failures within the
// budget (and failures that are not the rollout's), a Deadline rollout that
// completed before its deadline.
var verdictScenarios = []string{"budget-rollback", "attribution", "deadline-early"}

// verdictSnapshot plays a scenario of internal/rollout/testdata/sequences
// and returns the hub's objects at its end as a Snapshot.
func verdictSnapshot(t *testing.T, scenario string) Snapshot {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "rollout", "testdata", "sequences", scenario+".yaml"))
	if err != nil {
		t.Fatal(err)
	}
	o, err := simulate.PlayToObjects(data, "app-2")
	if err != nil {
		t.Fatal(err)
	}
	return Snapshot{Now: o.Now, Clusters: o.Clusters, Works: o.Works, Rollouts: []fleetv1alpha1.Rollout{o.Rollout},
		Promises: []fleetv1alpha1.Promise{o.Promise}}
}

// The dashboard's JSON at the end of each verdict scenario: one set of
// numbers (the Rollout's status), the outcome (SucceededWithFailures), no
// wave at work in an ended rollout, unattributed failures apart, and
// versions counted where they are healthy. `go test -update` rewrites them.
func TestVerdictViews(t *testing.T) {
	for _, name := range verdictScenarios {
		t.Run(name, func(t *testing.T) {
			v := Build(verdictSnapshot(t, name))
			got, err := json.MarshalIndent(v, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			file := filepath.Join("testdata", "verdicts", name+".json")
			if *update {
				if err := os.WriteFile(file, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != string(want) {
				t.Errorf("view differs from %s (run with -update to accept):\n%s", file, got)
			}
			for _, r := range v.Rollouts {
				for _, w := range r.Waves {
					switch w.Phase {
					case fleetv1alpha1.WavePhaseProgressing, fleetv1alpha1.WavePhaseBaking, fleetv1alpha1.WavePhaseWaitingForApproval:
						t.Errorf("ended rollout %s shows wave %s %s", r.Name, w.Name, w.Phase)
					case fleetv1alpha1.WavePhaseSucceeded:
						if w.Counts.Healthy != w.Counts.Total {
							t.Errorf("wave %s is Succeeded with %d/%d healthy", w.Name, w.Counts.Healthy, w.Counts.Total)
						}
					}
				}
			}
		})
	}
}
