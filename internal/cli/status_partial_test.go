//go:build !agent

package cli

import (
	"bytes"
	"testing"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/fleetview"
)

// A team member's status (per-team RBAC: no Works, Rollouts in their
// namespace only) says what it cannot know instead of printing zero.
func TestPrintFleetStatusPartial(t *testing.T) {
	tests := []struct {
		name string
		view fleetview.View
		want string
	}{{
		name: "a team: no Works, Rollouts in its namespace",
		view: fleetview.View{
			GeneratedAt: now,
			Clusters:    fleetview.ClusterCounts{Total: 3, Available: 3},
			Tiles: []fleetview.ClusterTile{
				{Name: "eu-1", Health: fleetview.HealthHidden, WorksHidden: true},
				{Name: "eu-2", Health: fleetview.HealthHidden, WorksHidden: true},
			},
			Promises: []fleetview.PromiseView{{Name: "web", LatestRevision: "web-2", Instances: 2}},
			Rollouts: []fleetview.RolloutView{{
				Namespace: "team-a", Name: "web-shop-3", Promise: "web", Instance: "team-a/shop",
				FromRevision: "web-shop-1", TargetRevision: "web-shop-3", Phase: fleetv1alpha1.RolloutPhaseProgressing,
				Counts: fleetv1alpha1.RolloutCounts{Total: 2, Healthy: 1},
			}},
			Hidden: []string{"rollouts outside namespace team-a", "works"},
			Visibility: fleetview.Visibility{Partial: true, Clusters: fleetview.ListedAll, Works: fleetview.ListedNone,
				Rollouts: fleetview.ListedNamespace, Promises: fleetview.ListedAll, FleetFreezes: fleetview.ListedAll,
				DriftExceptions: fleetview.ListedNamespace, Namespace: "team-a"},
		},
		want: `Clusters: 3 total, 3 available, 0 offline, 0 unknown

Promises (clusters on each revision: unknown (hidden: your credentials may not list Works)):
  web  latest web-2, 2 instances

Rollouts in flight (1 in namespace team-a; others hidden):
  team-a/web-shop-3  web/shop  web-shop-1 → web-shop-3
    Progressing: 0% on target (1 of 2 clusters healthy)

Failing: unknown (hidden: your credentials may not list Works)

Drift: unknown (hidden: your credentials may not list Works)

Not shown (your credentials may not list them): rollouts outside namespace team-a, works
`,
	}, {
		name: "nothing listed",
		view: fleetview.View{
			GeneratedAt: now,
			Hidden:      []string{"clusters", "fleetfreezes", "promises", "rollouts", "works"},
			Visibility: fleetview.Visibility{Partial: true, Clusters: fleetview.ListedNone, Works: fleetview.ListedNone,
				Rollouts: fleetview.ListedNone, Promises: fleetview.ListedNone, FleetFreezes: fleetview.ListedNone,
				DriftExceptions: fleetview.ListedNone},
		},
		want: `Clusters: unknown (hidden: your credentials may not list Clusters)

Promises: unknown (hidden: your credentials may not list Promises)

Rollouts in flight: unknown (hidden: your credentials may not list Rollouts)

Failing: unknown (hidden: your credentials may not list Works)

Drift: unknown (hidden: your credentials may not list Works)

Frozen: unknown (hidden: your credentials may not list FleetFreezes)

Not shown (your credentials may not list them): clusters, fleetfreezes, promises, rollouts, works
`,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			printFleetStatus(&b, &tt.view, "flotilla")
			if got := b.String(); got != tt.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}

// flotilla drift without Works says drift is unknown, not "0 resources".
func TestPrintDriftWithoutWorks(t *testing.T) {
	var b bytes.Buffer
	printDrift(&b, &driftReport{GeneratedAt: now, Hidden: []string{"works"}})
	want := "Drift: unknown (hidden: your credentials may not list Works)\nNot shown (your credentials may not list them): works\n"
	if got := b.String(); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}
