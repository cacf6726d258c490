package rollout

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/kube"
	"github.com/flotilla-dev/flotilla/internal/metrics"
	"github.com/flotilla-dev/flotilla/internal/rollout"
)

func TestRollbackCause(t *testing.T) {
	requested := fleetv1alpha1.RolloutSpec{Rollback: &fleetv1alpha1.RollbackRequest{ChangeRecord: fleetv1alpha1.ChangeRecord{By: "bob"}}}
	held := &fleetv1alpha1.RolloutFreezeStatus{HeldBy: "f"}
	back := &fleetv1alpha1.RolloutFreezeStatus{HeldBy: "f", RolledBackBy: "f"}
	const (
		progressing = fleetv1alpha1.RolloutPhaseProgressing
		rollingBack = fleetv1alpha1.RolloutPhaseRollingBack
		rolledBack  = fleetv1alpha1.RolloutPhaseRolledBack
	)
	for _, tt := range []struct {
		name     string
		spec     fleetv1alpha1.RolloutSpec
		freeze   *fleetv1alpha1.RolloutFreezeStatus
		from, to fleetv1alpha1.RolloutPhase
		want     metrics.RollbackCause
		started  bool
	}{
		{name: "failure budget", from: progressing, to: rollingBack, want: metrics.RollbackFailure, started: true},
		{name: "failure budget during a halting freeze", freeze: held, from: progressing, to: rollingBack, want: metrics.RollbackFailure, started: true},
		{name: "requested", spec: requested, from: fleetv1alpha1.RolloutPhaseHalted, to: rollingBack, want: metrics.RollbackManual, started: true},
		{name: "requested during a Rollback freeze", spec: requested, freeze: held, from: progressing, to: rollingBack, want: metrics.RollbackManual, started: true},
		{name: "Rollback freeze", freeze: back, from: fleetv1alpha1.RolloutPhaseBaking, to: rollingBack, want: metrics.RollbackFreeze, started: true},
		{name: "Rollback freeze over a request that cannot proceed", spec: requested, freeze: back, from: progressing, to: rollingBack,
			want: metrics.RollbackFreeze, started: true},
		{name: "still rolling back", spec: requested, from: rollingBack, to: rollingBack},
		{name: "rolled back", spec: requested, from: rollingBack, to: rolledBack},
		{name: "no rollback", freeze: held, from: progressing, to: fleetv1alpha1.RolloutPhasePaused},
	} {
		t.Run(tt.name, func(t *testing.T) {
			old := &fleetv1alpha1.RolloutStatus{Phase: tt.from}
			st := &fleetv1alpha1.RolloutStatus{Phase: tt.to, Freeze: tt.freeze}
			got, started := rollbackCause(tt.spec, old, st)
			if got != tt.want || started != tt.started {
				t.Errorf("rollbackCause = %q, %v; want %q, %v", got, started, tt.want, tt.started)
			}
		})
	}
}

