package metrics

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/kube"
)

var now = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

func cluster(name string, a fleetv1alpha1.ClusterAvailability) *fleetv1alpha1.Cluster {
	return &fleetv1alpha1.Cluster{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: fleetv1alpha1.ClusterStatus{Availability: a}}
}

func work(name, cluster, promise, applied string) *fleetv1alpha1.Work {
	return &fleetv1alpha1.Work{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: fleetv1alpha1.ClusterNamespace(cluster)},
		Spec:       fleetv1alpha1.WorkSpec{Cluster: cluster, Subject: fleetv1alpha1.WorkSubject{Promise: promise}, Revision: "r2"},
		Status:     fleetv1alpha1.WorkStatus{AppliedRevision: applied},
	}
}

// drifting gives w one drifted resource per state given.
func drifting(w *fleetv1alpha1.Work, states ...fleetv1alpha1.DriftState) *fleetv1alpha1.Work {
	for i, state := range states {
		w.Status.Resources = append(w.Status.Resources, fleetv1alpha1.ResourceStatus{Version: "v1", Kind: "ConfigMap",
			Name: fmt.Sprintf("cm-%d", i), Result: fleetv1alpha1.ApplyResultApplied,
			Drift: &fleetv1alpha1.ResourceDrift{State: state, Fields: []string{"data.x"}}})
		if state == fleetv1alpha1.DriftAccepted {
			// Accepted under an exception in force the hub gave the Work.
			w.Status.Resources[len(w.Status.Resources)-1].Drift.Exception = "team/hotfix"
			w.Spec.DriftExceptions = append(w.Spec.DriftExceptions, fleetv1alpha1.WorkDriftException{Name: "team/hotfix",
				Resources: []fleetv1alpha1.ResourceSelector{{Kind: "ConfigMap"}}, ExpiresAt: metav1.NewTime(now.Add(time.Hour))})
		}
	}
	return w
}

// promiseObj is a Promise whose status lists revisions, the latest first.
func promiseObj(name string, revisions ...string) *fleetv1alpha1.Promise {
	p := &fleetv1alpha1.Promise{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: fleetv1alpha1.PromiseStatus{LatestRevision: revisions[0]}}
	for _, r := range revisions {
		p.Status.Revisions = append(p.Status.Revisions, fleetv1alpha1.RevisionUsage{Name: r})
	}
	return p
}

func rolloutObj(name string, phase fleetv1alpha1.RolloutPhase, wave string, percent int32, counts fleetv1alpha1.RolloutCounts) *fleetv1alpha1.Rollout {
	return &fleetv1alpha1.Rollout{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: fleetv1alpha1.PlatformNamespace},
		Status: fleetv1alpha1.RolloutStatus{Phase: phase, CurrentWave: wave, PercentOnTarget: percent, Counts: counts,
			Waves: []fleetv1alpha1.WaveStatus{{Name: "canary"}, {Name: "early"}, {Name: "rest"}}},
	}
}

func freezeObj(name string, action fleetv1alpha1.FreezeAction, until *time.Time) *fleetv1alpha1.FleetFreeze {
	f := &fleetv1alpha1.FleetFreeze{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: fleetv1alpha1.FleetFreezeSpec{Action: action}}
	if until != nil {
		f.Spec.Until = &metav1.Time{Time: *until}
	}
	return f
}

func newCollector(t *testing.T, elected bool, objs ...client.Object) *collector {
	t.Helper()
	c := fake.NewClientBuilder().WithScheme(kube.NewScheme()).WithObjects(objs...).
		WithStatusSubresource(&fleetv1alpha1.Cluster{}, &fleetv1alpha1.Work{}, &fleetv1alpha1.Rollout{}).Build()
	ch := make(chan struct{})
	if elected {
		close(ch)
	}
	return &collector{reader: c, clock: clocktesting.NewFakePassiveClock(now), elected: ch}
}

