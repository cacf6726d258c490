package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// Images of the web Promises. Images under testenv.FailingImagePrefix never
// become Ready on kwok members.
const (
	webV1  = "registry.example/web:1.0"
	webV2  = "registry.example/web:2.0"
	webV3  = "registry.example/web:3.0"
	webV4  = "registry.example/web:4.0"
	webBad = "fail.invalid/web:2.1"
)

// Strategies of the stories. Short timings keep the file within minutes.
const (
	// bakeCanary is long enough for a story to act while the canary bakes,
	// on a loaded machine too: the bake counts from the agent's report, and
	// the story sees Baking only after the hub wrote it.
	bakeCanary = 10 * time.Second
	// progressDeadline bounds how long an admitted cluster may take.
	progressDeadline = 15 * time.Second
)

// ringsStrategy is canary (baking bakeCanary), early and general, one
// failure budget of 0 each, onFailure Rollback.
func ringsStrategy(tweak ...func(*fleetv1alpha1.RolloutStrategySpec)) fleetv1alpha1.RolloutStrategySpec {
	s := fleetv1alpha1.RolloutStrategySpec{
		Waves: []fleetv1alpha1.Wave{
			ringWave("canary", bakeCanary, progressDeadline),
			ringWave("early", time.Second, progressDeadline),
			ringWave("general", 0, progressDeadline),
		},
		OnFailure: fleetv1alpha1.FailureRollback,
	}
	for _, fn := range tweak {
		fn(&s)
	}
	return s
}

// The stories of progressive delivery, on one fleet of five members in
// three rings (canary: member-1, member-2; early: member-3; general:
// member-4, member-5). Each story has its own Promise, strategy and team, so
// nothing leaks between them; they run in order because some stop the hub
// controller, freeze the fleet or take a member offline.
func TestRollouts(t *testing.T) {
	t.Parallel() // its own fleet: see givenFleetWith
	start := time.Now()
	f := givenRolloutFleet(t)
	t.Logf("rollout fleet ready in %s", time.Since(start).Round(time.Millisecond))
	step := func(name string, story func(t *testing.T, f *rolloutFleet)) {
		began := time.Now()
		t.Run(name, func(t *testing.T) { story(t, f.in(t)) })
		t.Logf("%s: %s", name, time.Since(began).Round(time.Millisecond))
	}
	var good goodRollout
	step("good revision through canary, an approval and the rest", good.story)
	step("bad revision rolls back automatically", good.badRevisionStory)
	step("hub controller killed at random points ends like an uninterrupted run", hubKillStory)
	step("immediate mode admits every cluster at once", immediateStory)
	step("deadline mode lets owners adopt, then forces the rest", deadlineStory)
	step("pause holds admissions and resume completes", pauseStory)
	step("abort stops admissions and leaves clusters where they are", abortStory)
	step("halt freeze holds a rollout until it is lifted", haltFreezeStory)
	step("rollback freeze rolls back a rollout in flight", rollbackFreezeStory)
	step("offline member under each offline policy", offlineStory)
	// The check stories' Prometheus lives as long as the fleet.
	checked := checkedRollout{startRatios: func() *errorRatios { return startErrorRatios(t) }}
	step("error rate rising on the canary fails its check and rolls back", checked.failingStory)
	step("the same release with a healthy error rate passes every check", checked.passingStory)
	step("prometheus unreachable holds the wave until the check is skipped", blindCheckStory)
	step("an HTTP check and a failing test Job each fail a cluster with their reasons", agentChecksStory)
	t.Logf("rollout stories done in %s", time.Since(start).Round(time.Millisecond))
}

// goodRollout carries the first two stories' Promise from one to the next.
type goodRollout struct {
	w        web
	ns       string
	goodRev  string
	finished bool
}