// A step that a freeze holds or rolls back records one Event on the
// FleetFreeze and counts the transition and the rollback.
func TestRecordFreezeEvents(t *testing.T) {
	frozenCond := []metav1.Condition{{Type: fleetv1alpha1.ConditionFrozen, Status: metav1.ConditionTrue, Reason: fleetv1alpha1.ReasonFleetFrozen}}
	for _, tt := range []struct {
		name         string
		action       fleetv1alpha1.FreezeAction
		from, to     fleetv1alpha1.RolloutPhase
		wasFrozen    bool
		event        string
		rollbacks    float64
		transitioned float64
	}{
		{name: "held", action: fleetv1alpha1.FreezeHalt, from: fleetv1alpha1.RolloutPhaseProgressing, to: fleetv1alpha1.RolloutPhasePaused,
			event: "Normal RolloutHeld holds Rollout flotilla-system/web-2 (Paused, wave canary)", transitioned: 1},
		{name: "rolled back", action: fleetv1alpha1.FreezeRollback, from: fleetv1alpha1.RolloutPhaseProgressing, to: fleetv1alpha1.RolloutPhaseRollingBack,
			event: "Warning RolloutRolledBack rolls back Rollout flotilla-system/web-2 to web-1", rollbacks: 1, transitioned: 1},
		{name: "held before", action: fleetv1alpha1.FreezeHalt, from: fleetv1alpha1.RolloutPhasePaused, to: fleetv1alpha1.RolloutPhasePaused, wasFrozen: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := &fleetv1alpha1.FleetFreeze{ObjectMeta: metav1.ObjectMeta{Name: "incident"}, Spec: fleetv1alpha1.FleetFreezeSpec{Action: tt.action}}
			c := fake.NewClientBuilder().WithScheme(kube.NewScheme()).WithObjects(f).Build()
			rec := events.NewFakeRecorder(10)
			reg := prometheus.NewRegistry()
			m, err := metrics.NewHub(reg, c, clocktesting.NewFakePassiveClock(t0), make(chan struct{}))
			if err != nil {
				t.Fatal(err)
			}
			r := &Reconciler{Client: c, Recorder: rec, Metrics: m}
			old := fleetv1alpha1.RolloutStatus{Phase: tt.from, CurrentWave: "canary"}
			if tt.wasFrozen {
				old.Conditions = frozenCond
				old.Freeze = &fleetv1alpha1.RolloutFreezeStatus{HeldBy: "incident"}
			}
			ro := &fleetv1alpha1.Rollout{
				ObjectMeta: metav1.ObjectMeta{Namespace: fleetv1alpha1.PlatformNamespace, Name: "web-2"},
				Spec:       fleetv1alpha1.RolloutSpec{FromRevision: "web-1", TargetRevision: "web-2"},
				Status: fleetv1alpha1.RolloutStatus{Phase: tt.to, CurrentWave: "canary", Conditions: frozenCond,
					Freeze: &fleetv1alpha1.RolloutFreezeStatus{HeldBy: "incident"}},
			}
			if tt.to == fleetv1alpha1.RolloutPhaseRollingBack {
				ro.Status.RollbackRevision = "web-1"
				ro.Status.Freeze.RolledBackBy = "incident"
			}
			r.record(context.Background(), ro, old, rollout.Decision{})

			var got []string
			for len(rec.Events) > 0 {
				got = append(got, <-rec.Events)
			}
			if tt.event == "" && len(got) != 0 || tt.event != "" && (len(got) != 1 || got[0] != tt.event) {
				t.Errorf("events %q, want %q", got, tt.event)
			}
			if n := counterValue(t, reg, "flotilla_rollout_rollbacks_total", "freeze"); n != tt.rollbacks {
				t.Errorf("freeze rollbacks %v, want %v", n, tt.rollbacks)
			}
			if n := counterValue(t, reg, "flotilla_rollout_transitions_total", string(tt.to)); n != tt.transitioned {
				t.Errorf("transitions to %s: %v, want %v", tt.to, n, tt.transitioned)
			}
		})
	}
}

// counterValue is the value of the series of counter name with one label value.
func counterValue(t *testing.T, reg *prometheus.Registry, name, value string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			if len(m.GetLabel()) == 1 && m.GetLabel()[0].GetValue() == value {
				return m.GetCounter().GetValue()
			}
		}
	}
	t.Fatalf("no series %s{%q}", name, value)
	return 0
}

func TestNewFailures(t *testing.T) {
	f := func(cluster, reason string) fleetv1alpha1.ClusterFailure {
		return fleetv1alpha1.ClusterFailure{Cluster: cluster, Wave: "pilot", Reason: reason, Message: "team/web: Pod web-1 container app: Back-off"}
	}
	before := []fleetv1alpha1.ClusterFailure{f("a", "ImagePullBackOff"), f("b", "ImagePullBackOff")}
	now := []fleetv1alpha1.ClusterFailure{f("a", "ImagePullBackOff"), f("b", "ProgressDeadlineExceeded"), f("c", "CrashLoopBackOff")}
	got := newFailures(before, now)
	if len(got) != 2 || got[0].Cluster != "b" || got[1].Cluster != "c" {
		t.Errorf("newFailures = %+v", got)
	}
	if msg := failureEvent(now[2]); msg != "cluster c (wave pilot) failed: CrashLoopBackOff: team/web: Pod web-1 container app: Back-off" {
		t.Errorf("event message %q", msg)
	}
	long := f("d", "X")
	long.Message = string(make([]byte, 2000))
	if msg := failureEvent(long); len(msg) > 1024 {
		t.Errorf("event message of %d bytes", len(msg))
	}
}
