package agent

import (
	"slices"
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

// Accepted drift is reported with its exception, counted apart from
// unexplained drift, and gives the Drifted condition its own reason; Events
// mark the transitions only.
func TestStatusAcceptedDrift(t *testing.T) {
	judged := func(p *passRecord) *passRecord { p.driftJudged = true; return p }
	const exc = "team-a/scale-test"
	dep := applied(depB, fleetv1alpha1.HealthCurrent, "")
	dep.accepted = &drift.Result{Fields: []string{"spec.replicas"}, Count: 1, By: "kubectl-edit"}
	dep.exception = exc
	rec := judged(pass(1, "rev", []resourceResult{applied(cmA, fleetv1alpha1.HealthCurrent, ""), dep}))
	st := computeStatus(fleetv1alpha1.WorkStatus{}, rec, t0)
	wantCond(t, st, fleetv1alpha1.ConditionDrifted, metav1.ConditionFalse, fleetv1alpha1.ReasonDriftAccepted,
		"1 resources differ from what was applied as DriftExceptions accept; first: Deployment.apps/ns/b: spec.replicas (by kubectl-edit) (DriftException team-a/scale-test)")
	rd := st.Resources[1].Drift
	if rd == nil || rd.State != fleetv1alpha1.DriftAccepted || rd.Exception != exc || rd.By != "kubectl-edit" || len(rd.Fields) != 1 {
		t.Fatalf("resource drift = %+v, want Accepted by %s", rd, exc)
	}
	if st.Drift == nil || st.Drift.Accepted != 1 || st.Drift.Unexplained != 0 {
		t.Errorf("summary = %+v, want 1 accepted, 0 unexplained", st.Drift)
	}

	later := metav1.NewTime(t0.Add(time.Hour))
	excs := []fleetv1alpha1.WorkDriftException{{Name: exc, ExpiresAt: later}}
	events := driftTransitions(fleetv1alpha1.WorkStatus{}, st, excs, t0)
	if len(events) != 1 || events[0].reason != fleetv1alpha1.ReasonDriftAccepted ||
		events[0].message != "drift on Deployment.apps/ns/b accepted by DriftException team-a/scale-test: spec.replicas (by kubectl-edit)" {
		t.Errorf("events when drift is first accepted = %+v", events)
	}
	if events := driftTransitions(st, st, excs, t0); len(events) != 0 {
		t.Errorf("events for an unchanged status = %+v, want none", events)
	}

	// The exception expired; under Report the drift is unexplained now.
	dep.accepted, dep.exception = nil, ""
	dep.drift = &drift.Result{Fields: []string{"spec.replicas"}, Count: 1, By: "kubectl-edit"}
	next := computeStatus(st, judged(pass(1, "rev", []resourceResult{applied(cmA, fleetv1alpha1.HealthCurrent, ""), dep})), t0.Add(2*time.Hour))
	if got := next.Resources[1].Drift; got.State != fleetv1alpha1.DriftUnexplained || !got.Since.Time.Equal(t0) {
		t.Errorf("drift after expiry = %+v, want Unexplained, first seen at %v", got, t0)
	}
	events = driftTransitions(st, next, excs, t0.Add(2*time.Hour))
	if len(events) != 2 || events[0].reason != EventDriftExceptionExpired || events[1].reason != fleetv1alpha1.ReasonDriftDetected ||
		events[1].eventType != "Warning" {
		t.Errorf("events on expiry = %+v, want DriftExceptionExpired then a Warning DriftDetected", events)
	}
	// Under Correct it was corrected instead: the expiry alone is recorded
	// here (the correction has its own Event).
	fixed := applied(depB, fleetv1alpha1.HealthCurrent, "")
	fixedRec := judged(pass(1, "rev", []resourceResult{applied(cmA, fleetv1alpha1.HealthCurrent, ""), fixed}))
	events = driftTransitions(st, computeStatus(st, fixedRec, t0.Add(2*time.Hour)), excs, t0.Add(2*time.Hour))
	if len(events) != 1 || events[0].reason != EventDriftExceptionExpired {
		t.Errorf("events on expiry under Correct = %+v, want DriftExceptionExpired", events)
	}
	// Someone put the object back while the exception holds: nothing expired.
	if events := driftTransitions(st, computeStatus(st, fixedRec, t0), excs, t0); len(events) != 0 {
		t.Errorf("events when accepted drift goes away = %+v, want none", events)
	}
}

// A resource with unexplained drift and drift an exception accepts reports
// both: the policy's fields, and the accepted ones with their exception. The
// accepted fields survive a restart through the status, and each part has
// its own Events.
func TestStatusMixedDrift(t *testing.T) {
	const exc = "team-a/scale-test"
	dep := applied(depB, fleetv1alpha1.HealthCurrent, "")
	dep.drift = &drift.Result{Fields: []string{"spec.template.spec.containers[name=web].image"}, Count: 1, By: "kubectl-set"}
	dep.accepted = &drift.Result{Fields: []string{"spec.replicas"}, Count: 1, By: "hpa-like"}
	dep.exception = exc
	rec := pass(1, "rev", []resourceResult{applied(cmA, fleetv1alpha1.HealthCurrent, ""), dep})
	rec.driftJudged = true
	st := computeStatus(fleetv1alpha1.WorkStatus{}, rec, t0)

	rd := st.Resources[1].Drift
	if rd == nil || rd.State != fleetv1alpha1.DriftUnexplained || rd.Exception != exc || rd.By != "kubectl-set" ||
		!slices.Equal(rd.Fields, dep.drift.Fields) || !slices.Equal(rd.AcceptedFields, []string{"spec.replicas"}) {
		t.Fatalf("resource drift = %+v, want unexplained image, accepted replicas by %s", rd, exc)
	}
	if st.Drift == nil || st.Drift.Unexplained != 1 || st.Drift.Accepted != 0 {
		t.Errorf("summary = %+v, want 1 unexplained (a resource counts once)", st.Drift)
	}
	wantCond(t, st, fleetv1alpha1.ConditionDrifted, metav1.ConditionTrue, fleetv1alpha1.ReasonDriftDetected, "image (by kubectl-set)")

	// After a restart the agent knows which fields were accepted from the status.
	prev := (&agent{}).acceptedDrift(&workState{}, &fleetv1alpha1.Work{Status: st})
	if got := prev[depB.key()].fields; !slices.Equal(got, []string{"spec.replicas"}) {
		t.Errorf("accepted before, read from the status = %v, want spec.replicas", got)
	}

	later := metav1.NewTime(t0.Add(time.Hour))
	excs := []fleetv1alpha1.WorkDriftException{{Name: exc, ExpiresAt: later}}
	events := driftTransitions(fleetv1alpha1.WorkStatus{}, st, excs, t0)
	if len(events) != 2 || events[0].reason != fleetv1alpha1.ReasonDriftDetected ||
		events[1].message != "drift on Deployment.apps/ns/b accepted by DriftException team-a/scale-test: spec.replicas" {
		t.Errorf("events when mixed drift appears = %+v, want DriftDetected, then DriftAccepted for replicas", events)
	}

	// The exception expired: all of it is unexplained now.
	dep.accepted, dep.exception = nil, ""
	dep.drift = &drift.Result{Fields: []string{"spec.replicas", "spec.template.spec.containers[name=web].image"}, Count: 2}
	rec = pass(1, "rev", []resourceResult{applied(cmA, fleetv1alpha1.HealthCurrent, ""), dep})
	rec.driftJudged = true
	next := computeStatus(st, rec, t0.Add(2*time.Hour))
	if got := next.Resources[1].Drift; got.Exception != "" || len(got.AcceptedFields) != 0 || !got.Since.Time.Equal(t0) {
		t.Errorf("drift after expiry = %+v, want no accepted part, first seen at %v", got, t0)
	}
	events = driftTransitions(st, next, excs, t0.Add(2*time.Hour))
	if len(events) != 1 || events[0].reason != EventDriftExceptionExpired ||
		events[0].message != "DriftException team-a/scale-test expired: drift on Deployment.apps/ns/b (spec.replicas) is no longer accepted" {
		t.Errorf("events on expiry = %+v, want DriftExceptionExpired naming replicas", events)
	}
}