// Story 1: a good revision goes through the canary wave, bakes, waits for an
// approval of the early wave, then completes.
func (g *goodRollout) story(t *testing.T, f *rolloutFleet) {
	g.w, g.ns = webPromise("web-good"), "team-good"
	f.givenStrategy("good", fleetv1alpha1.RolloutStrategySpec{
		Waves: []fleetv1alpha1.Wave{
			ringWave("canary", 5*time.Second, progressDeadline),
			ringWave("early", 3*time.Second, progressDeadline, func(w *fleetv1alpha1.Wave) { w.Approval = fleetv1alpha1.ApprovalRequired }),
			ringWave("general", 0, progressDeadline),
		},
		OnFailure: fleetv1alpha1.FailureRollback,
	})
	v1 := f.givenWebSite(g.w, "good", g.ns)

	// When the platform team ships a good image…
	name := f.whenImageChanges(g.w, webV2)
	ro := f.thenRollout(name, "started", 30*time.Second, func(ro *fleetv1alpha1.Rollout) bool { return len(ro.Status.Waves) > 0 })
	target := ro.Spec.TargetRevision
	if ro.Spec.FromRevision != v1 || target == v1 || ro.Labels[fleetv1alpha1.LabelPromise] != g.w.promise {
		t.Fatalf("rollout %s: from %s target %s labels %v; want from %s", name, ro.Spec.FromRevision, target, ro.Labels, v1)
	}
	for _, want := range []struct {
		wave     string
		clusters []string
	}{{"canary", canaryMembers}, {"early", earlyMembers}, {"general", generalMembers}} {
		if w := wave(ro, want.wave); w == nil || !slices.Equal(w.Clusters, want.clusters) {
			t.Errorf("wave %s froze %+v, want clusters %v", want.wave, w, want.clusters)
		}
	}

	// …the canary wave goes first, bakes, and the early wave waits for a person.
	ro = f.thenRolloutAt(name, fleetv1alpha1.RolloutPhaseWaitingForApproval, "early", time.Minute)
	canary := wave(ro, "canary")
	if canary.Phase != fleetv1alpha1.WavePhaseSucceeded || canary.BakeStartedAt == nil || canary.CompletedAt == nil ||
		canary.CompletedAt.Sub(canary.BakeStartedAt.Time) < 5*time.Second {
		t.Errorf("canary wave did not bake 5s: %+v", canary)
	}
	if !conditionIs(ro, fleetv1alpha1.ConditionApproved, metav1.ConditionFalse, "") {
		t.Errorf("want Approved=False while waiting: %s", describe(ro))
	}
	f.thenWebRuns(g.ns, "shop", webV2, 10*time.Second, canaryMembers...)
	time.Sleep(2 * time.Second) // waiting is not progress: nothing more moves meanwhile
	if ro := f.rollout(name); ro.Status.Phase != fleetv1alpha1.RolloutPhaseWaitingForApproval {
		t.Errorf("rollout left WaitingForApproval by itself: %s", describe(ro))
	}
	later := append(slices.Clone(earlyMembers), generalMembers...)
	if got := f.works.rendered(g.w.promise, target, later...); len(got) > 0 {
		t.Fatalf("clusters %v rendered %s before the early wave was approved", got, target)
	}
	for _, m := range later {
		if img := f.imageOn(m, g.ns, "shop"); img != webV1 {
			t.Errorf("%s runs %s before its wave", m, img)
		}
	}

	// When someone approves the early wave, the rest follows.
	f.whenApproved(name, "early", "e2e-approver")
	ro = f.thenRolloutPhase(name, fleetv1alpha1.RolloutPhaseSucceeded, time.Minute)
	f.thenWebRuns(g.ns, "shop", webV2, 30*time.Second, allMembers...)
	f.thenWorksRender(g.w, g.ns, "shop", target, 10*time.Second, allMembers...)
	if ro.Status.PercentOnTarget != 100 || ro.Status.Counts.Healthy != 5 || ro.Status.Counts.Total != 5 || ro.Status.CurrentWave != "" {
		t.Errorf("succeeded rollout: %s", describe(ro))
	}
	for _, w := range ro.Status.Waves {
		if w.Phase != fleetv1alpha1.WavePhaseSucceeded || int(w.Counts.Healthy) != len(w.Clusters) {
			t.Errorf("wave %s: %s %s", w.Name, w.Phase, counts(w.Counts))
		}
	}
	if a := wave(ro, "early").Approval; a == nil || a.By != "e2e-approver" {
		t.Errorf("early wave approval %+v, want by e2e-approver", a)
	}
	if !historyHas(ro, fleetv1alpha1.RolloutPhaseProgressing, "early", "e2e-approver") {
		t.Errorf("history does not name the approver starting the early wave: %s", describe(ro))
	}
	if !conditionIs(ro, fleetv1alpha1.ConditionReady, metav1.ConditionTrue, "") {
		t.Errorf("succeeded rollout not Ready: %s", describe(ro))
	}
	for _, reason := range []string{"WaveStarted", "WaveApproved", "WaveSucceeded"} {
		f.thenRolloutEvent(name, "Normal", reason)
	}
	g.goodRev, g.finished = target, true
}

