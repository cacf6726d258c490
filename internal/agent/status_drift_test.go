package agent

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/drift"
)

// The Drifted condition and summary follow what checks found: drift left
// in place keeps its first-seen time across status writes; corrections add
// up and stay named until drift is seen again.
func TestStatusDrift(t *testing.T) {
	judged := func(p *passRecord) *passRecord { p.driftJudged = true; return p }

	clean := judged(pass(1, "rev", []resourceResult{applied(cmA, fleetv1alpha1.HealthCurrent, "")}))
	st := computeStatus(fleetv1alpha1.WorkStatus{}, clean, t0)
	wantCond(t, st, fleetv1alpha1.ConditionDrifted, metav1.ConditionFalse, fleetv1alpha1.ReasonNoDrift, "")
	if st.Drift != nil {
		t.Errorf("drift summary without drift: %+v", st.Drift)
	}

	// Report: drift on the Deployment, left in place.
	dep := applied(depB, fleetv1alpha1.HealthCurrent, "")
	dep.drift = &drift.Result{Fields: []string{"spec.replicas"}, Count: 1, By: "kubectl-edit"}
	reported := judged(pass(1, "rev", []resourceResult{applied(cmA, fleetv1alpha1.HealthCurrent, ""), dep}))
	st = computeStatus(st, reported, t0.Add(time.Minute))
	wantCond(t, st, fleetv1alpha1.ConditionDrifted, metav1.ConditionTrue, fleetv1alpha1.ReasonDriftDetected,
		"1 resources differ from what was applied; first: Deployment.apps/ns/b: spec.replicas (by kubectl-edit)")
	wantCond(t, st, fleetv1alpha1.ConditionReady, metav1.ConditionTrue, fleetv1alpha1.ReasonSucceeded, "")
	rd := st.Resources[1].Drift
	if rd == nil || rd.State != fleetv1alpha1.DriftUnexplained || rd.By != "kubectl-edit" || !rd.Since.Time.Equal(t0.Add(time.Minute)) {
		t.Fatalf("resource drift = %+v", rd)
	}
	if st.Drift == nil || st.Drift.Unexplained != 1 {
		t.Errorf("summary = %+v, want 1 unexplained", st.Drift)
	}
	st = computeStatus(st, reported, t0.Add(2*time.Minute))
	if got := st.Resources[1].Drift.Since.Time; !got.Equal(t0.Add(time.Minute)) {
		t.Errorf("since = %v after a second check, want the first sighting %v", got, t0.Add(time.Minute))
	}

	// Correct: the check undid it.
	fixed := applied(depB, fleetv1alpha1.HealthInProgress, "")
	fixed.corrected = dep.drift
	corrected := judged(pass(1, "rev", []resourceResult{applied(cmA, fleetv1alpha1.HealthCurrent, ""), fixed}))
	corrected.corrected = []resourceResult{fixed}
	st = computeStatus(st, corrected, t0.Add(3*time.Minute))
	wantCond(t, st, fleetv1alpha1.ConditionDrifted, metav1.ConditionFalse, fleetv1alpha1.ReasonDriftCorrected,
		"corrected drift on 1 resources; last: Deployment.apps/ns/b: spec.replicas (by kubectl-edit)")
	if st.Drift.Unexplained != 0 || st.Drift.Corrections != 1 || !st.Drift.LastCorrectionTime.Time.Equal(t0.Add(3*time.Minute)) {
		t.Errorf("summary = %+v, want 0 unexplained, 1 correction at +3m", st.Drift)
	}
	if st.Resources[1].Drift != nil {
		t.Errorf("corrected resource still reports drift: %+v", st.Resources[1].Drift)
	}

	// Written; the next check finds nothing: the correction stays named.
	corrected.corrected = nil
	st = computeStatus(st, corrected, t0.Add(4*time.Minute))
	wantCond(t, st, fleetv1alpha1.ConditionDrifted, metav1.ConditionFalse, fleetv1alpha1.ReasonDriftCorrected, "spec.replicas")
	if st.Drift.Corrections != 1 {
		t.Errorf("corrections = %d after a clean check, want 1", st.Drift.Corrections)
	}

	// A member where drift is not judged gets no Drifted condition.
	st = computeStatus(fleetv1alpha1.WorkStatus{}, pass(1, "rev", []resourceResult{applied(cmA, fleetv1alpha1.HealthCurrent, "")}), t0)
	wantCond(t, st, fleetv1alpha1.ConditionDrifted, "", "", "")
}
