//go:build !agent

package cli

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/fleetview"
)

func timeAgo(d time.Duration) *time.Time {
	t := now.Add(-d)
	return &t
}

// releaseView is a fleet in the middle of a release: a Promise on two
// revisions, a rollout waiting for approval of its second wave, failures,
// an offline cluster, a freeze, and what the reader may not see.
func releaseView() fleetview.View {
	return fleetview.View{
		GeneratedAt: now,
		Clusters:    fleetview.ClusterCounts{Total: 5, Available: 3, Offline: 1, Unknown: 1},
		Tiles: []fleetview.ClusterTile{
			{Name: "canary-1", Failed: 1}, {Name: "canary-2"}, {Name: "general-1"},
		},
		Promises: []fleetview.PromiseView{
			{Name: "db", Instances: 1},
			{Name: "web", LatestRevision: "web-2", Instances: 2, Clusters: 4, Revisions: []fleetview.RevisionShare{
				{Revision: "web-2", Clusters: 2, Healthy: 1, NotHealthy: 1, Percent: 25, NotHealthyPercent: 25, Latest: true},
				{Revision: "web-1", Clusters: 1, Healthy: 1, Percent: 25},
				{Revision: fleetview.RevisionMixed, Clusters: 1, NotHealthy: 1, NotHealthyPercent: 25},
			}},
		},
		Rollouts: []fleetview.RolloutView{
			{
				Namespace: "flotilla-system", Name: "web-2", Promise: "web", FromRevision: "web-1", TargetRevision: "web-2",
				Phase: fleetv1alpha1.RolloutPhaseWaitingForApproval, CurrentWave: "canary", PercentOnTarget: 33,
				Counts: fleetv1alpha1.RolloutCounts{Total: 3, Healthy: 1, Failed: 1},
				Waves: []fleetview.WaveView{
					{Name: "pilot", Phase: fleetv1alpha1.WavePhaseSucceeded, Clusters: []string{"pilot-1"},
						Counts: fleetv1alpha1.RolloutCounts{Total: 1, Healthy: 1}},
					{Name: "canary", Phase: fleetv1alpha1.WavePhaseWaitingForApproval, Clusters: []string{"canary-1", "canary-2"},
						Counts: fleetv1alpha1.RolloutCounts{Total: 2, Failed: 1, Pending: 1}},
					{Name: "remaining", Clusters: []string{"general-1", "general-2"}},
				},
				AwaitingApproval: "canary",
			},
			{
				Namespace: "team-a", Name: "orders-7d9f", Promise: "db", Instance: "team-a/orders", TargetRevision: "db-2",
				Phase: fleetv1alpha1.RolloutPhaseHalted, Counts: fleetv1alpha1.RolloutCounts{Total: 1, Failed: 1},
				Waves:        []fleetview.WaveView{{Name: "Immediate", Phase: fleetv1alpha1.WavePhaseProgressing, Counts: fleetv1alpha1.RolloutCounts{Total: 1, Failed: 1}}},
				Message:      "failure budget exceeded:\n1 of 1 failed",
				Failures:     []fleetv1alpha1.ClusterFailure{{Cluster: "eu-1", Reason: "ProgressDeadlineExceeded"}},
				FailureCount: 1,
			},
			{
				Namespace: "flotilla-system", Name: "web-1", Promise: "web", TargetRevision: "web-1",
				Phase: fleetv1alpha1.RolloutPhaseSucceeded, Finished: true, CompletedAt: timeAgo(time.Hour),
			},
			{
				Namespace: "flotilla-system", Name: "web-0", Promise: "web", TargetRevision: "web-0",
				Phase: fleetv1alpha1.RolloutPhaseRolledBack, Finished: true, CompletedAt: timeAgo(2 * time.Hour), RollbackRevision: "web-z",
				Failures:     []fleetv1alpha1.ClusterFailure{{Cluster: "a"}, {Cluster: "b", Reason: "ApplyFailed"}, {Cluster: "c"}, {Cluster: "d"}},
				FailureCount: 7,
			},
		},
		Failures: []fleetview.Failure{
			{Cluster: "canary-1", Promise: "web", Instance: "team-a/shop", Work: "web-shop", Revision: "web-2",
				Reason: "ImagePullBackOff", Message: "Deployment team-a/shop: \x1b[31mimage\x1b[0m not found"},
		},
		FailureCount: 1,
		Drift: fleetview.Drift{Resources: fleetview.DriftCounts{Unexplained: 2, Accepted: 1, Total: 3},
			Clusters: fleetview.DriftCounts{Unexplained: 2, Accepted: 1, Total: 2}},
		Offline: []fleetview.Offline{{Cluster: "general-1", LastHeartbeat: timeAgo(90 * time.Second), Reason: "no heartbeat for 1m30s"}},
		Freezes: []fleetview.Freeze{{Name: "cve", Action: fleetv1alpha1.FreezeHalt, Reason: "incident 42", FrozenBy: "alice",
			Until: func() *time.Time { t := now.Add(2 * time.Hour); return &t }(), Held: 2}},
		Hidden: []string{"rollouts outside namespace team-a", "works"},
	}
}