// Story 2: a revision whose image never becomes Ready fails the canary wave
// (at once: its Pods back off pulling the image) and rolls back; no later
// wave is ever touched.
func (g *goodRollout) badRevisionStory(t *testing.T, f *rolloutFleet) {
	if !g.finished {
		t.Skip("needs the good revision of the previous story")
	}
	name := f.whenImageChanges(g.w, webBad)
	ro := f.thenRollout(name, "started", 30*time.Second, func(ro *fleetv1alpha1.Rollout) bool { return len(ro.Status.Waves) > 0 })
	bad := ro.Spec.TargetRevision
	if ro.Spec.FromRevision != g.goodRev {
		t.Errorf("fromRevision %s, want the good %s", ro.Spec.FromRevision, g.goodRev)
	}
	ro = f.thenRolloutPhase(name, fleetv1alpha1.RolloutPhaseRolledBack, progressDeadline+time.Minute)
	t.Logf("%s", describe(ro))
	for _, m := range canaryMembers {
		if work := f.workOf(g.w.promise, g.ns, "shop", m); work != nil {
			t.Logf("%s: admitted-at %s", m, work.Annotations[fleetv1alpha1.AnnotationAdmittedAt])
		}
	}

	if ro.Status.RollbackRevision != g.goodRev {
		t.Errorf("rollbackRevision %s, want %s", ro.Status.RollbackRevision, g.goodRev)
	}
	if !historyHas(ro, fleetv1alpha1.RolloutPhaseRollingBack, "canary", "hub") {
		t.Errorf("history has no automatic RollingBack on canary: %s", describe(ro))
	}
	if w := wave(ro, "canary"); w.Phase != fleetv1alpha1.WavePhaseFailed {
		t.Errorf("canary wave %s, want Failed", w.Phase)
	}
	var failed []string
	for _, fl := range ro.Status.Failures {
		failed = append(failed, fl.Cluster)
		// The member's reason, seen by the agent: the cluster fails at
		// once, not at its progress deadline (cause_test.go).
		if fl.Reason != "ImagePullBackOff" || !strings.Contains(fl.Message, "container web") || fl.Wave != "canary" {
			t.Errorf("failure %+v, want ImagePullBackOff in canary naming container web", fl)
		}
	}
	// The first canary cluster to fail breaches the budget of 0: the other
	// may not have been seen failing by then.
	slices.Sort(failed)
	if len(failed) == 0 || int(ro.Status.FailureCount) != len(failed) ||
		slices.ContainsFunc(failed, func(c string) bool { return !slices.Contains(canaryMembers, c) }) {
		t.Errorf("failures name %v (count %d), want one or both of %v", failed, ro.Status.FailureCount, canaryMembers)
	}
	later := append(slices.Clone(earlyMembers), generalMembers...)
	if got := f.works.rendered(g.w.promise, bad, later...); len(got) > 0 {
		t.Errorf("clusters %v outside the canary wave rendered the bad revision", got)
	}
	if got := f.works.rendered(g.w.promise, bad, canaryMembers...); !slices.Equal(got, canaryMembers) {
		t.Errorf("canary clusters that rendered the bad revision: %v", got)
	}
	f.thenWebRuns(g.ns, "shop", webV2, 30*time.Second, allMembers...)
	f.thenWorksRender(g.w, g.ns, "shop", g.goodRev, 10*time.Second, allMembers...)
	f.thenRolloutEvent(name, "Warning", fleetv1alpha1.ReasonFailureBudgetExceeded)

	// The bad revision is still the Promise's latest, but the fleet settled
	// on the good one: a new instance gets the good one too.
	if latest := f.promise(g.w.promise).Status.LatestRevision; latest != bad {
		t.Errorf("promise latest revision %s, want %s", latest, bad)
	}
	f.givenWebInstance(g.w, g.ns, "late", webV2, "member-4")
	f.thenWorksRender(g.w, g.ns, "late", g.goodRev, 10*time.Second, "member-4")
}

