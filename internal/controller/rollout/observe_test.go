package rollout

import (
	"reflect"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/instanceplan"
	"github.com/flotilla-dev/flotilla/internal/rollout"
)

var t0 = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

// work is a Work of promise web on cluster c1 for instance name ("" for
// fleet resources), rendering rev, admitted at admitted, whose agent acted on
// its spec and reported healthy (a Healthy condition) since since.
func work(name, rev string, admitted time.Time, healthy metav1.ConditionStatus, reason string, since time.Time) *fleetv1alpha1.Work {
	w := &fleetv1alpha1.Work{
		ObjectMeta: metav1.ObjectMeta{Name: "web-" + name, Generation: 2,
			Annotations: map[string]string{fleetv1alpha1.AnnotationAdmittedAt: admitted.Format(time.RFC3339)}},
		Spec: fleetv1alpha1.WorkSpec{Cluster: "c1", Revision: rev, Subject: fleetv1alpha1.WorkSubject{Promise: "web"}},
		Status: fleetv1alpha1.WorkStatus{ObservedGeneration: 2, AppliedRevision: rev, Conditions: []metav1.Condition{
			{Type: fleetv1alpha1.ConditionHealthy, Status: healthy, Reason: reason, Message: "deployment " + reason, LastTransitionTime: metav1.NewTime(since)},
		}},
	}
	if name != "" {
		w.Spec.Subject.Instance = &fleetv1alpha1.InstanceReference{Namespace: "team-a", Name: name}
	}
	return w
}

// created sets when a Work was created.
func created(w *fleetv1alpha1.Work, at time.Time) *fleetv1alpha1.Work {
	w.CreationTimestamp = metav1.NewTime(at)
	return w
}

// instanceAt gives a Work instance revision rev, applied, and says what
// its last move (at its admission time) changed.
func instanceAt(w *fleetv1alpha1.Work, rev, moved string) *fleetv1alpha1.Work {
	w.Spec.InstanceRevision, w.Status.AppliedInstanceRevision = rev, rev
	w.Annotations[fleetv1alpha1.AnnotationMoved] = moved
	return w
}

// failedApply makes a Work report that its apply failed (namespace missing) at t0+3m.
func failedApply(w *fleetv1alpha1.Work) *fleetv1alpha1.Work {
	w.Status.Conditions = append(w.Status.Conditions, metav1.Condition{Type: fleetv1alpha1.ConditionApplied, Status: metav1.ConditionFalse,
		Reason: fleetv1alpha1.ReasonApplyFailed, Message: `namespaces "team-c" not found`, LastTransitionTime: metav1.NewTime(t0.Add(3 * time.Minute))})
	return w
}

func cluster(availability fleetv1alpha1.ClusterAvailability) *fleetv1alpha1.Cluster {
	return &fleetv1alpha1.Cluster{
		ObjectMeta: metav1.ObjectMeta{Name: "c1", Labels: map[string]string{"ring": "canary"}},
		Status:     fleetv1alpha1.ClusterStatus{Availability: availability},
	}
}

