package rollout_test

import (
	"strings"
	"testing"
	"time"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/rollout"
)

// redated writes what a hostile agent writes into its Work's status every
// few minutes: its Healthy condition still False (InProgress), its
// lastTransitionTime now, as if its health had just changed.
func (f *fixture) redated(names ...string) *fixture {
	for _, n := range names {
		f.update(n, func(o *rollout.ClusterObservation) {
			o.Health, o.HealthSince, o.Reason, o.Message = rollout.HealthProgressing, f.in.Now, fleetv1alpha1.ReasonInProgress, "Deployment shop: 0/1 ready"
		})
	}
	return f
}

// A canary's agent never reports its cluster healthy, and dates its
// Work's Healthy condition afresh every nine minutes under a ten-minute
// progress deadline: the deadline counted from the agent's last "change of
// health", so the cluster stayed in flight, and the canary (and every later
// wave) was held, for as long as the agent wished, nothing failed. A cluster
// not healthy on the target yet in its wave is held to its admission (or
// its wave's start), whatever its agent dates.
func TestAFreshlyDatedProgressingCannotDodgeTheDeadline(t *testing.T) {
	f := newFixture(t, strategy(wave("canary", deadline(10*time.Minute)), wave("general", catchAll)),
		cluster("c-1", "ring", "canary"), cluster("g-1"))
	f.plan()
	f.wantAdmitted("c-1")
	for m := 9 * time.Minute; m < 2*time.Hour && f.d.Status.Phase != fleetv1alpha1.RolloutPhaseHalted; m += 9 * time.Minute {
		f.at(m).redated("c-1").plan()
	}
	f.wantPhase(fleetv1alpha1.RolloutPhaseHalted, "canary")
	fs := f.d.Status.Failures
	if len(fs) != 1 || fs[0].Cluster != "c-1" || fs[0].Reason != fleetv1alpha1.ReasonProgressDeadlineExceeded || !fs[0].Time.Time.Equal(t0.Add(10*time.Minute)) {
		t.Fatalf("failures %+v, want c-1 ProgressDeadlineExceeded at 10m", fs)
	}
	if got := f.in.Now.Sub(t0); got > 18*time.Minute {
		t.Fatalf("halted only at %s", got)
	}
}

// The same after one relapse: healthy, then not, then dated afresh every
// nine minutes. Its deadline counts from when the hub saw it leave Healthy.
func TestAFreshlyDatedRelapseCannotDodgeTheDeadline(t *testing.T) {
	f := newFixture(t, strategy(wave("canary", bake(time.Hour), deadline(10*time.Minute)), wave("general", catchAll)),
		cluster("c-1", "ring", "canary"), cluster("g-1"))
	f.plan()
	f.at(time.Minute).healthy("c-1").plan()
	f.at(5 * time.Minute).redated("c-1").plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseProgressing, "canary")
	for m := 14 * time.Minute; m < 2*time.Hour && f.d.Status.Phase != fleetv1alpha1.RolloutPhaseHalted; m += 9 * time.Minute {
		f.at(m).redated("c-1").plan()
	}
	f.wantPhase(fleetv1alpha1.RolloutPhaseHalted, "canary")
	fs := f.d.Status.Failures
	if len(fs) != 1 || fs[0].Cluster != "c-1" || fs[0].Reason != fleetv1alpha1.ReasonProgressDeadlineExceeded ||
		!strings.Contains(fs[0].Message, "progress deadline") {
		t.Fatalf("failures %+v, want c-1 ProgressDeadlineExceeded", fs)
	}
	if got := f.in.Now.Sub(t0); got > 23*time.Minute {
		t.Fatalf("halted only at %s", got)
	}
}

// A relapse counted by a hub that did not date it (its status has no
// lastRelapseAt): the cluster keeps the deadline its agent dates, up to
// the first look of this hub, and no more.
func TestARelapseUndatedByAnEarlierHubIsDatedAtTheFirstLook(t *testing.T) {
	f := newFixture(t, strategy(wave("canary", bake(time.Hour), deadline(10*time.Minute)), wave("general", catchAll)),
		cluster("c-1", "ring", "canary"), cluster("g-1"))
	f.plan()
	f.at(time.Minute).healthy("c-1").plan()
	f.at(5 * time.Minute).redated("c-1").plan()
	f.in.Status.Waves[0].LastRelapseAt = nil // as an earlier hub wrote it
	f.at(8 * time.Minute).redated("c-1").plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseProgressing, "canary")
	if at := f.wave("canary").LastRelapseAt; at == nil || !at.Time.Equal(t0.Add(8*time.Minute)) {
		t.Fatalf("lastRelapseAt %v, want 8m", at)
	}
	f.at(17 * time.Minute).redated("c-1").plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseProgressing, "canary")
	f.at(18 * time.Minute).redated("c-1").plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseHalted, "canary")
}