// Story 4: an emergency change ignores waves, bakes and approvals and
// admits every cluster at once, saying why.
func immediateStory(t *testing.T, f *rolloutFleet) {
	w, ns := webPromise("web-cve"), "team-cve"
	f.givenStrategy("gated", ringsStrategy(func(s *fleetv1alpha1.RolloutStrategySpec) {
		s.Waves[1].Approval = fleetv1alpha1.ApprovalRequired
		s.Immediate = &fleetv1alpha1.ImmediatePolicy{
			MaxConcurrency:   ptrTo(intstr.FromString("100%")),
			ProgressDeadline: &metav1.Duration{Duration: progressDeadline},
		}
	}))
	f.givenWebSite(w, "gated", ns)

	reason := "CVE-2031-0001: patched TLS library"
	name := f.whenImageChanges(w, webV2, func(p *fleetv1alpha1.Promise) {
		p.Spec.UpdatePolicy = fleetv1alpha1.UpdatePolicy{Mode: fleetv1alpha1.UpdateModeImmediate, Reason: reason}
	})
	ro := f.thenRolloutPhase(name, fleetv1alpha1.RolloutPhaseSucceeded, time.Minute)
	f.thenWebRuns(ns, "shop", webV2, 30*time.Second, allMembers...)

	if ro.Spec.UpdatePolicy.Mode != fleetv1alpha1.UpdateModeImmediate || ro.Spec.UpdatePolicy.Reason != reason {
		t.Errorf("rollout updatePolicy %+v, want the Promise's", ro.Spec.UpdatePolicy)
	}
	if len(ro.Status.Waves) != 1 || ro.Status.Waves[0].Name != "Immediate" || !slices.Equal(ro.Status.Waves[0].Clusters, allMembers) {
		t.Errorf("want one Immediate wave of every cluster: %s", describe(ro))
	}
	if h := ro.Status.History; len(h) == 0 || h[0].Actor != "hub" || !strings.Contains(h[0].Message, reason) {
		t.Errorf("first history entry does not record the hub and the reason: %s", describe(ro))
	}
	// Every cluster was admitted by the same decision.
	var first, last time.Time
	for _, m := range allMembers {
		work := f.workOf(w.promise, ns, "shop", m)
		at, err := time.Parse(time.RFC3339, work.Annotations[fleetv1alpha1.AnnotationAdmittedAt])
		if err != nil {
			t.Fatalf("work on %s: admitted-at %q: %v", m, work.Annotations[fleetv1alpha1.AnnotationAdmittedAt], err)
		}
		if first.IsZero() || at.Before(first) {
			first = at
		}
		if at.After(last) {
			last = at
		}
	}
	if last.Sub(first) > 2*time.Second {
		t.Errorf("clusters admitted from %s to %s, want all at once", first, last)
	}
	f.thenRolloutEvent(name, "Warning", "ImmediateRollout")
}