// The gauges count clusters by availability, clusters per Promise revision
// (one revision, pending or mixed), Rollouts by phase with per-Rollout
// gauges only for those in flight, freezes in force by action, and drifted
// resources per Promise and state (0 for a Promise without) and clusters
// with drift per state.
func TestCollector(t *testing.T) {
	later, earlier := now.Add(time.Hour), now.Add(-time.Hour)
	c := newCollector(t, true,
		cluster("a1", fleetv1alpha1.ClusterAvailabilityAvailable),
		cluster("a2", fleetv1alpha1.ClusterAvailabilityAvailable),
		cluster("a3", fleetv1alpha1.ClusterAvailabilityAvailable),
		cluster("off", fleetv1alpha1.ClusterAvailabilityOffline),
		cluster("new", ""),
		promiseObj("db", "r2", "r1"),
		promiseObj("cache", "c1"),
		work("db-x", "a1", "db", "r1"),
		work("db-x", "a2", "db", "r2"),
		drifting(work("db-y", "a2", "db", "r2"), fleetv1alpha1.DriftUnexplained, fleetv1alpha1.DriftAccepted),
		drifting(work("db-x", "a3", "db", "r1"), fleetv1alpha1.DriftUnexplained),
		work("db-y", "a3", "db", "r2"),
		work("db-x", "off", "db", ""),
		work("cache-x", "a1", "cache", "c1"),
		rolloutObj("db-2", fleetv1alpha1.RolloutPhaseWaitingForApproval, "early", 40,
			fleetv1alpha1.RolloutCounts{Total: 5, Admitted: 2, Healthy: 2, Pending: 3, Offline: 1}),
		rolloutObj("db-1", fleetv1alpha1.RolloutPhaseSucceeded, "rest", 100, fleetv1alpha1.RolloutCounts{Total: 5, Healthy: 5}),
		rolloutObj("cache-3", "", "", 0, fleetv1alpha1.RolloutCounts{}),
		freezeObj("incident", "", nil),
		freezeObj("old", fleetv1alpha1.FreezeRollback, &earlier),
		freezeObj("window", fleetv1alpha1.FreezeRollback, &later),
	)
	want := `
# HELP flotilla_clusters Member clusters by availability (Available, Offline, Unknown).
# TYPE flotilla_clusters gauge
flotilla_clusters{availability="Available"} 3
flotilla_clusters{availability="Offline"} 1
flotilla_clusters{availability="Unknown"} 1
# HELP flotilla_drift_clusters Clusters with any drifted resource in a state (Unexplained, Accepted).
# TYPE flotilla_drift_clusters gauge
flotilla_drift_clusters{state="Accepted"} 1
flotilla_drift_clusters{state="Unexplained"} 2
# HELP flotilla_drift_resources Drifted resources the agents report, by Promise and state (Unexplained, Accepted).
# TYPE flotilla_drift_resources gauge
flotilla_drift_resources{promise="cache",state="Accepted"} 0
flotilla_drift_resources{promise="cache",state="Unexplained"} 0
flotilla_drift_resources{promise="db",state="Accepted"} 1
flotilla_drift_resources{promise="db",state="Unexplained"} 2
# HELP flotilla_freeze_active FleetFreezes in force, by action (Halt, Rollback).
# TYPE flotilla_freeze_active gauge
flotilla_freeze_active{action="Halt"} 1
flotilla_freeze_active{action="Rollback"} 1
# HELP flotilla_promise_clusters Clusters running a Promise, by the revision their Works applied; (pending) when none applied yet, (mixed) when they differ, (unknown) when the Promise does not list it.
# TYPE flotilla_promise_clusters gauge
flotilla_promise_clusters{promise="cache",revision="c1"} 1
flotilla_promise_clusters{promise="db",revision="(mixed)"} 1
flotilla_promise_clusters{promise="db",revision="(pending)"} 1
flotilla_promise_clusters{promise="db",revision="r1"} 1
flotilla_promise_clusters{promise="db",revision="r2"} 1
# HELP flotilla_promise_clusters_healthy Clusters healthy on a Promise's revision (every Work of the Promise there healthy, the cluster Available: its agent heartbeats); flotilla_promise_clusters minus this is applied but not healthy.
# TYPE flotilla_promise_clusters_healthy gauge
flotilla_promise_clusters_healthy{promise="cache",revision="c1"} 0
flotilla_promise_clusters_healthy{promise="db",revision="(mixed)"} 0
flotilla_promise_clusters_healthy{promise="db",revision="(pending)"} 0
flotilla_promise_clusters_healthy{promise="db",revision="r1"} 0
flotilla_promise_clusters_healthy{promise="db",revision="r2"} 0
# HELP flotilla_rollout_clusters Target clusters of a Rollout in flight by state (total, admitted, healthy, failed, pending, offline; unattributed: failing on something that is not the Rollout's change, never counted against it).
# TYPE flotilla_rollout_clusters gauge
flotilla_rollout_clusters{namespace="flotilla-system",rollout="cache-3",state="admitted"} 0
flotilla_rollout_clusters{namespace="flotilla-system",rollout="cache-3",state="failed"} 0
flotilla_rollout_clusters{namespace="flotilla-system",rollout="cache-3",state="healthy"} 0
flotilla_rollout_clusters{namespace="flotilla-system",rollout="cache-3",state="offline"} 0
flotilla_rollout_clusters{namespace="flotilla-system",rollout="cache-3",state="pending"} 0
flotilla_rollout_clusters{namespace="flotilla-system",rollout="cache-3",state="total"} 0
flotilla_rollout_clusters{namespace="flotilla-system",rollout="cache-3",state="unattributed"} 0
flotilla_rollout_clusters{namespace="flotilla-system",rollout="db-2",state="admitted"} 2
flotilla_rollout_clusters{namespace="flotilla-system",rollout="db-2",state="failed"} 0
flotilla_rollout_clusters{namespace="flotilla-system",rollout="db-2",state="healthy"} 2
flotilla_rollout_clusters{namespace="flotilla-system",rollout="db-2",state="offline"} 1
flotilla_rollout_clusters{namespace="flotilla-system",rollout="db-2",state="pending"} 3
flotilla_rollout_clusters{namespace="flotilla-system",rollout="db-2",state="total"} 5
flotilla_rollout_clusters{namespace="flotilla-system",rollout="db-2",state="unattributed"} 0
# HELP flotilla_rollout_percent_on_target Percentage of a Rollout's target clusters healthy on its target revision (Rollouts in flight).
# TYPE flotilla_rollout_percent_on_target gauge
flotilla_rollout_percent_on_target{namespace="flotilla-system",rollout="cache-3"} 0
flotilla_rollout_percent_on_target{namespace="flotilla-system",rollout="db-2"} 40
# HELP flotilla_rollout_phase 1 for the phase a Rollout in flight is in, 0 for its other phases in flight.
# TYPE flotilla_rollout_phase gauge
flotilla_rollout_phase{namespace="flotilla-system",phase="Baking",rollout="cache-3"} 0
flotilla_rollout_phase{namespace="flotilla-system",phase="Baking",rollout="db-2"} 0
flotilla_rollout_phase{namespace="flotilla-system",phase="Halted",rollout="cache-3"} 0
flotilla_rollout_phase{namespace="flotilla-system",phase="Halted",rollout="db-2"} 0
flotilla_rollout_phase{namespace="flotilla-system",phase="Paused",rollout="cache-3"} 0
flotilla_rollout_phase{namespace="flotilla-system",phase="Paused",rollout="db-2"} 0
flotilla_rollout_phase{namespace="flotilla-system",phase="Pending",rollout="cache-3"} 1
flotilla_rollout_phase{namespace="flotilla-system",phase="Pending",rollout="db-2"} 0
flotilla_rollout_phase{namespace="flotilla-system",phase="Progressing",rollout="cache-3"} 0
flotilla_rollout_phase{namespace="flotilla-system",phase="Progressing",rollout="db-2"} 0
flotilla_rollout_phase{namespace="flotilla-system",phase="RollingBack",rollout="cache-3"} 0
flotilla_rollout_phase{namespace="flotilla-system",phase="RollingBack",rollout="db-2"} 0
flotilla_rollout_phase{namespace="flotilla-system",phase="WaitingForApproval",rollout="cache-3"} 0
flotilla_rollout_phase{namespace="flotilla-system",phase="WaitingForApproval",rollout="db-2"} 1
# HELP flotilla_rollout_wave_index Position (from 1) of the current wave of a Rollout in flight; 0 before its first wave.
# TYPE flotilla_rollout_wave_index gauge
flotilla_rollout_wave_index{namespace="flotilla-system",rollout="cache-3"} 0
flotilla_rollout_wave_index{namespace="flotilla-system",rollout="db-2"} 2
# HELP flotilla_rollout_waves Waves of a Rollout in flight.
# TYPE flotilla_rollout_waves gauge
flotilla_rollout_waves{namespace="flotilla-system",rollout="cache-3"} 3
flotilla_rollout_waves{namespace="flotilla-system",rollout="db-2"} 3
# HELP flotilla_rollouts Rollouts by phase, ended ones included, and whose they are (platform: a Promise's; team: an instance's).
# TYPE flotilla_rollouts gauge
flotilla_rollouts{owner="platform",phase="Aborted"} 0
flotilla_rollouts{owner="team",phase="Aborted"} 0
flotilla_rollouts{owner="platform",phase="Baking"} 0
flotilla_rollouts{owner="team",phase="Baking"} 0
flotilla_rollouts{owner="platform",phase="Failed"} 0
flotilla_rollouts{owner="team",phase="Failed"} 0
flotilla_rollouts{owner="platform",phase="Halted"} 0
flotilla_rollouts{owner="team",phase="Halted"} 0
flotilla_rollouts{owner="platform",phase="Paused"} 0
flotilla_rollouts{owner="team",phase="Paused"} 0
flotilla_rollouts{owner="platform",phase="Pending"} 1
flotilla_rollouts{owner="team",phase="Pending"} 0
flotilla_rollouts{owner="platform",phase="Progressing"} 0
flotilla_rollouts{owner="team",phase="Progressing"} 0
flotilla_rollouts{owner="platform",phase="RolledBack"} 0
flotilla_rollouts{owner="team",phase="RolledBack"} 0
flotilla_rollouts{owner="platform",phase="RollingBack"} 0
flotilla_rollouts{owner="team",phase="RollingBack"} 0
flotilla_rollouts{owner="platform",phase="Succeeded"} 1
flotilla_rollouts{owner="team",phase="Succeeded"} 0
flotilla_rollouts{owner="platform",phase="Superseded"} 0
flotilla_rollouts{owner="team",phase="Superseded"} 0
flotilla_rollouts{owner="platform",phase="WaitingForApproval"} 1
flotilla_rollouts{owner="team",phase="WaitingForApproval"} 0
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
}

// A standby replica reports no fleet gauges: the leader does.
func TestCollectorWaitsForLeadership(t *testing.T) {
	c := newCollector(t, false, cluster("a1", fleetv1alpha1.ClusterAvailabilityAvailable))
	if n := testutil.CollectAndCount(c); n != 0 {
		t.Errorf("a standby collected %d metrics, want none", n)
	}
}

// Counters start at zero for every phase and cause, and count what the
// Rollout controller reports; a nil Hub counts nothing and does not panic.
func TestHubCounters(t *testing.T) {
	reg := prometheus.NewRegistry()
	h, err := NewHub(reg, newCollector(t, true).reader, clocktesting.NewFakePassiveClock(now), make(chan struct{}))
	if err != nil {
		t.Fatal(err)
	}
	h.RolloutTransition(fleetv1alpha1.RolloutPhaseProgressing, OwnerPlatform)
	h.RolloutTransition(fleetv1alpha1.RolloutPhaseProgressing, OwnerPlatform)
	h.RolloutTransition("", OwnerPlatform)
	h.RolloutRollback(RollbackManual, OwnerTeam)
	var none *Hub
	none.RolloutTransition(fleetv1alpha1.RolloutPhaseFailed, OwnerPlatform)
	none.RolloutRollback(RollbackFailure, OwnerPlatform)

	if got := testutil.ToFloat64(h.transitions.WithLabelValues("Progressing", "platform")); got != 2 {
		t.Errorf("Progressing transitions %v, want 2", got)
	}
	if n := testutil.CollectAndCount(h.transitions); n != len(Phases)*len(Owners) {
		t.Errorf("%d transition series, want one per phase and owner (%d)", n, len(Phases)*len(Owners))
	}
	want := `
# HELP flotilla_rollout_rollbacks_total Rollbacks started, by cause (failure, manual, freeze) and whose Rollout it is (platform, team).
# TYPE flotilla_rollout_rollbacks_total counter
flotilla_rollout_rollbacks_total{cause="failure",owner="platform"} 0
flotilla_rollout_rollbacks_total{cause="failure",owner="team"} 0
flotilla_rollout_rollbacks_total{cause="freeze",owner="platform"} 0
flotilla_rollout_rollbacks_total{cause="freeze",owner="team"} 0
flotilla_rollout_rollbacks_total{cause="manual",owner="platform"} 0
flotilla_rollout_rollbacks_total{cause="manual",owner="team"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "flotilla_rollout_rollbacks_total"); err != nil {
		t.Error(err)
	}
	// A second hub's metrics cannot go into the same registry.
	if _, err := NewHub(reg, newCollector(t, true).reader, clocktesting.NewFakePassiveClock(now), make(chan struct{})); err == nil {
		t.Error("registering a second hub in one registry succeeded")
	}
}