func TestObserveCluster(t *testing.T) {
	healthyOld := func(name string) *fleetv1alpha1.Work {
		return work(name, "r1", t0, metav1.ConditionTrue, fleetv1alpha1.ReasonHealthy, t0)
	}
	// healthyNew is admitted at t0+1m and healthy on r2 since t0+2m.
	healthyNew := func(name string) *fleetv1alpha1.Work {
		return work(name, "r2", t0.Add(time.Minute), metav1.ConditionTrue, fleetv1alpha1.ReasonHealthy, t0.Add(2*time.Minute))
	}
	// healthyOnTarget is a cluster whose Works are healthyNew, but for what u says.
	healthyOnTarget := func(u *rollout.Unattributed) rollout.ClusterObservation {
		return rollout.ClusterObservation{Revision: "r2", AppliedRevision: "r2", Health: rollout.HealthHealthy,
			HealthSince: t0.Add(2 * time.Minute), AdmittedAt: t0.Add(time.Minute), Online: true, Unattributed: u}
	}
	for _, tc := range []struct {
		name    string
		cluster *fleetv1alpha1.Cluster
		works   []*fleetv1alpha1.Work
		adopted map[string]bool
		started time.Time
		// instancesCreated: when the instances were created (nil: none known).
		instancesCreated map[types.NamespacedName]time.Time
		sub              *subject // nil: Promise web's
		want             rollout.ClusterObservation
	}{
		{
			name:    "not admitted: every Work on the old revision",
			cluster: cluster(fleetv1alpha1.ClusterAvailabilityAvailable),
			works:   []*fleetv1alpha1.Work{healthyOld("a"), healthyOld("")},
			want: rollout.ClusterObservation{Revision: "r1", AppliedRevision: "r1", Health: rollout.HealthHealthy,
				HealthSince: t0, AdmittedAt: t0, Online: true, Message: "team-a/a renders r1"},
		},
		{
			name:    "admitted in part (a crash between two Work writes) counts as admitted, not applied",
			cluster: cluster(fleetv1alpha1.ClusterAvailabilityAvailable),
			works: []*fleetv1alpha1.Work{healthyOld("a"),
				healthyNew("b")},
			want: rollout.ClusterObservation{Revision: "r2", Health: rollout.HealthProgressing,
				Reason: fleetv1alpha1.ReasonProgressing, Message: "team-a/a: not on r2 yet",
				HealthSince: t0.Add(2 * time.Minute), AdmittedAt: t0.Add(time.Minute), Online: true},
		},
		{
			// Rolled back to r1: a's agent applied it, b's has not yet. The
			// cluster still runs r2 in part; "" would read as off the target
			// and end the rollback RolledBack before b is back.
			name:    "rolled back in part: a moved Work still runs the target",
			cluster: cluster(fleetv1alpha1.ClusterAvailabilityAvailable),
			works: []*fleetv1alpha1.Work{healthyOld("a"), func() *fleetv1alpha1.Work {
				w := healthyOld("b")
				w.Status.ObservedGeneration, w.Status.AppliedRevision = 1, "r2"
				return w
			}()},
			want: rollout.ClusterObservation{Revision: "r1", AppliedRevision: "r2", Health: rollout.HealthProgressing,
				Reason: fleetv1alpha1.ReasonProgressing, Message: "team-a/b: waiting for the agent to apply the new revision",
				HealthSince: t0, AdmittedAt: t0, Online: true},
		},
		{
			name:    "a new instance failing on the old revision on an admitted cluster is not the rollout's",
			cluster: cluster(fleetv1alpha1.ClusterAvailabilityAvailable),
			started: t0.Add(30 * time.Second),
			works: []*fleetv1alpha1.Work{
				healthyNew("a"),
				created(failedApply(work("ledger", "r1", t0.Add(90*time.Second), metav1.ConditionFalse, fleetv1alpha1.ReasonInProgress, t0)), t0.Add(time.Minute)),
			},
			want: healthyOnTarget(&rollout.Unattributed{Revision: "r1", Reason: fleetv1alpha1.ReasonApplyFailed,
				Message: "team-a/ledger: namespaces \"team-c\" not found", Since: t0.Add(3 * time.Minute)}),
		},
		{
			name:    "a new instance failing on the target is not the rollout's either",
			cluster: cluster(fleetv1alpha1.ClusterAvailabilityAvailable),
			started: t0.Add(30 * time.Second),
			works: []*fleetv1alpha1.Work{
				healthyNew("a"),
				created(work("ledger", "r2", t0.Add(time.Minute), metav1.ConditionFalse, fleetv1alpha1.ReasonUnhealthy, t0.Add(3*time.Minute)), t0.Add(time.Minute)),
			},
			want: healthyOnTarget(&rollout.Unattributed{Revision: "r2", Reason: fleetv1alpha1.ReasonUnhealthy,
				Message: "team-a/ledger: deployment Unhealthy", Since: t0.Add(3 * time.Minute)}),
		},
		{
			// A platform engineer deleted ledger's Work mid-wave; the hub
			// wrote it again. ledger was there at the start.
			name:             "a Work written again for an instance there at the start, failing on the target, is the rollout's",
			cluster:          cluster(fleetv1alpha1.ClusterAvailabilityAvailable),
			started:          t0.Add(30 * time.Second),
			instancesCreated: map[types.NamespacedName]time.Time{{Namespace: "team-a", Name: "ledger"}: t0.Add(-time.Hour)},
			works: []*fleetv1alpha1.Work{
				healthyNew("a"),
				created(work("ledger", "r2", t0.Add(time.Minute), metav1.ConditionFalse, fleetv1alpha1.ReasonUnhealthy, t0.Add(3*time.Minute)), t0.Add(time.Minute)),
			},
			want: rollout.ClusterObservation{Revision: "r2", AppliedRevision: "r2", Health: rollout.HealthFailed,
				Reason: fleetv1alpha1.ReasonUnhealthy, Message: "team-a/ledger: deployment Unhealthy",
				HealthSince: t0.Add(3 * time.Minute), AdmittedAt: t0.Add(time.Minute), Online: true},
		},
		{
			name:    "a moved Work failing on the target is the rollout's",
			cluster: cluster(fleetv1alpha1.ClusterAvailabilityAvailable),
			started: t0.Add(30 * time.Second),
			works: []*fleetv1alpha1.Work{
				work("a", "r2", t0.Add(time.Minute), metav1.ConditionFalse, fleetv1alpha1.ReasonUnhealthy, t0.Add(2*time.Minute)),
			},
			want: rollout.ClusterObservation{Revision: "r2", AppliedRevision: "r2", Health: rollout.HealthFailed,
				Reason: fleetv1alpha1.ReasonUnhealthy, Message: "team-a/a: deployment Unhealthy",
				HealthSince: t0.Add(2 * time.Minute), AdmittedAt: t0.Add(time.Minute), Online: true},
		},
		{
			name:    "a failure after the instance's own change was admitted there, later, is that change's",
			cluster: cluster(fleetv1alpha1.ClusterAvailabilityAvailable),
			started: t0.Add(30 * time.Second),
			works: []*fleetv1alpha1.Work{instanceAt(
				work("a", "r2", t0.Add(2*time.Minute), metav1.ConditionFalse, fleetv1alpha1.ReasonUnhealthy, t0.Add(3*time.Minute)),
				"site-a-2", instanceplan.MovedInstanceRevision)},
			want: rollout.ClusterObservation{Revision: "r2", AppliedRevision: "r2", Health: rollout.HealthProgressing,
				Reason:      fleetv1alpha1.ReasonProgressing,
				Message:     "team-a/a: failing since instance revision site-a-2 was admitted, after r2: that change's failure, not this Rollout's",
				HealthSince: t0.Add(3 * time.Minute), AdmittedAt: t0.Add(2 * time.Minute), Online: true,
				Unattributed: &rollout.Unattributed{Revision: "site-a-2", Reason: fleetv1alpha1.ReasonUnhealthy,
					Message: "team-a/a: deployment Unhealthy (since instance revision site-a-2 was admitted, after r2)", Since: t0.Add(3 * time.Minute)}},
		},
		{
			name:    "a failure after the rollout's admission, which came after the instance change, is the rollout's",
			cluster: cluster(fleetv1alpha1.ClusterAvailabilityAvailable),
			started: t0.Add(30 * time.Second),
			works: []*fleetv1alpha1.Work{instanceAt(
				work("a", "r2", t0.Add(time.Minute), metav1.ConditionFalse, fleetv1alpha1.ReasonUnhealthy, t0.Add(3*time.Minute)),
				"site-a-2", instanceplan.MovedRevision)},
			want: rollout.ClusterObservation{Revision: "r2", AppliedRevision: "r2", Health: rollout.HealthFailed,
				Reason: fleetv1alpha1.ReasonUnhealthy, Message: "team-a/a: deployment Unhealthy",
				HealthSince: t0.Add(3 * time.Minute), AdmittedAt: t0.Add(time.Minute), Online: true},
		},
		{
			name:    "a failure after both moved at once is the rollout's",
			cluster: cluster(fleetv1alpha1.ClusterAvailabilityAvailable),
			started: t0.Add(30 * time.Second),
			works: []*fleetv1alpha1.Work{instanceAt(
				work("a", "r2", t0.Add(time.Minute), metav1.ConditionFalse, fleetv1alpha1.ReasonUnhealthy, t0.Add(3*time.Minute)),
				"site-a-2", instanceplan.MovedRevision+","+instanceplan.MovedInstanceRevision)},
			want: rollout.ClusterObservation{Revision: "r2", AppliedRevision: "r2", Health: rollout.HealthFailed,
				Reason: fleetv1alpha1.ReasonUnhealthy, Message: "team-a/a: deployment Unhealthy",
				HealthSince: t0.Add(3 * time.Minute), AdmittedAt: t0.Add(time.Minute), Online: true},
		},
		{
			name:    "healthy after a later instance change: healthy",
			cluster: cluster(fleetv1alpha1.ClusterAvailabilityAvailable),
			started: t0.Add(30 * time.Second),
			works:   []*fleetv1alpha1.Work{instanceAt(healthyNew("a"), "site-a-2", instanceplan.MovedInstanceRevision)},
			want:    healthyOnTarget(nil),
		},
		{
			name:    "an instance's Rollout: a failure after the Promise's change was admitted there, later, is the Promise's",
			cluster: cluster(fleetv1alpha1.ClusterAvailabilityAvailable),
			started: t0.Add(30 * time.Second),
			sub:     &subject{promise: "web", instance: &types.NamespacedName{Namespace: "team-a", Name: "a"}},
			works: []*fleetv1alpha1.Work{instanceAt(
				work("a", "web-p2", t0.Add(2*time.Minute), metav1.ConditionFalse, fleetv1alpha1.ReasonUnhealthy, t0.Add(3*time.Minute)),
				"r2", instanceplan.MovedRevision)},
			want: rollout.ClusterObservation{Revision: "r2", AppliedRevision: "r2", Health: rollout.HealthProgressing,
				Reason:      fleetv1alpha1.ReasonProgressing,
				Message:     "team-a/a: failing since the Promise's revision web-p2 was admitted, after r2: that change's failure, not this Rollout's",
				HealthSince: t0.Add(3 * time.Minute), AdmittedAt: t0.Add(2 * time.Minute), Online: true,
				Unattributed: &rollout.Unattributed{Revision: "web-p2", Reason: fleetv1alpha1.ReasonUnhealthy,
					Message: "team-a/a: deployment Unhealthy (since the Promise's revision web-p2 was admitted, after r2)", Since: t0.Add(3 * time.Minute)}},
		},
		{
			name:    "not admitted: a failure on the old revision is reported apart",
			cluster: cluster(fleetv1alpha1.ClusterAvailabilityAvailable),
			started: t0.Add(30 * time.Second),
			works:   []*fleetv1alpha1.Work{healthyOld(""), work("a", "r1", t0, metav1.ConditionFalse, fleetv1alpha1.ReasonUnhealthy, t0)},
			want: rollout.ClusterObservation{Revision: "r1", AppliedRevision: "r1", Health: rollout.HealthFailed,
				Reason: fleetv1alpha1.ReasonUnhealthy, Message: "team-a/a: deployment Unhealthy",
				HealthSince: t0, AdmittedAt: t0, Online: true,
				Unattributed: &rollout.Unattributed{Revision: "r1", Reason: fleetv1alpha1.ReasonUnhealthy,
					Message: "team-a/a: deployment Unhealthy", Since: t0}},
		},
		{
			name:    "the worst Work decides, and names its instance",
			cluster: cluster(fleetv1alpha1.ClusterAvailabilityAvailable),
			works: []*fleetv1alpha1.Work{
				work("a", "r2", t0, metav1.ConditionFalse, fleetv1alpha1.ReasonInProgress, t0),
				work("b", "r2", t0, metav1.ConditionFalse, fleetv1alpha1.ReasonUnhealthy, t0.Add(time.Second)),
			},
			want: rollout.ClusterObservation{Revision: "r2", AppliedRevision: "r2", Health: rollout.HealthFailed,
				Reason: fleetv1alpha1.ReasonUnhealthy, Message: "team-a/b: deployment Unhealthy",
				HealthSince: t0.Add(time.Second), AdmittedAt: t0, Online: true},
		},
		{
			name:    "offline cluster; every instance adopted",
			cluster: cluster(fleetv1alpha1.ClusterAvailabilityOffline),
			works:   []*fleetv1alpha1.Work{healthyOld("a"), healthyOld("b"), healthyOld("")},
			adopted: map[string]bool{"a": true, "b": true},
			want: rollout.ClusterObservation{Revision: "r1", AppliedRevision: "r1", Health: rollout.HealthHealthy,
				HealthSince: t0, AdmittedAt: t0, Adopted: true, Message: "team-a/a renders r1"},
		},
		{
			name:    "one instance of two adopted: the cluster has not",
			cluster: cluster(fleetv1alpha1.ClusterAvailabilityAvailable),
			works:   []*fleetv1alpha1.Work{healthyOld("a"), healthyOld("b")},
			adopted: map[string]bool{"a": true},
			want: rollout.ClusterObservation{Revision: "r1", AppliedRevision: "r1", Health: rollout.HealthHealthy,
				HealthSince: t0, AdmittedAt: t0, Online: true, Message: "team-a/a renders r1"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			adopted := func(w *fleetv1alpha1.Work) bool {
				return w.Spec.Subject.Instance != nil && tc.adopted[w.Spec.Subject.Instance.Name]
			}
			sub := subject{promise: "web"}
			if tc.sub != nil {
				sub = *tc.sub
			}
			var joined func(*fleetv1alpha1.Work) bool
			if !tc.started.IsZero() {
				joined = joinedSince(tc.started, func() map[types.NamespacedName]time.Time { return tc.instancesCreated })
			}
			got := observeCluster(tc.cluster, tc.works, "web-2", "r2", joined, sub, adopted)
			tc.want.Name, tc.want.Labels = "c1", tc.cluster.Labels
			if got.Name != tc.want.Name || got.Revision != tc.want.Revision || got.AppliedRevision != tc.want.AppliedRevision ||
				got.Health != tc.want.Health || got.Online != tc.want.Online || got.Adopted != tc.want.Adopted ||
				!got.HealthSince.Equal(tc.want.HealthSince) || !got.AdmittedAt.Equal(tc.want.AdmittedAt) ||
				got.Reason != tc.want.Reason || got.Message != tc.want.Message || !reflect.DeepEqual(got.Unattributed, tc.want.Unattributed) {
				t.Errorf("observeCluster =\n%+v %+v\nwant\n%+v %+v", got, got.Unattributed, tc.want, tc.want.Unattributed)
			}
		})
	}
}

