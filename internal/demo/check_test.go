package demo

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

func succeeded() *fleetv1alpha1.Rollout {
	healthy := func(n int32) fleetv1alpha1.RolloutCounts {
		return fleetv1alpha1.RolloutCounts{Total: n, Admitted: n, Healthy: n}
	}
	return &fleetv1alpha1.Rollout{
		ObjectMeta: metav1.ObjectMeta{Name: "web-2"},
		Status: fleetv1alpha1.RolloutStatus{
			Phase: fleetv1alpha1.RolloutPhaseSucceeded, PercentOnTarget: 100, Counts: healthy(5),
			Waves: []fleetv1alpha1.WaveStatus{
				{Name: "pilot", Phase: fleetv1alpha1.WavePhaseSucceeded, Counts: healthy(1)},
				{Name: "canary", Phase: fleetv1alpha1.WavePhaseSucceeded, Counts: healthy(2)},
				{Name: "general", Phase: fleetv1alpha1.WavePhaseSucceeded, Counts: healthy(2), Approval: &fleetv1alpha1.ChangeRecord{By: "admin"}},
			},
		},
	}
}

func TestCheckSucceeded(t *testing.T) {
	if err := checkSucceeded(succeeded(), "general", "admin"); err != nil {
		t.Errorf("a succeeded rollout approved by admin: %v", err)
	}
	for _, tc := range []struct {
		name   string
		change func(*fleetv1alpha1.Rollout)
		want   string
	}{
		{"halted", func(ro *fleetv1alpha1.Rollout) { ro.Status.Phase = fleetv1alpha1.RolloutPhaseHalted }, "phase is Halted"},
		{"not everywhere", func(ro *fleetv1alpha1.Rollout) { ro.Status.PercentOnTarget, ro.Status.Counts.Healthy = 80, 4 }, "4 of 5 clusters healthy"},
		{"approved by someone else", func(ro *fleetv1alpha1.Rollout) { ro.Status.Waves[2].Approval.By = "mallory" }, "approval is by mallory, want one by admin"},
		{"never approved", func(ro *fleetv1alpha1.Rollout) { ro.Status.Waves[2].Approval = nil }, "approval is missing"},
		{"a wave failed", func(ro *fleetv1alpha1.Rollout) { ro.Status.Waves[1].Phase = fleetv1alpha1.WavePhaseFailed }, "wave canary is Failed"},
		{"no such wave", func(ro *fleetv1alpha1.Rollout) { ro.Status.Waves = ro.Status.Waves[:2] }, "no wave general"},
	} {
		ro := succeeded()
		tc.change(ro)
		err := checkSucceeded(ro, "general", "admin")
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "rollout web-2") {
			t.Errorf("%s: error %v, want one naming the rollout and saying %q", tc.name, err, tc.want)
		}
	}
}

func rolledBack() *fleetv1alpha1.Rollout {
	return &fleetv1alpha1.Rollout{
		ObjectMeta: metav1.ObjectMeta{Name: "web-3"},
		Status: fleetv1alpha1.RolloutStatus{
			Phase: fleetv1alpha1.RolloutPhaseRolledBack, RollbackRevision: "web-good",
			Waves: []fleetv1alpha1.WaveStatus{
				{Name: "pilot", Phase: fleetv1alpha1.WavePhaseSucceeded, StartedAt: &metav1.Time{}},
				{Name: "canary", Phase: fleetv1alpha1.WavePhaseFailed, StartedAt: &metav1.Time{}},
				{Name: "general", Phase: fleetv1alpha1.WavePhaseSkipped},
			},
			Failures: []fleetv1alpha1.ClusterFailure{
				{Cluster: "member-1", Wave: "pilot", Reason: fleetv1alpha1.ReasonProgressDeadlineExceeded},
				{Cluster: "member-2", Wave: "canary", Reason: fleetv1alpha1.ReasonProgressDeadlineExceeded},
				{Cluster: "member-3", Wave: "canary", Reason: fleetv1alpha1.ReasonProgressDeadlineExceeded},
			},
		},
	}
}

func TestCheckRolledBack(t *testing.T) {
	canary := []string{"member-2", "member-3"}
	if err := checkRolledBack(rolledBack(), "web-good", "canary", canary); err != nil {
		t.Errorf("a rollout rolled back by its canary: %v", err)
	}
	for _, tc := range []struct {
		name   string
		change func(*fleetv1alpha1.Rollout)
		want   string
	}{
		{"halted", func(ro *fleetv1alpha1.Rollout) { ro.Status.Phase = fleetv1alpha1.RolloutPhaseHalted }, "phase is Halted, want RolledBack"},
		{"wrong revision", func(ro *fleetv1alpha1.Rollout) { ro.Status.RollbackRevision = "web-first" }, "rolled back to web-first, want web-good"},
		{"canary passed", func(ro *fleetv1alpha1.Rollout) { ro.Status.Waves[1].Phase = fleetv1alpha1.WavePhaseSucceeded }, "wave canary is Succeeded"},
		{"general started", func(ro *fleetv1alpha1.Rollout) { ro.Status.Waves[2].StartedAt = &metav1.Time{} }, "wave general started after wave canary failed"},
		{"one canary failure", func(ro *fleetv1alpha1.Rollout) { ro.Status.Failures = ro.Status.Failures[:2] }, "want member-3 among them"},
		{"no canary", func(ro *fleetv1alpha1.Rollout) { ro.Status.Waves = ro.Status.Waves[:1] }, "no wave canary"},
	} {
		ro := rolledBack()
		tc.change(ro)
		err := checkRolledBack(ro, "web-good", "canary", canary)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestCheckImages(t *testing.T) {
	members := []memberState{
		{Name: "member-1", Instances: []instanceState{ready("a/x", goodImage), ready("b/y", goodImage)}},
		{Name: "member-2", Instances: []instanceState{ready("a/x", goodImage), ready("b/y", goodImage)}},
	}
	if err := checkImages(members, goodImage); err != nil {
		t.Errorf("every instance ready on the image: %v", err)
	}
	members[1].Instances[1] = instanceState{Instance: "b/y", Image: badImage, Problem: "ImagePullBackOff"}
	err := checkImages(members, goodImage)
	if err == nil || !strings.Contains(err.Error(), "b/y on member-2: "+badImage+" not ready (ImagePullBackOff)") {
		t.Errorf("error %v, want it to name b/y on member-2", err)
	}
	members[1].Instances[1] = instanceState{Instance: "b/y", Image: goodImage}
	if err := checkImages(members, goodImage); err == nil {
		t.Error("an instance still rolling out passed")
	}
}
