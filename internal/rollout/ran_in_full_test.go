package rollout_test

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/rollout"
)

// A rollback of an instance's Rollout returns only to a revision the fleet
// ran in full: the fromRevision of a Rollout the hub started (not one a
// team started by hand, which names its own), or a succeeded target.
func TestRanInFull(t *testing.T) {
	ro := func(name, from, target, startedBy string, phase fleetv1alpha1.RolloutPhase) fleetv1alpha1.Rollout {
		return fleetv1alpha1.Rollout{
			ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: map[string]string{fleetv1alpha1.AnnotationStartedBy: startedBy}},
			Spec:       fleetv1alpha1.RolloutSpec{FromRevision: from, TargetRevision: target},
			Status:     fleetv1alpha1.RolloutStatus{Phase: phase},
		}
	}
	history := []fleetv1alpha1.Rollout{
		ro("site-shop-1", "r0", "r1", rollout.ActorHub, fleetv1alpha1.RolloutPhaseRolledBack),
		ro("site-shop-2", "r0", "r2", rollout.ActorHub, fleetv1alpha1.RolloutPhaseSucceeded),
		ro("by-hand", "r1", "r3", "mallory", fleetv1alpha1.RolloutPhaseProgressing),
	}
	hub := ro("site-shop-3", "r2", "r4", rollout.ActorHub, fleetv1alpha1.RolloutPhaseProgressing)
	byHand := history[2]
	// A change back to r2 while site-shop-3 is in flight: the hub starts
	// it from r4, which only the clusters site-shop-3 reached took.
	revert := ro("site-shop-4", "r4", "r2", rollout.ActorHub, fleetv1alpha1.RolloutPhaseProgressing)
	withRevert := append(append([]fleetv1alpha1.Rollout(nil), history...), hub, revert)
	for _, c := range []struct {
		rev  string
		ro   fleetv1alpha1.Rollout
		want bool
	}{
		{"r0", hub, true},     // a hub-started Rollout's fromRevision
		{"r2", hub, true},     // this one's fromRevision, and a succeeded target
		{"r1", hub, false},    // only the canary ever took it
		{"r1", byHand, false}, // a hand-made Rollout's fromRevision is the team's word
		{"r3", byHand, false}, // in flight
		{"nope", hub, false},
	} {
		if got := rollout.RanInFull(c.rev, &c.ro, history); got != c.want {
			t.Errorf("RanInFull(%s, %s) = %v, want %v", c.rev, c.ro.Name, got, c.want)
		}
	}
	if rollout.RanInFull("r4", &revert, withRevert) {
		t.Error("RanInFull(r4, site-shop-4) = true: a revert's fromRevision is the target it undoes, not one the fleet ran")
	}
	if !rollout.RanInFull("r2", &revert, withRevert) {
		t.Error("RanInFull(r2, site-shop-4) = false, want true: site-shop-2 succeeded to it")
	}

	// A Promise's Rollout is the platform's: its fromRevision is trusted
	// unless an earlier Rollout targeted it and none that did succeeded.
	platform := ro("by-platform", "r0", "r5", "platform", fleetv1alpha1.RolloutPhaseProgressing)
	later := byHand // created after site-shop-1 (the others, in one second, are ordered by name)
	later.CreationTimestamp = metav1.NewTime(time.Unix(1, 0))
	for _, c := range []struct {
		ro   fleetv1alpha1.Rollout
		want bool
	}{
		{revert, true},    // from r4, which site-shop-3 took only where it reached
		{later, true},     // from r1, which site-shop-1 rolled back at its canary
		{hub, false},      // from r2, which site-shop-2 succeeded to
		{platform, false}, // from r0, which no Rollout targeted: the platform's word
	} {
		if got := rollout.StartsFromPartial(&c.ro, withRevert); got != c.want {
			t.Errorf("StartsFromPartial(%s) = %v, want %v", c.ro.Name, got, c.want)
		}
		// FromIsPartial judges a Promise's Rollout the same way.
		if got := rollout.FromIsPartial(&c.ro, withRevert); got != c.want {
			t.Errorf("FromIsPartial(%s) = %v, want %v", c.ro.Name, got, c.want)
		}
	}

	// A fix forward made while a revert of a change only the canary took is
	// in flight starts from the revert's target, r1, which the change
	// started from: the fleet ran it in full, so the fix may be rolled back
	// to it (a Rollback freeze, onFailure, a request without toRevision).
	at := func(r fleetv1alpha1.Rollout, sec int64) fleetv1alpha1.Rollout {
		r.CreationTimestamp = metav1.NewTime(time.Unix(sec, 0))
		return r
	}
	change := at(ro("fix-1", "r1", "r2", rollout.ActorHub, fleetv1alpha1.RolloutPhaseWaitingForApproval), 1)
	revertOfChange := at(ro("fix-2", "r2", "r1", rollout.ActorHub, fleetv1alpha1.RolloutPhaseSuperseded), 2)
	fix := at(ro("fix-3", "r1", "r3", rollout.ActorHub, fleetv1alpha1.RolloutPhaseProgressing), 3)
	fixHistory := []fleetv1alpha1.Rollout{change, revertOfChange, fix}
	if rollout.StartsFromPartial(&fix, fixHistory) {
		t.Error("StartsFromPartial(fix-3) = true: it starts from r1, which fix-1 started from, not from the change only the canary took")
	}
	if !rollout.StartsFromPartial(&revertOfChange, fixHistory) {
		t.Error("StartsFromPartial(fix-2) = false: the revert starts from r2, which only fix-1's canary took")
	}

	// A revert undoes an earlier Rollout that did not succeed, back to where
	// it started: only then is its target what the rest of the fleet runs.
	undoSucceeded := ro("site-shop-5", "r2", "r0", rollout.ActorHub, fleetv1alpha1.RolloutPhaseProgressing)
	// site-shop-6 (r2 → r6) rolling back to r0, then a change to r0: the
	// hub starts it from r6, back to where the rollback goes.
	rollingBack := ro("site-shop-6", "r2", "r6", rollout.ActorHub, fleetv1alpha1.RolloutPhaseRollingBack)
	rollingBack.Status.RollbackRevision = "r0"
	toRollback := ro("site-shop-7", "r6", "r0", rollout.ActorHub, fleetv1alpha1.RolloutPhaseProgressing)
	withRollback := append(append([]fleetv1alpha1.Rollout(nil), withRevert...), rollingBack, toRollback)
	for _, c := range []struct {
		ro   *fleetv1alpha1.Rollout
		want bool
	}{
		{&revert, true},         // r4 → r2 undoes site-shop-3 (r2 → r4, in flight)
		{&later, false},         // from r1, which site-shop-1 took at its canary, but on to r3, not back to r0
		{&hub, false},           // from r2, which site-shop-2 succeeded to
		{&undoSucceeded, false}, // back from r2, which site-shop-2 succeeded to: the fleet ran it
		{&toRollback, true},     // r6 → r0 undoes site-shop-6, back to its rollback revision
		{nil, false},
	} {
		if got := rollout.IsRevert(c.ro, withRollback); got != c.want {
			t.Errorf("IsRevert(%+v) = %v, want %v", c.ro, got, c.want)
		}
	}

	// An instance's Rollout (the team's) by RanInFull: a fromRevision the
	// team named on a Rollout of its own is partial until shown otherwise.
	instance := func(r fleetv1alpha1.Rollout) *fleetv1alpha1.Rollout {
		r.Spec.Subject.Instance = &fleetv1alpha1.LocalObjectReference{Name: "shop"}
		return &r
	}
	for _, c := range []struct {
		ro   *fleetv1alpha1.Rollout
		want bool
	}{
		{instance(hub), false},      // from r2, which site-shop-2 succeeded to
		{instance(byHand), true},    // from r1: the team's word, and only a canary took it
		{instance(revert), true},    // from r4, the target it undoes
		{instance(platform), false}, // from r0, which Rollouts the hub started started from
		{nil, false},
		{instance(ro("first", "", "r1", rollout.ActorHub, fleetv1alpha1.RolloutPhaseProgressing)), false},
	} {
		if got := rollout.FromIsPartial(c.ro, withRevert); got != c.want {
			t.Errorf("FromIsPartial(instance %+v) = %v, want %v", c.ro, got, c.want)
		}
	}
}
