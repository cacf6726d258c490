package fleetview

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// teamSnapshot is what a team member reads with the per-team RBAC of
// docs/howto/per-team-setup.md: Clusters, Promises and FleetFreezes across
// the hub, Rollouts and DriftExceptions in their namespace only, no Works.
func teamSnapshot() Snapshot {
	s := fleetSnapshot()
	s.Works = nil
	team := rollout("shop-3", now.Add(-2*time.Minute), fleetv1alpha1.RolloutPhaseProgressing)
	team.Namespace = "team-a"
	s.Rollouts = []fleetv1alpha1.Rollout{team}
	s.Hidden = []string{KindWorks, HiddenOutside(KindRollouts, "team-a"), HiddenOutside(KindDriftExceptions, "team-a")}
	return s
}

// What RBAC hides is unknown, never idle or zero: a cluster whose Works the
// reader may not list is Hidden (unless its own status says Offline), and
// the View says which lists were hidden, in whole or outside a namespace.
func TestBuildPartialView(t *testing.T) {
	for _, tc := range []struct {
		name   string
		hidden []string
		want   Visibility
		health map[string]Health
	}{{
		name:   "everything listed",
		want:   Visibility{Clusters: ListedAll, Works: ListedAll, Rollouts: ListedAll, Promises: ListedAll, FleetFreezes: ListedAll, DriftExceptions: ListedAll},
		health: map[string]Health{"pilot-1": HealthIdle, "canary-1": HealthIdle, "general-1": HealthOffline, "general-2": HealthIdle},
	}, {
		name:   "a team: no Works, Rollouts in its namespace",
		hidden: []string{KindWorks, HiddenOutside(KindRollouts, "team-a"), HiddenOutside(KindDriftExceptions, "team-a")},
		want: Visibility{Partial: true, Clusters: ListedAll, Works: ListedNone, Rollouts: ListedNamespace, Promises: ListedAll,
			FleetFreezes: ListedAll, DriftExceptions: ListedNamespace, Namespace: "team-a"},
		health: map[string]Health{"pilot-1": HealthHidden, "canary-1": HealthHidden, "general-1": HealthOffline, "general-2": HealthHidden},
	}, {
		name:   "nothing but Works",
		hidden: []string{KindClusters, KindRollouts, KindPromises, KindFleetFreezes, KindDriftExceptions},
		want: Visibility{Partial: true, Clusters: ListedNone, Works: ListedAll, Rollouts: ListedNone, Promises: ListedNone,
			FleetFreezes: ListedNone, DriftExceptions: ListedNone},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			s := fleetSnapshot()
			s.Works = nil // the clusters run nothing the reader sees
			s.Hidden = tc.hidden
			v := Build(s)
			if v.Visibility != tc.want {
				t.Errorf("visibility %+v, want %+v", v.Visibility, tc.want)
			}
			for _, tile := range v.Tiles {
				want, ok := tc.health[tile.Name]
				if !ok {
					continue
				}
				if tile.Health != want {
					t.Errorf("tile %s: %s, want %s", tile.Name, tile.Health, want)
				}
				if tile.WorksHidden != (tc.want.Works == ListedNone) {
					t.Errorf("tile %s: worksHidden %v with Works %s", tile.Name, tile.WorksHidden, tc.want.Works)
				}
				if tile.Health == HealthHidden && tile.Reason == "" {
					t.Errorf("tile %s is Hidden without saying why", tile.Name)
				}
			}
		})
	}
}

// The team's view as JSON (what `flotilla status -o json` and the
// dashboard's /api/fleet serve), against testdata/partial-team.json.
func TestBuildPartialViewGolden(t *testing.T) {
	got, err := json.MarshalIndent(Build(teamSnapshot()), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	golden := filepath.Join("testdata", "partial-team.json")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to write it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("the team's view differs from %s (go test -update rewrites it):\n%s", golden, got)
	}
	// Whatever the golden file says, a hidden list never reads as idle.
	var v View
	if err := json.Unmarshal(want, &v); err != nil {
		t.Fatal(err)
	}
	for _, tile := range v.Tiles {
		if tile.Health == HealthIdle {
			t.Errorf("tile %s is Idle in a view without Works", tile.Name)
		}
	}
}

// A Snapshot's Hidden may come in any order; the View is the same.
func TestVisibilityOrderIndependent(t *testing.T) {
	a := visibility([]string{KindWorks, HiddenOutside(KindRollouts, "team-a")})
	b := visibility([]string{HiddenOutside(KindRollouts, "team-a"), KindWorks})
	if a != b {
		t.Errorf("%+v != %+v", a, b)
	}
}