func TestPrintFleetStatus(t *testing.T) {
	tests := []struct {
		name    string
		view    fleetview.View
		command string
		want    string
	}{{
		name:    "empty fleet",
		view:    fleetview.View{GeneratedAt: now},
		command: "flotilla",
		want: `Clusters: 0 total, 0 available, 0 offline, 0 unknown

Promises: none

Rollouts in flight: none

Failing: none
`,
	}, {
		name:    "during a release, as a kubectl plugin",
		view:    releaseView(),
		command: "kubectl flotilla",
		want: `Clusters: 5 total, 3 available, 1 offline, 1 unknown

Promises (clusters healthy on each revision; those that applied it but are not healthy apart):
  db                1 instance, on 0 clusters
  web               latest web-2, 2 instances, on 4 clusters
    web-2 (latest)  1 healthy   25.0%  █████▒▒▒▒▒░░░░░░░░░░  +1 applied, not healthy (25.0%)
    web-1           1 healthy   25.0%  █████░░░░░░░░░░░░░░░
    (mixed)         0 healthy    0.0%  ▒▒▒▒▒░░░░░░░░░░░░░░░  +1 applied, not healthy (25.0%)

Rollouts in flight (2):
  flotilla-system/web-2  web  web-1 → web-2
    WaitingForApproval, wave canary: 33% on target (1 of 3 clusters healthy)
    pilot      Succeeded           ████████████████████  1/1 healthy
    canary     WaitingForApproval  ░░░░░░░░░░░░░░░░░░░░  0/2 healthy  1 failed, 1 pending
    remaining  Pending             ░░░░░░░░░░░░░░░░░░░░  0/2 healthy
    wave canary waits for approval: kubectl flotilla rollout approve web-2 --wave canary
  team-a/orders-7d9f  db/orders  (none) → db-2
    Halted: 0% on target (0 of 1 clusters healthy)
    Immediate  Progressing  ░░░░░░░░░░░░░░░░░░░░  0/1 healthy  1 failed
    failed: eu-1 (ProgressDeadlineExceeded)
    failure budget exceeded: 1 of 1 failed

Recently finished:
  flotilla-system/web-1  web  → web-1  Succeeded   60m ago
  flotilla-system/web-0  web  → web-0  RolledBack  120m ago  rolled back after: a, b (ApplyFailed), c and 4 more

Failing: 1 Work on 1 cluster
  CLUSTER   PROMISE  INSTANCE     REVISION  REASON            MESSAGE
  canary-1  web      team-a/shop  web-2     ImagePullBackOff  Deployment team-a/shop: ?[31mimage?[0m not found

Drift: 3 resources drifted on 2 clusters: 2 unexplained, 1 accepted (kubectl flotilla drift lists them)

Offline: 1 cluster
  CLUSTER    LAST HEARTBEAT  REASON
  general-1  90s ago         no heartbeat for 1m30s

Frozen: 1 FleetFreeze in force
  cve: Halt, by alice, until 2031-01-02T14:00:00Z (120m left), holding 2 rollouts: incident 42

Not shown (your credentials may not list them): rollouts outside namespace team-a, works
`,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			printFleetStatus(&b, &tt.view, tt.command)
			if got := b.String(); got != tt.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}

// The latest revision is listed even before any cluster runs it; failures
// and offline clusters are bounded, saying how many more there are.
func TestPrintFleetStatusBounds(t *testing.T) {
	v := fleetview.View{GeneratedAt: now, Promises: []fleetview.PromiseView{{
		Name: "web", LatestRevision: "web-3", Clusters: 2,
		Revisions: []fleetview.RevisionShare{{Revision: "web-2", Clusters: 2, Healthy: 2, Percent: 100}},
	}}}
	for i := range 50 {
		v.Failures = append(v.Failures, fleetview.Failure{Cluster: fmt.Sprintf("c-%02d", i), Promise: "web", Reason: "ApplyFailed"})
		v.Tiles = append(v.Tiles, fleetview.ClusterTile{Name: fmt.Sprintf("c-%02d", i), Failed: 1})
		v.Offline = append(v.Offline, fleetview.Offline{Cluster: fmt.Sprintf("o-%02d", i)})
	}
	v.FailureCount = 70
	var b bytes.Buffer
	printFleetStatus(&b, &v, "flotilla")
	out := b.String()
	for _, want := range []string{
		"    web-3 (latest)  0 healthy    0.0%  ░░░░░░░░░░░░░░░░░░░░\n    web-2           2 healthy  100.0%  ████████████████████\n",
		"Failing: 70 Works on 50 clusters\n",
		"  c-09     web      -         -         ApplyFailed  -\n  and 60 more (flotilla get works -o wide: every Work, with STATE and REASON)\n",
		"Offline: 50 clusters\n",
		"  o-09     never           -\n  and 40 more\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "c-10") || strings.Contains(out, "o-10") {
		t.Errorf("more failures or offline clusters than the bound:\n%s", out)
	}
}

func TestBar(t *testing.T) {
	for _, tt := range []struct {
		n, total int
		filled   int
	}{{0, 0, 0}, {0, 5, 0}, {1, 3, 6}, {2, 3, 13}, {3, 3, 20}, {7, 3, 20}, {-1, 3, 0}} {
		got := bar(tt.n, tt.total)
		if want := strings.Repeat("█", tt.filled) + strings.Repeat("░", barWidth-tt.filled); got != want {
			t.Errorf("bar(%d, %d) = %q, want %d filled", tt.n, tt.total, got, tt.filled)
		}
	}
}

// A rollout in flight shows the checks of its current wave: a line per check
// that has not passed, as `flotilla rollout status` describes it, and how
// many passed; an inconclusive one names the commands that let the wave on.
func TestPrintFleetStatusChecks(t *testing.T) {
	passed := func(name string) fleetview.CheckView {
		return fleetview.CheckView{Name: name, Verdict: fleetv1alpha1.CheckPassed, Scope: fleetv1alpha1.CheckWholeWave,
			Message: "check " + name + " passed"}
	}
	rollout := func(checks ...fleetview.CheckView) fleetview.RolloutView {
		return fleetview.RolloutView{
			Namespace: "team-a", Name: "web-2", Promise: "web", FromRevision: "web-1", TargetRevision: "web-2",
			Phase: fleetv1alpha1.RolloutPhaseProgressing, CurrentWave: "canary", Counts: fleetv1alpha1.RolloutCounts{Total: 2},
			Waves: []fleetview.WaveView{
				{Name: "pilot", Phase: fleetv1alpha1.WavePhaseSucceeded, Counts: fleetv1alpha1.RolloutCounts{Total: 1, Healthy: 1},
					Checks: []fleetview.CheckView{{Name: "old", Verdict: fleetv1alpha1.CheckFailed, Message: "not the current wave's"}}},
				{Name: "canary", Phase: fleetv1alpha1.WavePhaseProgressing, Counts: fleetv1alpha1.RolloutCounts{Total: 1}, Checks: checks},
			},
		}
	}
	const head = `  team-a/web-2  web  web-1 → web-2
    Progressing, wave canary: 0% on target (0 of 2 clusters healthy)
    pilot   Succeeded    ████████████████████  1/1 healthy
    canary  Progressing  ░░░░░░░░░░░░░░░░░░░░  0/1 healthy
`
	tests := []struct {
		name    string
		rollout fleetview.RolloutView
		want    string
	}{{
		name:    "no checks in the current wave",
		rollout: rollout(),
		want:    head,
	}, {
		name:    "every check passed",
		rollout: rollout(passed("error-rate"), passed("latency")),
		want:    head + "    canary: checks: 2 passed\n",
	}, {
		name: "some not passed",
		rollout: rollout(
			passed("smoke"),
			fleetview.CheckView{Name: "error-rate", Verdict: fleetv1alpha1.CheckFailed, Scope: fleetv1alpha1.CheckEachCluster,
				Counts:  fleetv1alpha1.CheckCounts{Passing: 1, Failed: 1},
				Message: "cluster eu-2: check error-rate failed: [0.31] does not satisfy result[0] < 0.05 (at 2031-01-02T11:59:58Z; 1 of 3 measurements failed, 0 allowed)"},
			fleetview.CheckView{Name: "latency", Verdict: fleetv1alpha1.CheckInconclusive, Scope: fleetv1alpha1.CheckWholeWave, Run: 1,
				Message: "check latency is inconclusive:\nconnection \x1b[31mrefused"},
			fleetview.CheckView{Name: "soak", Scope: fleetv1alpha1.CheckWholeWave},
			fleetview.CheckView{Name: "synthetic", Verdict: fleetv1alpha1.CheckSkipped, Scope: fleetv1alpha1.CheckWholeWave,
				Message: "check synthetic skipped for wave canary by alice: flaky"},
		),
		want: head + `    canary: check error-rate Failed: cluster eu-2: check error-rate failed: [0.31] does not satisfy result[0] < 0.05 (at 2031-01-02T11:5…
    canary: check latency Inconclusive (run 1): check latency is inconclusive: connection ?[31mrefused
    canary: check soak Pending
    canary: check synthetic Skipped: check synthetic skipped for wave canary by alice: flaky
    canary: checks: 1 passed
    check latency holds wave canary: flotilla rollout rerun-check web-2 -n team-a --check latency, or skip-check with -m REASON
`,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			printRolloutsInFlight(&b, []fleetview.RolloutView{tt.rollout}, "flotilla", now, fleetview.Visibility{Rollouts: fleetview.ListedAll})
			want := "\nRollouts in flight (1):\n" + tt.want
			if got := b.String(); got != want {
				t.Errorf("got:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

// The attack: a team changes 100 of its instances during the platform's
// release, and the hub starts a Rollout for each. `flotilla status` printed
// every Rollout in flight in full, four lines and more each, so in `flotilla
// status -w` on a terminal the failures, the drift and the FleetFreeze in
// force, printed after them, fell hundreds of lines past its last. The
// teams' Rollouts in flight are shown five at most, then counted: however
// many a team starts, the status is as long.
func TestATeamsRolloutsInFlightLeaveTheFreezeOnScreen(t *testing.T) {
	status := func(teamRollouts int) string {
		v := releaseView()
		v.Rollouts = v.Rollouts[:1] // the platform's release
		waves := []fleetview.WaveView{{Name: "canary", Phase: fleetv1alpha1.WavePhaseProgressing}, {Name: "general"}}
		for i := range teamRollouts {
			v.Rollouts = append(v.Rollouts, fleetview.RolloutView{Namespace: "team-a", Name: fmt.Sprintf("shop-%02d-r2", i), Promise: "web",
				Instance: fmt.Sprintf("team-a/shop-%02d", i), TargetRevision: "web-2", Phase: fleetv1alpha1.RolloutPhaseProgressing, Waves: waves})
		}
		var b bytes.Buffer
		printFleetStatus(&b, &v, "flotilla")
		return b.String()
	}
	six, hundred := status(6), status(100)
	if got, want := strings.Count(hundred, "\n"), strings.Count(six, "\n"); got != want {
		t.Errorf("with 100 Rollouts of a team's instances in flight the status is %d lines; with 6, %d:\n%s", got, want, hundred)
	}
	if !strings.Contains(hundred, "  and 95 more of teams' instances (flotilla rollout list -A lists them)\n") ||
		!strings.Contains(hundred, "Rollouts in flight (101):") || !strings.Contains(hundred, "\nFrozen: 1 FleetFreeze in force\n") {
		t.Errorf("the teams' Rollouts past five are not counted, or the freeze is not shown:\n%s", hundred)
	}
}