// Story 5: in Deadline mode owners adopt the new revision when they choose;
// at the deadline the rest are forced through the waves.
func deadlineStory(t *testing.T, f *rolloutFleet) {
	w, ns := webPromise("web-deadline"), "team-deadline"
	f.givenStrategy("quick", ringsStrategy(func(s *fleetv1alpha1.RolloutStrategySpec) {
		s.Waves[0].BakeTime = &metav1.Duration{Duration: time.Second}
	}))
	f.givenWebPromise(w, "quick")
	f.givenTeam(ns)
	f.givenWebInstance(w, ns, "eager", webV1, "member-3")
	laggards := []string{"member-1", "member-2", "member-4", "member-5"}
	f.givenWebInstance(w, ns, "laggard", webV1, laggards...)

	deadline := metav1.NewTime(time.Now().Add(30 * time.Second).Truncate(time.Second))
	name := f.whenImageChanges(w, webV2, func(p *fleetv1alpha1.Promise) {
		p.Spec.UpdatePolicy = fleetv1alpha1.UpdatePolicy{Mode: fleetv1alpha1.UpdateModeDeadline, Deadline: &deadline}
	})
	ro := f.thenRollout(name, "adoption window open", 30*time.Second, func(ro *fleetv1alpha1.Rollout) bool {
		return ro.Status.Adoption != nil && ro.Status.Adoption.Instances == 2
	})
	target := ro.Spec.TargetRevision

	// When the owner of "eager" adopts the new revision…
	f.whenInstanceAdopts(w, ns, "eager", target)
	f.thenRollout(name, "1 of 2 instances adopted", 15*time.Second, func(ro *fleetv1alpha1.Rollout) bool {
		a := ro.Status.Adoption
		return a != nil && a.Adopted == 1 && a.Instances == 2
	})
	// …its cluster moves before the deadline, out of wave order…
	f.thenWebRuns(ns, "eager", webV2, 20*time.Second, "member-3")
	if now := time.Now(); !now.Before(deadline.Time) {
		t.Fatalf("the adopter moved only at %s, after the deadline %s", now, deadline)
	}
	ro = f.rollout(name)
	if ro.Status.Adoption.ForcedAt != nil || ro.Status.Phase != fleetv1alpha1.RolloutPhaseProgressing {
		t.Errorf("before the deadline: %s", describe(ro))
	}
	// …and the others stay on the old revision until the deadline.
	if got := f.works.rendered(w.promise, target, laggards...); len(got) > 0 {
		t.Errorf("%v rendered the target before the deadline", got)
	}
	for _, m := range laggards {
		if img := f.imageOn(m, ns, "laggard"); img != webV1 {
			t.Errorf("%s runs %s before the deadline", m, img)
		}
	}

	// Then, at the deadline, the rest go through the waves.
	ro = f.thenRollout(name, "forced at the deadline", time.Until(deadline.Time)+15*time.Second, func(ro *fleetv1alpha1.Rollout) bool {
		return ro.Status.Adoption != nil && ro.Status.Adoption.ForcedAt != nil
	})
	if forced := ro.Status.Adoption.ForcedAt.Time; forced.Before(deadline.Time) {
		t.Errorf("forcedAt %s before the deadline %s", forced, deadline)
	}
	ro = f.thenRolloutPhase(name, fleetv1alpha1.RolloutPhaseSucceeded, time.Minute)
	f.thenWebRuns(ns, "laggard", webV2, 30*time.Second, laggards...)
	for _, m := range laggards {
		work := f.workOf(w.promise, ns, "laggard", m)
		at, err := time.Parse(time.RFC3339, work.Annotations[fleetv1alpha1.AnnotationAdmittedAt])
		if err != nil || at.Before(deadline.Time) {
			t.Errorf("laggard on %s admitted at %q, before the deadline %s", m, work.Annotations[fleetv1alpha1.AnnotationAdmittedAt], deadline)
		}
	}
	if a := ro.Status.Adoption; a == nil || a.Adopted != 1 || a.Instances != 2 {
		t.Errorf("final adoption %+v", a)
	}
	f.thenRolloutEvent(name, "Normal", fleetv1alpha1.ReasonDeadlineReached)
}

