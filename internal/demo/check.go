package demo

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// The demo exits 0 only when the story ended as it should: these checks say
// what differs, from what the demo observed.

// checkSucceeded checks the good change's Rollout: Succeeded, every wave
// succeeded, every cluster healthy on the target, and approvalWave approved
// by approver.
func checkSucceeded(ro *fleetv1alpha1.Rollout, approvalWave, approver string) error {
	st := ro.Status
	var errs []error
	if st.Phase != fleetv1alpha1.RolloutPhaseSucceeded {
		errs = append(errs, fmt.Errorf("phase is %s, want %s", orDash(string(st.Phase)), fleetv1alpha1.RolloutPhaseSucceeded))
	}
	if st.PercentOnTarget != 100 || st.Counts.Total == 0 || st.Counts.Healthy != st.Counts.Total {
		errs = append(errs, fmt.Errorf("%d%% on target, %d of %d clusters healthy; want all", st.PercentOnTarget, st.Counts.Healthy, st.Counts.Total))
	}
	approved := false
	for _, w := range st.Waves {
		if w.Phase != fleetv1alpha1.WavePhaseSucceeded {
			errs = append(errs, fmt.Errorf("wave %s is %s, want %s", w.Name, orDash(string(w.Phase)), fleetv1alpha1.WavePhaseSucceeded))
		}
		if w.Name == approvalWave {
			approved = true
			if w.Approval == nil || w.Approval.By != approver {
				errs = append(errs, fmt.Errorf("wave %s approval is %s, want one by %s", w.Name, approvalText(w.Approval), approver))
			}
		}
	}
	if !approved {
		errs = append(errs, fmt.Errorf("the rollout has no wave %s", approvalWave))
	}
	if len(errs) > 0 {
		return fmt.Errorf("rollout %s: %w", ro.Name, errors.Join(errs...))
	}
	return nil
}

// checkRolledBack checks the bad change's Rollout: RolledBack to
// rollbackTo, because wave breached its budget, with every one of clusters
// named among its failures, and no later wave ever started.
func checkRolledBack(ro *fleetv1alpha1.Rollout, rollbackTo, wave string, clusters []string) error {
	st := ro.Status
	var errs []error
	if st.Phase != fleetv1alpha1.RolloutPhaseRolledBack {
		errs = append(errs, fmt.Errorf("phase is %s, want %s", orDash(string(st.Phase)), fleetv1alpha1.RolloutPhaseRolledBack))
	}
	if st.RollbackRevision != rollbackTo {
		errs = append(errs, fmt.Errorf("rolled back to %s, want %s", orDash(st.RollbackRevision), rollbackTo))
	}
	after := false
	found := false
	for _, w := range st.Waves {
		switch {
		case w.Name == wave:
			found, after = true, true
			if w.Phase != fleetv1alpha1.WavePhaseFailed {
				errs = append(errs, fmt.Errorf("wave %s is %s, want %s", w.Name, orDash(string(w.Phase)), fleetv1alpha1.WavePhaseFailed))
			}
		case after && w.StartedAt != nil:
			errs = append(errs, fmt.Errorf("wave %s started after wave %s failed", w.Name, wave))
		}
	}
	if !found {
		errs = append(errs, fmt.Errorf("the rollout has no wave %s", wave))
	}
	var failed []string
	for _, f := range st.Failures {
		if f.Wave == wave {
			failed = append(failed, f.Cluster)
		}
	}
	for _, c := range clusters {
		if !slices.Contains(failed, c) {
			errs = append(errs, fmt.Errorf("failures of wave %s name %s, want %s among them", wave, orDash(strings.Join(failed, ", ")), c))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("rollout %s: %w", ro.Name, errors.Join(errs...))
	}
	return nil
}

// checkImages checks that every instance on every member runs image and is ready.
func checkImages(members []memberState, image string) error {
	var wrong []string
	for _, m := range members {
		for _, in := range m.Instances {
			if in.Image != image || !in.Ready {
				wrong = append(wrong, fmt.Sprintf("%s on %s: %s %s", in.Instance, m.Name, orDash(in.Image), stateText(in)))
			}
		}
	}
	if len(wrong) > 0 {
		return fmt.Errorf("want every instance ready on %s: %s", image, strings.Join(wrong, "; "))
	}
	return nil
}

// approvalText is who approved and when, for messages.
func approvalText(a *fleetv1alpha1.ChangeRecord) string {
	if a == nil {
		return "missing"
	}
	return "by " + orDash(a.By)
}