// The checks of a Rollout's current wave: clusters by verdict for a
// per-cluster check, one verdict for a whole-wave one.
func TestCheckVerdicts(t *testing.T) {
	ro := rolloutObj("web-4", fleetv1alpha1.RolloutPhaseBaking, "canary", 0, fleetv1alpha1.RolloutCounts{})
	ro.Status.Waves[0].Checks = []fleetv1alpha1.WaveCheckStatus{
		{Name: "error-rate", Verdict: fleetv1alpha1.CheckFailed, Counts: fleetv1alpha1.CheckCounts{Passing: 3, Failed: 1}},
		{Name: "latency", Scope: fleetv1alpha1.CheckWholeWave, Verdict: fleetv1alpha1.CheckInconclusive},
	}
	ro.Status.Waves[1].Checks = []fleetv1alpha1.WaveCheckStatus{{Name: "error-rate", Verdict: fleetv1alpha1.CheckPending}}
	c := newCollector(t, true, ro)
	want := `
# HELP flotilla_rollout_check_verdicts Verification checks of the current wave of a Rollout in flight: for a per-cluster check the clusters by verdict (Pending, Passing, Passed, Failed, Inconclusive), for a whole-wave or skipped one 1 for its verdict (Skipped too). Wave and check names are the strategy's, bounded.
# TYPE flotilla_rollout_check_verdicts gauge
flotilla_rollout_check_verdicts{check="error-rate",namespace="flotilla-system",rollout="web-4",verdict="Failed",wave="canary"} 1
flotilla_rollout_check_verdicts{check="error-rate",namespace="flotilla-system",rollout="web-4",verdict="Inconclusive",wave="canary"} 0
flotilla_rollout_check_verdicts{check="error-rate",namespace="flotilla-system",rollout="web-4",verdict="Passed",wave="canary"} 0
flotilla_rollout_check_verdicts{check="error-rate",namespace="flotilla-system",rollout="web-4",verdict="Passing",wave="canary"} 3
flotilla_rollout_check_verdicts{check="error-rate",namespace="flotilla-system",rollout="web-4",verdict="Pending",wave="canary"} 0
flotilla_rollout_check_verdicts{check="latency",namespace="flotilla-system",rollout="web-4",verdict="Failed",wave="canary"} 0
flotilla_rollout_check_verdicts{check="latency",namespace="flotilla-system",rollout="web-4",verdict="Inconclusive",wave="canary"} 1
flotilla_rollout_check_verdicts{check="latency",namespace="flotilla-system",rollout="web-4",verdict="Passed",wave="canary"} 0
flotilla_rollout_check_verdicts{check="latency",namespace="flotilla-system",rollout="web-4",verdict="Passing",wave="canary"} 0
flotilla_rollout_check_verdicts{check="latency",namespace="flotilla-system",rollout="web-4",verdict="Pending",wave="canary"} 0
flotilla_rollout_check_verdicts{check="latency",namespace="flotilla-system",rollout="web-4",verdict="Skipped",wave="canary"} 0
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), "flotilla_rollout_check_verdicts"); err != nil {
		t.Error(err)
	}
}

// TestAnAgentsRevisionIsNoNewLabel is the attack of a member's agent that
// writes a fresh status.appliedRevision before every scrape: each became a
// revision label of flotilla_promise_clusters, a new series in Prometheus
// every scrape for as long as it liked. A revision the Promise does not
// list is (unknown).
func TestAnAgentsRevisionIsNoNewLabel(t *testing.T) {
	objs := []client.Object{promiseObj("db", "r2", "r1"), cluster("a1", fleetv1alpha1.ClusterAvailabilityAvailable), work("db-x", "a1", "db", "r1"),
		cluster("a4", fleetv1alpha1.ClusterAvailabilityAvailable), work("db-x", "a4", "db", "r2")}
	for i := range 3 {
		name := fmt.Sprintf("liar-%d", i)
		objs = append(objs, cluster(name, fleetv1alpha1.ClusterAvailabilityAvailable), work("db-x", name, "db", fmt.Sprintf("r%d-%d", i, now.Unix())))
	}
	want := `
# HELP flotilla_promise_clusters Clusters running a Promise, by the revision their Works applied; (pending) when none applied yet, (mixed) when they differ, (unknown) when the Promise does not list it.
# TYPE flotilla_promise_clusters gauge
flotilla_promise_clusters{promise="db",revision="(unknown)"} 3
flotilla_promise_clusters{promise="db",revision="r1"} 1
flotilla_promise_clusters{promise="db",revision="r2"} 1
`
	if err := testutil.CollectAndCompare(newCollector(t, true, objs...), strings.NewReader(want), "flotilla_promise_clusters"); err != nil {
		t.Error(err)
	}
}

// A team's halted instance Rollout counts in flotilla_rollouts as the
// team's: an alert on the platform's halted releases does not fire for it
// (TestATeamsRolloutCountsAsTheTeams in internal/controller/rollout has the
// counters).
func TestATeamsRolloutsAreCountedAsTheTeams(t *testing.T) {
	team := rolloutObj("shop-7", fleetv1alpha1.RolloutPhaseHalted, "canary", 0, fleetv1alpha1.RolloutCounts{})
	team.Namespace = "team-a"
	team.Spec.Subject.Instance = &fleetv1alpha1.LocalObjectReference{Name: "shop"}
	c := newCollector(t, true, team, rolloutObj("web-2", fleetv1alpha1.RolloutPhaseSucceeded, "", 100, fleetv1alpha1.RolloutCounts{}))
	want := `
# HELP flotilla_rollouts Rollouts by phase, ended ones included, and whose they are (platform: a Promise's; team: an instance's).
# TYPE flotilla_rollouts gauge
`
	for _, o := range Owners {
		for _, p := range Phases {
			n := 0
			if o == OwnerTeam && p == fleetv1alpha1.RolloutPhaseHalted || o == OwnerPlatform && p == fleetv1alpha1.RolloutPhaseSucceeded {
				n = 1
			}
			want += fmt.Sprintf("flotilla_rollouts{owner=%q,phase=%q} %d\n", o, p, n)
		}
	}
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), "flotilla_rollouts"); err != nil {
		t.Error(err)
	}
}