// whenInstanceAdopts is an owner adopting a revision ahead of the deadline
// (what `flotilla upgrade KIND/NAME` does).
func (f *rolloutFleet) whenInstanceAdopts(w web, ns, name, revision string) {
	f.t.Helper()
	body, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]any{fleetv1alpha1.AnnotationAdoptRevision: revision}}})
	if err := f.hub.Patch(context.Background(), newInstance(w.kind, ns, name, nil), client.RawPatch(types.MergePatchType, body)); err != nil {
		f.t.Fatalf("annotating %s/%s: %v", ns, name, err)
	}
}

// Story 6a: pausing during the canary wave holds every admission, however
// long; resuming completes the rollout.
func pauseStory(t *testing.T, f *rolloutFleet) {
	w, ns, _ := f.givenRingsStory("pause")

	name := f.whenImageChanges(w, webV2)
	ro := f.thenRolloutAt(name, fleetv1alpha1.RolloutPhaseBaking, "canary", 30*time.Second)
	target := ro.Spec.TargetRevision

	f.whenDesiredState(name, fleetv1alpha1.RolloutPaused, "e2e-pauser")
	ro = f.thenRolloutPhase(name, fleetv1alpha1.RolloutPhasePaused, 10*time.Second)
	if !conditionIs(ro, fleetv1alpha1.ConditionReconciling, metav1.ConditionFalse, fleetv1alpha1.ReasonPaused) ||
		!conditionIs(ro, fleetv1alpha1.ConditionStalled, metav1.ConditionFalse, "") {
		t.Errorf("paused conditions: %s", describe(ro))
	}
	// Time passes well beyond the canary's bake: still nothing new.
	time.Sleep(bakeCanary + 2*time.Second)
	ro = f.rollout(name)
	if ro.Status.Phase != fleetv1alpha1.RolloutPhasePaused || wave(ro, "early").StartedAt != nil {
		t.Errorf("paused rollout moved on: %s", describe(ro))
	}
	later := append(slices.Clone(earlyMembers), generalMembers...)
	if got := f.works.rendered(w.promise, target, later...); len(got) > 0 {
		t.Errorf("%v admitted while paused", got)
	}
	if !historyHas(ro, fleetv1alpha1.RolloutPhasePaused, "", "e2e-pauser") {
		t.Errorf("history does not record who paused: %s", describe(ro))
	}

	f.whenDesiredState(name, fleetv1alpha1.RolloutRunning, "e2e-pauser")
	ro = f.thenRolloutPhase(name, fleetv1alpha1.RolloutPhaseSucceeded, time.Minute)
	f.thenWebRuns(ns, "shop", webV2, 30*time.Second, allMembers...)
	if h := ro.Status.History; !slices.ContainsFunc(h, func(e fleetv1alpha1.HistoryEntry) bool {
		return e.From == fleetv1alpha1.RolloutPhasePaused && e.Actor == "e2e-pauser"
	}) {
		t.Errorf("history does not record who resumed: %s", describe(ro))
	}
}

// Story 6b: aborting stops the rollout for good: admitted clusters stay on
// the target, the others on the old revision, and nothing more is admitted.
func abortStory(t *testing.T, f *rolloutFleet) {
	w, ns, _ := f.givenRingsStory("abort")

	name := f.whenImageChanges(w, webV2)
	ro := f.thenRolloutAt(name, fleetv1alpha1.RolloutPhaseBaking, "canary", 30*time.Second)
	target, from := ro.Spec.TargetRevision, ro.Spec.FromRevision

	f.whenDesiredState(name, fleetv1alpha1.RolloutAborted, "e2e-aborter")
	f.thenRolloutPhase(name, fleetv1alpha1.RolloutPhaseAborted, 10*time.Second)
	time.Sleep(bakeCanary + 2*time.Second)
	ro = f.rollout(name)
	if ro.Status.Phase != fleetv1alpha1.RolloutPhaseAborted {
		t.Errorf("aborted rollout moved: %s", describe(ro))
	}
	for _, name := range []string{"early", "general"} {
		if w := wave(ro, name); w.Phase != fleetv1alpha1.WavePhaseSkipped || w.StartedAt != nil {
			t.Errorf("wave %s after abort: %+v", name, w)
		}
	}
	if !historyHas(ro, fleetv1alpha1.RolloutPhaseAborted, "", "e2e-aborter") {
		t.Errorf("history does not record who aborted: %s", describe(ro))
	}
	later := append(slices.Clone(earlyMembers), generalMembers...)
	if got := f.works.rendered(w.promise, target, later...); len(got) > 0 {
		t.Errorf("%v admitted after the abort", got)
	}
	f.thenWorksRender(w, ns, "shop", target, 5*time.Second, canaryMembers...)
	f.thenWorksRender(w, ns, "shop", from, 5*time.Second, later...)
	f.thenWebRuns(ns, "shop", webV2, 5*time.Second, canaryMembers...)
	f.thenWebRuns(ns, "shop", webV1, 5*time.Second, later...)
}