func TestWorkHealth(t *testing.T) {
	pending := work("a", "r2", t0, metav1.ConditionTrue, fleetv1alpha1.ReasonHealthy, t0.Add(-time.Hour))
	pending.Generation = 3 // the agent has not seen the new revision yet
	pending.Status.AppliedRevision = "r1"
	sameRevision := work("a", "r2", t0.Add(-time.Hour), metav1.ConditionTrue, fleetv1alpha1.ReasonHealthy, t0)
	sameRevision.Generation = 3 // e.g. a DriftException reached the Work: its revision is unchanged
	failedApply := work("a", "r2", t0, metav1.ConditionTrue, fleetv1alpha1.ReasonHealthy, t0)
	failedApply.Status.Conditions = append(failedApply.Status.Conditions, metav1.Condition{
		Type: fleetv1alpha1.ConditionApplied, Status: metav1.ConditionFalse, Reason: fleetv1alpha1.ReasonApplyFailed,
		Message: "Deployment web: forbidden", LastTransitionTime: metav1.NewTime(t0.Add(time.Minute)),
	})
	silent := work("a", "r2", t0, metav1.ConditionTrue, "", t0)
	silent.Status.Conditions = nil
	for _, tc := range []struct {
		name   string
		w      *fleetv1alpha1.Work
		health rollout.Health
		since  time.Time
		reason string
	}{
		{"not acted on: progressing since admission", pending, rollout.HealthProgressing, t0, fleetv1alpha1.ReasonProgressing},
		{"generation moved, revision applied: last health stands", sameRevision, rollout.HealthHealthy, t0, fleetv1alpha1.ReasonHealthy},
		{"apply failed", failedApply, rollout.HealthFailed, t0.Add(time.Minute), fleetv1alpha1.ReasonApplyFailed},
		{"healthy", work("a", "r2", t0, metav1.ConditionTrue, fleetv1alpha1.ReasonHealthy, t0), rollout.HealthHealthy, t0, fleetv1alpha1.ReasonHealthy},
		{"in progress", work("a", "r2", t0, metav1.ConditionFalse, fleetv1alpha1.ReasonInProgress, t0), rollout.HealthProgressing, t0, fleetv1alpha1.ReasonInProgress},
		{"unhealthy", work("a", "r2", t0, metav1.ConditionFalse, fleetv1alpha1.ReasonUnhealthy, t0), rollout.HealthFailed, t0, fleetv1alpha1.ReasonUnhealthy},
		{"a cause the agent saw on the member fails it now", work("a", "r2", t0, metav1.ConditionFalse, "ImagePullBackOff", t0), rollout.HealthFailed, t0, "ImagePullBackOff"},
		{"nothing reported", silent, rollout.HealthUnknown, time.Time{}, fleetv1alpha1.ReasonProgressing},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, since, reason, _ := workHealth(tc.w)
			if h != tc.health || !since.Equal(tc.since) || reason != tc.reason {
				t.Errorf("workHealth = %s since %s (%s), want %s since %s (%s)", h, since, reason, tc.health, tc.since, tc.reason)
			}
		})
	}
}

