package rolloutctl

import (
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/intstr"
	clocktesting "k8s.io/utils/clock/testing"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/rollout"
)

// A resume issued in the same second as the halt must still resume: the
// engine compares stateChange.at with the halt's history time, both stored to
// the second, and resumes only when the first is strictly later. This plays
// the engine (internal/rollout.Plan) on the spec the Client writes and the
// status read back from the API server.
func TestResumeInTheSecondOfTheHaltResumes(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	admin := adminClient(t)
	t0 := time.Date(2031, time.January, 1, 0, 0, 0, 0, time.UTC)
	haltAt := t0.Add(time.Minute + 300*time.Millisecond)

	// The engine starts the rollout at t0 and halts it when c-1 fails.
	in := rollout.Input{
		Now:      t0,
		Strategy: fleetv1alpha1.RolloutStrategySpec{Waves: []fleetv1alpha1.Wave{{Name: "all", MaxConcurrency: ptr(intstr.FromInt32(1))}}},
		Spec:     fleetv1alpha1.RolloutSpec{Subject: fleetv1alpha1.RolloutSubject{Promise: "app"}, FromRevision: "app-r1", TargetRevision: "app-r2"},
	}
	for _, n := range []string{"c-1", "c-2", "c-3"} {
		in.Clusters = append(in.Clusters, rollout.ClusterObservation{Name: n, Online: true, Revision: "app-r1", AppliedRevision: "app-r1",
			Health: rollout.HealthHealthy, HealthSince: t0.Add(-time.Hour)})
	}
	d := plan(t, in)
	if len(d.Admit) != 1 || d.Admit[0].Cluster != "c-1" {
		t.Fatalf("admitted %+v", d.Admit)
	}
	in.Clusters[0] = rollout.ClusterObservation{Name: "c-1", Online: true, Revision: "app-r2", AdmittedAt: t0, AppliedRevision: "app-r2",
		Health: rollout.HealthFailed, HealthSince: haltAt, Reason: "ApplyFailed"}
	in.Now, in.Status = haltAt, d.Status
	d = plan(t, in)
	if d.Status.Phase != fleetv1alpha1.RolloutPhaseHalted {
		t.Fatalf("phase %s, want Halted", d.Status.Phase)
	}

	// The halted status goes through the API server, as the controller writes it.
	r := givenRollout(t, ctx, admin, "resume-same-second", d.Status)
	halted := get(t, ctx, admin, r.Name).Status

	// The failure clears and someone resumes 400ms after the halt: same second.
	clk := clocktesting.NewFakePassiveClock(haltAt.Add(400 * time.Millisecond))
	c, _ := newClient(t, admin, clk)
	res, err := c.Resume(ctx, ns, r.Name, "fixed")
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Notes) != 1 || !strings.Contains(res.Notes[0], "one second after the halt") {
		t.Fatalf("notes %q", res.Notes)
	}
	spec := get(t, ctx, admin, r.Name).Spec
	if want := t0.Add(time.Minute + time.Second); !spec.StateChange.At.Time.Equal(want) {
		t.Fatalf("stateChange.at = %s, want %s", spec.StateChange.At, want)
	}

	in.Clusters[0].Health, in.Clusters[0].HealthSince, in.Clusters[0].Reason = rollout.HealthHealthy, haltAt.Add(200*time.Millisecond), ""
	in.Now, in.Status, in.Spec = haltAt.Add(500*time.Millisecond), halted, spec
	if d := plan(t, in); d.Status.Phase != fleetv1alpha1.RolloutPhaseProgressing || len(d.Admit) != 1 {
		t.Fatalf("after the resume: phase %s, admitted %+v", d.Status.Phase, d.Admit)
	}

	// What the bump is for: the resume recorded at the halt's own second is
	// not later than the halt, and the engine ignores it.
	unbumped := *spec.StateChange.DeepCopy()
	unbumped.At = ptrTime(clk.Now().Truncate(time.Second))
	in.Spec.StateChange = &unbumped
	if d := plan(t, in); d.Status.Phase != fleetv1alpha1.RolloutPhaseHalted {
		t.Fatalf("an unbumped resume: phase %s, want Halted", d.Status.Phase)
	}

	// A resume in a later second is recorded as it is.
	later := haltAt.Add(5 * time.Second)
	if at, bumped := resumeTime(later, &halted); bumped || !at.Equal(later.Truncate(time.Second)) {
		t.Fatalf("resumeTime = %s, %v", at, bumped)
	}
	// So is a resume of a rollout that is not halted.
	if _, bumped := resumeTime(haltAt, &fleetv1alpha1.RolloutStatus{Phase: fleetv1alpha1.RolloutPhasePaused, History: halted.History}); bumped {
		t.Fatal("a resume of a paused rollout was bumped")
	}
}

func plan(t *testing.T, in rollout.Input) rollout.Decision {
	t.Helper()
	d, err := rollout.Plan(in)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func ptr[T any](v T) *T { return &v }