// startedWaves names the waves of ro that have started.
func startedWaves(ro *fleetv1alpha1.Rollout) []string {
	var out []string
	for _, w := range ro.Status.Waves {
		if w.StartedAt != nil {
			out = append(out, w.Name)
		}
	}
	return out
}

// Story 7a: a Halt freeze holds a rollout in flight (Paused, Frozen) and
// admits nothing; lifting it resumes the rollout.
func haltFreezeStory(t *testing.T, f *rolloutFleet) {
	w, ns, _ := f.givenRingsStory("halt")

	name := f.whenImageChanges(w, webV2)
	ro := f.thenRolloutAt(name, fleetv1alpha1.RolloutPhaseBaking, "canary", 30*time.Second)
	target := ro.Spec.TargetRevision

	f.whenFrozen("quarter-close", fleetv1alpha1.FreezeHalt, "quarter close")
	ro = f.thenRollout(name, "paused by the freeze", 10*time.Second, func(ro *fleetv1alpha1.Rollout) bool {
		return ro.Status.Phase == fleetv1alpha1.RolloutPhasePaused &&
			conditionIs(ro, fleetv1alpha1.ConditionFrozen, metav1.ConditionTrue, fleetv1alpha1.ReasonFleetFrozen)
	})
	if c := findCondition(ro, fleetv1alpha1.ConditionFrozen); !strings.Contains(c.Message, "quarter close") {
		t.Errorf("Frozen condition does not carry the freeze's reason: %+v", c)
	}
	if ro.Status.HeldBy() != "quarter-close" {
		t.Errorf("status.freeze.heldBy is %q, want quarter-close: %s", ro.Status.HeldBy(), describe(ro))
	}
	f.thenFreezeCounts("quarter-close", 1, 0)
	// Under load the canary's bake may end before the freeze is seen, and
	// the next wave start: what counts is that nothing moves once it holds.
	startedAtFreeze := startedWaves(ro)
	later := append(slices.Clone(earlyMembers), generalMembers...)
	admittedAtFreeze := f.works.rendered(w.promise, target, later...)
	time.Sleep(bakeCanary + 2*time.Second)
	ro = f.rollout(name)
	if ro.Status.Phase != fleetv1alpha1.RolloutPhasePaused || !slices.Equal(startedWaves(ro), startedAtFreeze) {
		t.Errorf("frozen rollout moved on (waves started when the freeze held it: %v): %s", startedAtFreeze, describe(ro))
	}
	if got := f.works.rendered(w.promise, target, later...); !slices.Equal(got, admittedAtFreeze) {
		t.Errorf("%v admitted during the freeze (%v were when it began to hold)", got, admittedAtFreeze)
	}

	f.whenUnfrozen("quarter-close")
	ro = f.thenRolloutPhase(name, fleetv1alpha1.RolloutPhaseSucceeded, time.Minute)
	if ro.Status.HeldBy() != "" {
		t.Errorf("status.freeze.heldBy still names %q after the freeze was lifted", ro.Status.HeldBy())
	}
	f.thenWebRuns(ns, "shop", webV2, 30*time.Second, allMembers...)
	if findCondition(ro, fleetv1alpha1.ConditionFrozen) != nil && conditionIs(ro, fleetv1alpha1.ConditionFrozen, metav1.ConditionTrue, "") {
		t.Errorf("still Frozen after the freeze was lifted: %s", describe(ro))
	}
}

