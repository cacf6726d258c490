package rollout

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

func TestProgressOnly(t *testing.T) {
	t0 := metav1.NewTime(time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC))
	base := func() *fleetv1alpha1.RolloutStatus {
		return &fleetv1alpha1.RolloutStatus{
			Phase:           fleetv1alpha1.RolloutPhaseProgressing,
			CurrentWave:     "wave-1",
			Counts:          fleetv1alpha1.RolloutCounts{Total: 4, Admitted: 2, Healthy: 1, Pending: 3},
			PercentOnTarget: 25,
			Conditions: []metav1.Condition{{Type: fleetv1alpha1.ConditionReady, Status: metav1.ConditionFalse,
				Reason: fleetv1alpha1.ReasonProgressing, Message: "wave wave-1: 1/2 healthy", LastTransitionTime: t0}},
			Waves: []fleetv1alpha1.WaveStatus{
				{Name: "wave-1", Phase: fleetv1alpha1.WavePhaseProgressing, Clusters: []string{"a", "b"}, Admitted: "TT",
					Counts: fleetv1alpha1.RolloutCounts{Total: 2, Admitted: 2, Healthy: 1, Pending: 1}, StartedAt: &t0},
				{Name: "wave-2", Phase: fleetv1alpha1.WavePhasePending, Clusters: []string{"c", "d"},
					Counts: fleetv1alpha1.RolloutCounts{Total: 2, Pending: 2}},
			},
		}
	}
	for _, tc := range []struct {
		name   string
		change func(*fleetv1alpha1.RolloutStatus)
		want   bool
	}{
		{"nothing", func(*fleetv1alpha1.RolloutStatus) {}, true},
		{"a cluster turns healthy", func(st *fleetv1alpha1.RolloutStatus) {
			st.Counts.Healthy, st.Counts.Pending, st.PercentOnTarget = 2, 2, 50
			st.Waves[0].Counts.Healthy, st.Waves[0].Counts.Pending = 2, 0
			st.Conditions[0].Message = "wave wave-1: 2/2 healthy"
		}, true},
		{"a Work moves to the target after its admission", func(st *fleetv1alpha1.RolloutStatus) {
			st.Counts.Admitted, st.Waves[0].Counts.Admitted = 3, 3
		}, true},
		{"a wave completes", func(st *fleetv1alpha1.RolloutStatus) { st.Waves[0].Phase = fleetv1alpha1.WavePhaseSucceeded }, false},
		{"the next wave starts", func(st *fleetv1alpha1.RolloutStatus) { st.CurrentWave = "wave-2" }, false},
		{"the phase moves", func(st *fleetv1alpha1.RolloutStatus) { st.Phase = fleetv1alpha1.RolloutPhaseSucceeded }, false},
		{"a cluster is admitted", func(st *fleetv1alpha1.RolloutStatus) { st.Waves[1].Admitted = "T." }, false},
		{"a cluster fails", func(st *fleetv1alpha1.RolloutStatus) {
			st.Counts.Failed, st.Waves[0].Counts.Failed = 1, 1
		}, false},
		{"a failure is listed", func(st *fleetv1alpha1.RolloutStatus) {
			st.Failures = []fleetv1alpha1.ClusterFailure{{Cluster: "a", Wave: "wave-1", Time: t0}}
		}, false},
		{"a cluster goes offline", func(st *fleetv1alpha1.RolloutStatus) { st.Counts.Offline = 1 }, false},
		{"a condition's status moves", func(st *fleetv1alpha1.RolloutStatus) { st.Conditions[0].Status = metav1.ConditionTrue }, false},
		{"a condition's reason moves", func(st *fleetv1alpha1.RolloutStatus) { st.Conditions[0].Reason = fleetv1alpha1.ReasonSucceeded }, false},
		{"history", func(st *fleetv1alpha1.RolloutStatus) {
			st.History = append(st.History, fleetv1alpha1.HistoryEntry{Message: "wave wave-2 started"})
		}, false},
	} {
		old, cur := base(), base()
		tc.change(cur)
		if got := ProgressOnly(old, cur); got != tc.want {
			t.Errorf("%s: ProgressOnly = %v, want %v", tc.name, got, tc.want)
		}
	}
}