func TestFromRevision(t *testing.T) {
	ro := func(phase fleetv1alpha1.RolloutPhase) *fleetv1alpha1.Rollout {
		return &fleetv1alpha1.Rollout{
			Spec:   fleetv1alpha1.RolloutSpec{FromRevision: "r1", TargetRevision: "r2"},
			Status: fleetv1alpha1.RolloutStatus{Phase: phase},
		}
	}
	// A revert of r2 (only the canary took it) back to r1.
	revert := func(phase fleetv1alpha1.RolloutPhase) *fleetv1alpha1.Rollout {
		r := ro(phase)
		r.Spec.FromRevision, r.Spec.TargetRevision = "r2", "r1"
		return r
	}
	for _, tc := range []struct {
		name     string
		newest   *fleetv1alpha1.Rollout
		isRevert bool
		latest   string
		want     string
	}{
		{"first change", nil, false, "r2", "r1"},
		{"after a success", ro(fleetv1alpha1.RolloutPhaseSucceeded), false, "r3", "r2"},
		{"after a rollback", ro(fleetv1alpha1.RolloutPhaseRolledBack), false, "r3", "r1"},
		{"over one in flight", ro(fleetv1alpha1.RolloutPhaseProgressing), false, "r3", "r1"},
		{"reverting one in flight", ro(fleetv1alpha1.RolloutPhaseProgressing), false, "r1", "r2"},
		{"reverting an aborted one", ro(fleetv1alpha1.RolloutPhaseAborted), false, "r1", "r2"},
		{"back to what a rollback left: nothing to do", ro(fleetv1alpha1.RolloutPhaseRolledBack), false, "r1", "r1"},
		{"over a revert in flight: what it returns to", revert(fleetv1alpha1.RolloutPhaseWaitingForApproval), true, "r3", "r1"},
		{"over an aborted revert: what it returns to", revert(fleetv1alpha1.RolloutPhaseAborted), true, "r3", "r1"},
		{"undoing a revert in flight", revert(fleetv1alpha1.RolloutPhaseProgressing), true, "r2", "r1"},
		{"after a revert succeeded", revert(fleetv1alpha1.RolloutPhaseSucceeded), true, "r3", "r1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := FromRevision(tc.newest, tc.isRevert, "r1", tc.latest); got != tc.want {
				t.Errorf("FromRevision = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestRolloutName(t *testing.T) {
	p := &fleetv1alpha1.Promise{ObjectMeta: metav1.ObjectMeta{Name: "web", Generation: 7}}
	if got := RolloutName(p); got != "web-7" {
		t.Errorf("RolloutName = %q", got)
	}
	long := make([]byte, 253)
	for i := range long {
		long[i] = 'a'
	}
	p.Name = string(long)
	if got := RolloutName(p); len(got) != 253 || got[len(got)-2:] != "-7" {
		t.Errorf("RolloutName of a long name = %q (%d)", got, len(got))
	}
}

// A cluster is online, for its wave's bake, since its Available condition
// last turned True (the hub's Cluster controller dates it); an offline
// cluster's is not read.
func TestObserveClusterOnlineSince(t *testing.T) {
	back := t0.Add(5 * time.Minute)
	withAvailable := func(availability fleetv1alpha1.ClusterAvailability, status metav1.ConditionStatus) *fleetv1alpha1.Cluster {
		c := cluster(availability)
		c.Status.Conditions = []metav1.Condition{{Type: fleetv1alpha1.ConditionAvailable, Status: status,
			Reason: fleetv1alpha1.ReasonHeartbeating, LastTransitionTime: metav1.NewTime(back)}}
		return c
	}
	works := func() []*fleetv1alpha1.Work {
		return []*fleetv1alpha1.Work{work("a", "r2", t0, metav1.ConditionTrue, fleetv1alpha1.ReasonHealthy, t0)}
	}
	for name, tc := range map[string]struct {
		cluster *fleetv1alpha1.Cluster
		want    time.Time
	}{
		"back online":          {withAvailable(fleetv1alpha1.ClusterAvailabilityAvailable, metav1.ConditionTrue), back},
		"offline":              {withAvailable(fleetv1alpha1.ClusterAvailabilityOffline, metav1.ConditionFalse), time.Time{}},
		"no condition (older)": {cluster(fleetv1alpha1.ClusterAvailabilityAvailable), time.Time{}},
	} {
		t.Run(name, func(t *testing.T) {
			if got := observeCluster(tc.cluster, works(), "web-2", "r2", nil, subject{promise: "web"}, nil).OnlineSince; !got.Equal(tc.want) {
				t.Errorf("OnlineSince %s, want %s", got, tc.want)
			}
		})
	}
}