// Story 7b: a Rollback freeze rolls back a rollout in flight, for good; once
// lifted, a new change rolls out normally.
func rollbackFreezeStory(t *testing.T, f *rolloutFleet) {
	w, ns, v1 := f.givenRingsStory("incident")

	name := f.whenImageChanges(w, webV2)
	ro := f.thenRolloutAt(name, fleetv1alpha1.RolloutPhaseBaking, "canary", 30*time.Second)
	target := ro.Spec.TargetRevision

	f.whenFrozen("incident-42", fleetv1alpha1.FreezeRollback, "incident 42")
	ro = f.thenRolloutPhase(name, fleetv1alpha1.RolloutPhaseRolledBack, time.Minute)
	if ro.Status.RollbackRevision != v1 {
		t.Errorf("rollbackRevision %s, want %s", ro.Status.RollbackRevision, v1)
	}
	if !historyHas(ro, fleetv1alpha1.RolloutPhaseRollingBack, "", "e2e-oncall") {
		t.Errorf("history does not record the freeze's author rolling back: %s", describe(ro))
	}
	if ro.Status.RolledBackBy() != "incident-42" || !slices.ContainsFunc(ro.Status.History, func(h fleetv1alpha1.HistoryEntry) bool {
		return h.To == fleetv1alpha1.RolloutPhaseRollingBack && h.Freeze == "incident-42"
	}) {
		t.Errorf("the rollback does not name FleetFreeze incident-42 in status.freeze.rolledBackBy and its history entry: %s", describe(ro))
	}
	f.thenFreezeCounts("incident-42", 0, 1)
	f.thenWebRuns(ns, "shop", webV1, 30*time.Second, allMembers...)
	f.thenWorksRender(w, ns, "shop", v1, 10*time.Second, allMembers...)
	later := append(slices.Clone(earlyMembers), generalMembers...)
	if got := f.works.rendered(w.promise, target, later...); len(got) > 0 {
		t.Errorf("%v admitted to the target in spite of the freeze", got)
	}

	// Lifting the freeze does not undo the rollback; a new change proceeds.
	f.whenUnfrozen("incident-42")
	time.Sleep(time.Second)
	if ro := f.rollout(name); ro.Status.Phase != fleetv1alpha1.RolloutPhaseRolledBack {
		t.Errorf("after the freeze: %s", describe(ro))
	}
	next := f.whenImageChanges(w, webV3)
	ro = f.thenRolloutPhase(next, fleetv1alpha1.RolloutPhaseSucceeded, time.Minute)
	if ro.Spec.FromRevision != v1 {
		t.Errorf("the next rollout starts from %s, want %s", ro.Spec.FromRevision, v1)
	}
	f.thenWebRuns(ns, "shop", webV3, 30*time.Second, allMembers...)
}

// thenFreezeCounts waits until a FleetFreeze reports it is active and how
// many Rollouts it holds and rolled back.
func (f *rolloutFleet) thenFreezeCounts(name string, held, rolledBack int32) {
	f.t.Helper()
	f.eventually(10*time.Second, fmt.Sprintf("freeze %s holds %d and rolled back %d", name, held, rolledBack), func() (bool, string) {
		fz := &fleetv1alpha1.FleetFreeze{}
		if err := f.hub.Get(context.Background(), client.ObjectKey{Name: name}, fz); err != nil {
			return false, err.Error()
		}
		active := meta.IsStatusConditionTrue(fz.Status.Conditions, fleetv1alpha1.ConditionActive)
		return active && fz.Status.HeldRollouts == held && fz.Status.RolledBackRollouts == rolledBack, fmt.Sprintf("%+v", fz.Status)
	})
}

func findCondition(ro *fleetv1alpha1.Rollout, typ string) *metav1.Condition {
	for i := range ro.Status.Conditions {
		if ro.Status.Conditions[i].Type == typ {
			return &ro.Status.Conditions[i]
		}
	}
	return nil
}

// keys returns a map's keys, sorted.
func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
