package e2e

import (
	"slices"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// offlineMember is the member whose agent the offline story stops; it is in
// the last wave of the story's strategies.
const offlineMember = "member-5"

// Story 8: one member is offline when its wave's turn comes, under each
// offline policy at once (four Promises, four strategies):
//
//   - Skip: the wave completes without it; it is counted offline and gets
//     the new revision once it is back.
//   - CountAsFailure: it fails at once (ClusterOffline); with a budget of 0
//     the rollout halts.
//   - Wait, with a short progress deadline: the wave waits, then the cluster
//     fails with ClusterOffline and the rollout halts.
//   - Wait, with a long one: the wave waits; the agent returns in time, the
//     cluster is admitted and the rollout completes.
func offlineStory(t *testing.T, f *rolloutFleet) {
	type policy struct {
		w        web
		strategy string
		offline  fleetv1alpha1.OfflinePolicy
		deadline time.Duration // of the last wave
	}
	skip := policy{webPromise("web-skip"), "offline-skip", fleetv1alpha1.OfflineSkip, progressDeadline}
	countAsFailure := policy{webPromise("web-count"), "offline-count", fleetv1alpha1.OfflineCountAsFailure, progressDeadline}
	waitShort := policy{webPromise("web-wait-short"), "offline-wait-short", fleetv1alpha1.OfflineWait, 5 * time.Second}
	wait := policy{webPromise("web-wait"), "offline-wait", fleetv1alpha1.OfflineWait, 40 * time.Second}
	policies := []policy{skip, countAsFailure, waitShort, wait}
	ns := func(p policy) string { return "team-" + p.w.promise }
	for _, p := range policies {
		f.givenStrategy(p.strategy, fleetv1alpha1.RolloutStrategySpec{
			Waves: []fleetv1alpha1.Wave{
				ringWave("first", 0, progressDeadline, func(w *fleetv1alpha1.Wave) {
					w.Selector = &fleetv1alpha1.WaveSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
						{Key: "ring", Operator: metav1.LabelSelectorOpIn, Values: []string{"canary", "early"}},
					}}
				}),
				ringWave("general", 0, p.deadline),
			},
			OnFailure:     fleetv1alpha1.FailureHalt,
			OfflinePolicy: p.offline,
		})
		f.givenWebSite(p.w, p.strategy, ns(p))
	}

	// Given member-5's agent is gone…
	if err := f.env.StopAgent(offlineMember); err != nil {
		t.Fatal(err)
	}
	agentDown := true
	defer func() {
		if agentDown {
			_ = f.env.StartAgent(offlineMember)
		}
	}()
	f.thenClusterIs(offlineMember, fleetv1alpha1.ClusterAvailabilityOffline, 30*time.Second)

	// …when every Promise changes.
	names := map[string]string{}
	for _, p := range policies {
		names[p.w.promise] = f.whenImageChanges(p.w, webV2)
	}
	target := func(p policy) string { return f.rollout(names[p.w.promise]).Spec.TargetRevision }

	// Skip: done without it.
	ro := f.thenRolloutPhase(names[skip.w.promise], fleetv1alpha1.RolloutPhaseSucceeded, time.Minute)
	if c := ro.Status.Counts; c.Offline != 1 || c.Healthy != 4 || c.Failed != 0 || ro.Status.PercentOnTarget != 80 {
		t.Errorf("skip: %s", describe(ro))
	}
	// It says so: the skipped cluster is not on the target.
	if w := wave(ro, "general"); w.Phase != fleetv1alpha1.WavePhaseSucceededWithFailures || w.Counts.Offline != 1 {
		t.Errorf("skip: general wave %+v", w)
	}
	if !conditionIs(ro, fleetv1alpha1.ConditionDegraded, metav1.ConditionTrue, fleetv1alpha1.ReasonSucceededWithFailures) {
		t.Errorf("skip: want Degraded=True SucceededWithFailures: %s", describe(ro))
	}

	// CountAsFailure: failed at once, the rollout halts before the wave admits anything.
	ro = f.thenRolloutPhase(names[countAsFailure.w.promise], fleetv1alpha1.RolloutPhaseHalted, time.Minute)
	f.thenOfflineFailure(ro)
	if got := f.works.rendered(countAsFailure.w.promise, target(countAsFailure), generalMembers...); len(got) > 0 {
		t.Errorf("count as failure: %v admitted in a wave over its budget", got)
	}
	if !conditionIs(ro, fleetv1alpha1.ConditionStalled, metav1.ConditionTrue, fleetv1alpha1.ReasonFailureBudgetExceeded) {
		t.Errorf("count as failure: halted but not Stalled: %s", describe(ro))
	}

	// Wait, short deadline: it waited, then failed.
	ro = f.thenRolloutPhase(names[waitShort.w.promise], fleetv1alpha1.RolloutPhaseHalted, waitShort.deadline+time.Minute)
	f.thenOfflineFailure(ro)
	if gen := wave(ro, "general"); gen.StartedAt == nil || gen.CompletedAt == nil || gen.CompletedAt.Sub(gen.StartedAt.Time) < waitShort.deadline {
		t.Errorf("wait (short): the wave did not wait %s: %+v", waitShort.deadline, gen)
	}

	// Wait, long deadline: still waiting for it.
	ro = f.rollout(names[wait.w.promise])
	if ro.Status.Phase != fleetv1alpha1.RolloutPhaseProgressing || ro.Status.CurrentWave != "general" || ro.Status.Counts.Offline != 1 || ro.Status.Counts.Failed != 0 {
		t.Errorf("wait: want Progressing on general, waiting for %s: %s", offlineMember, describe(ro))
	}
	for _, p := range policies {
		if got := f.works.rendered(p.w.promise, target(p), offlineMember); len(got) > 0 && p.offline != fleetv1alpha1.OfflineSkip {
			t.Errorf("%s: the offline member was admitted", p.w.promise)
		}
	}

	// When the agent returns in time…
	if err := f.env.StartAgent(offlineMember); err != nil {
		t.Fatal(err)
	}
	agentDown = false
	f.thenClusterIs(offlineMember, fleetv1alpha1.ClusterAvailabilityAvailable, 30*time.Second)
	// …the waiting rollout admits it and completes.
	ro = f.thenRolloutPhase(names[wait.w.promise], fleetv1alpha1.RolloutPhaseSucceeded, time.Minute)
	if ro.Status.PercentOnTarget != 100 || ro.Status.Counts.Offline != 0 || ro.Status.FailureCount != 0 {
		t.Errorf("wait: %s", describe(ro))
	}
	f.thenWebRuns(ns(wait), "shop", webV2, 30*time.Second, allMembers...)
	// The skipped member is reconciled after the run: it gets the new revision too.
	f.thenWebRuns(ns(skip), "shop", webV2, 30*time.Second, offlineMember)
	// The halted rollouts left it alone.
	for _, p := range []policy{countAsFailure, waitShort} {
		if img := f.imageOn(offlineMember, ns(p), "shop"); img != webV1 {
			t.Errorf("%s: %s runs %s under a halted rollout", p.w.promise, offlineMember, img)
		}
	}
}

// thenOfflineFailure checks that a halted rollout's failure is the offline
// member, for being offline, in the general wave.
func (f *rolloutFleet) thenOfflineFailure(ro *fleetv1alpha1.Rollout) {
	f.t.Helper()
	ok := slices.ContainsFunc(ro.Status.Failures, func(fl fleetv1alpha1.ClusterFailure) bool {
		return fl.Cluster == offlineMember && fl.Reason == fleetv1alpha1.ReasonClusterOffline && fl.Wave == "general"
	})
	if !ok || ro.Status.FailureCount != 1 {
		f.t.Errorf("%s: want one failure, %s ClusterOffline in general: %s", ro.Name, offlineMember, describe(ro))
	}
	if w := wave(ro, "general"); w.Phase != fleetv1alpha1.WavePhaseFailed {
		f.t.Errorf("%s: general wave %s, want Failed", ro.Name, w.Phase)
	}
}
