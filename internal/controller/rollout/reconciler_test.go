package rollout_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/controller/promise/promisetest"
	"github.com/flotilla-dev/flotilla/internal/rollout"
)

// template renders the instance's ConfigMap with a release marker, so each
// release is a new revision.
func template(release string) string {
	return `apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .instance.metadata.name | quote }}
data:
  size: {{ .spec.size | quote }}
  release: "` + release + `"
`
}

// givenSite publishes Promise name (kind Site in group) on three clusters,
// <name>-c1 in ring canary and <name>-g1, <name>-g2 in ring general, with
// one instance "shop" in namespace <name>-team placed on all three, and
// reports its Works healthy. It returns the first revision.
func (s *story) givenSite(name, strategy string) string {
	s.TB.Helper()
	return s.givenSiteOf(name, strategy, template("1"))
}

// givenSiteOf is givenSite with the Promise's template tmpl.
func (s *story) givenSiteOf(name, strategy, tmpl string) string {
	s.TB.Helper()
	team := name + "-team"
	s.cluster(name+"-c1", map[string]string{"suite": name, "ring": "canary"})
	s.cluster(name+"-g1", map[string]string{"suite": name, "ring": "general"})
	s.cluster(name+"-g2", map[string]string{"suite": name, "ring": "general"})
	s.Fleet(name, map[string]string{"suite": name}, team)
	s.Namespace(team, nil)
	p := promisetest.ConfigMapPromise(name, s.group, "Site", name)
	p.Spec.Templates.GoTemplates[0].Template = tmpl
	if strategy != "" {
		p.Spec.StrategyRef = &fleetv1alpha1.LocalObjectReference{Name: strategy}
	}
	s.Create(p)
	r1 := s.PromiseReady(name)
	s.Create(promisetest.Instance(s.group, "Site", team, "shop", map[string]any{"size": "small"}))
	for _, c := range s.clusters(name) {
		s.WaitWork(name, team, "shop", c, func(w *fleetv1alpha1.Work) (bool, string) { return w.Spec.Revision == r1, w.Spec.Revision })
	}
	s.reportReady(name, team, s.clusters(name)...)
	return r1
}

// cluster registers a member that counts as online without an agent,
// unless the test registered it already (one with an agent's Lease).
func (s *story) cluster(name string, labels map[string]string) {
	s.TB.Helper()
	if err := s.C.Get(s.Ctx, client.ObjectKey{Name: name}, &fleetv1alpha1.Cluster{}); err == nil {
		return
	}
	s.OnlineCluster(name, labels)
}

func (s *story) clusters(name string) []string {
	return []string{name + "-c1", name + "-g1", name + "-g2"}
}

// release changes the Promise to a new release and returns the name of the
// Rollout the hub starts for it and the new revision.
func (s *story) release(name, release, previous string) (string, string) {
	s.TB.Helper()
	gen := s.changePromise(name, template(release))
	var latest string
	promisetest.Eventually(s.TB, time.Minute, "a new revision of "+name, func() (bool, string) {
		p := &fleetv1alpha1.Promise{}
		if err := s.C.Get(s.Ctx, client.ObjectKey{Name: name}, p); err != nil {
			return false, err.Error()
		}
		latest = p.Status.LatestRevision
		return latest != previous && latest != "", latest
	})
	return name + "-" + strconv.FormatInt(gen, 10), latest
}

// stays checks for a while that the clusters' Works keep rendering rev.
func (s *story) stays(name, rev string, clusters ...string) {
	s.TB.Helper()
	deadline := time.Now().Add(time.Second)
	for time.Now().Before(deadline) {
		for _, c := range clusters {
			if got := s.workRevision(name, name+"-team", c); got != rev {
				s.TB.Fatalf("the Work on %s renders %s, want it to stay on %s", c, got, rev)
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// moves waits until the clusters' Works render rev.
func (s *story) moves(name, rev string, clusters ...string) {
	s.TB.Helper()
	for _, c := range clusters {
		s.WaitWork(name, name+"-team", "shop", c, func(w *fleetv1alpha1.Work) (bool, string) { return w.Spec.Revision == rev, w.Spec.Revision })
	}
}

func (s *story) patchRollout(name string, change func(*fleetv1alpha1.Rollout)) {
	s.TB.Helper()
	ro := s.rollout(name)
	base := ro.DeepCopy()
	change(ro)
	if err := s.C.Patch(s.Ctx, ro, client.MergeFrom(base)); err != nil {
		s.TB.Fatal(err)
	}
}

// A Promise change moves through the waves: the canary first, then, once it
// is healthy and the general wave approved, the rest. Nothing moves before
// its turn, and each admitted Work names the Rollout and wave that admitted it.
func TestPromiseChangeRollsOutWaveByWave(t *testing.T) {
	s := newStory(t, "waves.example.com")
	s.strategy("waves", fleetv1alpha1.FailureHalt, wave("canary"), wave("general", func(w *fleetv1alpha1.Wave) {
		w.Approval = fleetv1alpha1.ApprovalRequired
	}))
	r1 := s.givenSite("waves", "waves")

	list := &fleetv1alpha1.RolloutList{}
	if err := s.C.List(s.Ctx, list, client.MatchingLabels{fleetv1alpha1.LabelPromise: "waves"}); err != nil || len(list.Items) != 0 {
		t.Fatalf("a Promise's first revision needs no Rollout; got %d (%v)", len(list.Items), err)
	}

	name, r2 := s.release("waves", "2", r1)
	ro := s.waitRollout(name, "admitting the canary", func(ro *fleetv1alpha1.Rollout) bool {
		return ro.Status.CurrentWave == "canary" && ro.Status.Counts.Admitted == 1
	})
	if ro.Spec.FromRevision != r1 || ro.Spec.TargetRevision != r2 || ro.Annotations[fleetv1alpha1.AnnotationStartedBy] != rollout.ActorHub {
		t.Errorf("rollout spec %+v, annotations %v", ro.Spec, ro.Annotations)
	}
	s.moves("waves", r2, "waves-c1")
	s.stays("waves", r1, "waves-g1", "waves-g2")
	w := s.Work("waves", "waves-team", "shop", "waves-c1")
	if w.Spec.Rollout == nil || w.Spec.Rollout.Name != name || w.Spec.Rollout.Wave != "canary" || w.Annotations[fleetv1alpha1.AnnotationAdmittedAt] == "" {
		t.Errorf("admitted Work: rollout %+v, annotations %v", w.Spec.Rollout, w.Annotations)
	}

	s.reportReady("waves", "waves-team", "waves-c1")
	s.waitRollout(name, "waiting for the general wave's approval", phaseIs(fleetv1alpha1.RolloutPhaseWaitingForApproval))
	s.stays("waves", r1, "waves-g1", "waves-g2")

	s.patchRollout(name, func(ro *fleetv1alpha1.Rollout) {
		ro.Spec.Approvals = append(ro.Spec.Approvals, fleetv1alpha1.Approval{Wave: "general",
			ChangeRecord: fleetv1alpha1.ChangeRecord{By: "alice", At: &metav1.Time{Time: time.Now().Truncate(time.Second)}}})
	})
	s.moves("waves", r2, "waves-g1", "waves-g2")
	s.reportReady("waves", "waves-team", "waves-g1", "waves-g2")
	ro = s.waitRollout(name, "succeeded", phaseIs(fleetv1alpha1.RolloutPhaseSucceeded))
	if ro.Status.PercentOnTarget != 100 || ro.Status.Counts.Healthy != 3 {
		t.Errorf("succeeded with %d%% on target, counts %+v", ro.Status.PercentOnTarget, ro.Status.Counts)
	}
	approved := false
	for _, h := range ro.Status.History {
		approved = approved || h.Actor == "alice" && h.Wave == "general"
	}
	if !approved {
		t.Errorf("history does not name the approver: %+v", ro.Status.History)
	}
}

// A failing canary exceeds its budget and, with onFailure Rollback, moves
// back to the previous revision; the general wave is never touched.
func TestFailingCanaryRollsBack(t *testing.T) {
	s := newStory(t, "rollback.example.com")
	s.strategy("rollback", fleetv1alpha1.FailureRollback, wave("canary"), wave("general"))
	r1 := s.givenSite("rollback", "rollback")

	name, r2 := s.release("rollback", "2", r1)
	s.moves("rollback", r2, "rollback-c1")
	now := metav1.Now()
	s.UpdateWorkStatus(s.Work("rollback", "rollback-team", "shop", "rollback-c1"), func(w *fleetv1alpha1.Work) {
		w.Status = fleetv1alpha1.WorkStatus{ObservedGeneration: w.Generation, AppliedRevision: r2, Conditions: []metav1.Condition{
			{Type: fleetv1alpha1.ConditionApplied, Status: metav1.ConditionTrue, Reason: fleetv1alpha1.ReasonApplied, LastTransitionTime: now},
			{Type: fleetv1alpha1.ConditionHealthy, Status: metav1.ConditionFalse, Reason: fleetv1alpha1.ReasonUnhealthy,
				Message: "Deployment shop: CrashLoopBackOff", LastTransitionTime: now},
		}}
	})

	ro := s.waitRollout(name, "rolling back", phaseIs(fleetv1alpha1.RolloutPhaseRollingBack))
	if ro.Status.RollbackRevision != r1 || ro.Status.FailureCount != 1 || ro.Status.Failures[0].Cluster != "rollback-c1" {
		t.Errorf("rollback to %q with failures %+v", ro.Status.RollbackRevision, ro.Status.Failures)
	}
	s.hasEvent(name, "Warning FailureBudgetExceeded wave canary: 1 of 1 clusters failed")
	s.moves("rollback", r1, "rollback-c1")
	s.reportReady("rollback", "rollback-team", "rollback-c1")
	s.waitRollout(name, "rolled back", phaseIs(fleetv1alpha1.RolloutPhaseRolledBack))
	s.stays("rollback", r1, s.clusters("rollback")...)
}

// A Rollout that cannot be planned says why (Stalled) and starts as soon as
// the cause is fixed; a Rollout of a Promise outside the platform namespace
// never moves anything.
func TestBlockedRollouts(t *testing.T) {
	s := newStory(t, "blocked.example.com")
	r1 := s.givenSite("blocked", "blocked-strategy")
	name, _ := s.release("blocked", "2", r1)
	s.waitRollout(name, "stalled on its missing strategy", func(ro *fleetv1alpha1.Rollout) bool {
		return promisetest.ConditionReason(ro.Status.Conditions, fleetv1alpha1.ConditionStalled) == fleetv1alpha1.ReasonStrategyNotFound &&
			ro.Status.Phase == fleetv1alpha1.RolloutPhasePending
	})
	s.hasEvent(name, "Warning StrategyNotFound blocked: RolloutStrategy blocked-strategy not found")
	s.stays("blocked", r1, s.clusters("blocked")...)
	s.strategy("blocked-strategy", fleetv1alpha1.FailureHalt, wave("canary"), wave("general"))
	s.waitRollout(name, "admitting once its strategy exists", func(ro *fleetv1alpha1.Rollout) bool {
		return ro.Status.Counts.Admitted == 1 && !promisetest.ConditionIs(ro.Status.Conditions, fleetv1alpha1.ConditionStalled, metav1.ConditionTrue)
	})

	adhoc := &fleetv1alpha1.Rollout{
		ObjectMeta: metav1.ObjectMeta{Namespace: "blocked-team", Name: "sneaky"},
		Spec: fleetv1alpha1.RolloutSpec{Subject: fleetv1alpha1.RolloutSubject{Promise: "blocked"},
			FromRevision: r1, TargetRevision: r1 + "x"},
	}
	s.Create(adhoc)
	promisetest.Eventually(t, time.Minute, "the team's Rollout stalled", func() (bool, string) {
		if err := s.C.Get(s.Ctx, client.ObjectKeyFromObject(adhoc), adhoc); err != nil {
			return false, err.Error()
		}
		return promisetest.ConditionReason(adhoc.Status.Conditions, fleetv1alpha1.ConditionStalled) == fleetv1alpha1.ReasonInvalidSpec,
			string(adhoc.Status.Phase)
	})
}

// A rollback to a revision that does not exist stalls the Rollout (nothing
// moves), an abort ends it, and the next change starts from the revision the
// fleet settled on, not from the one that does not exist.
func TestStalledRollbackCanBeAborted(t *testing.T) {
	s := newStory(t, "stuckrb.example.com")
	s.strategy("stuckrb", fleetv1alpha1.FailureHalt, wave("canary"), wave("general", func(w *fleetv1alpha1.Wave) {
		w.Approval = fleetv1alpha1.ApprovalRequired
	}))
	r1 := s.givenSite("stuckrb", "stuckrb")
	name, r2 := s.release("stuckrb", "2", r1)
	s.moves("stuckrb", r2, "stuckrb-c1")

	missing := "stuckrb-0000000000"
	s.patchRollout(name, func(ro *fleetv1alpha1.Rollout) {
		ro.Spec.Rollback = &fleetv1alpha1.RollbackRequest{ToRevision: missing}
	})
	ro := s.waitRollout(name, "stalled on its rollback", func(ro *fleetv1alpha1.Rollout) bool {
		return promisetest.ConditionReason(ro.Status.Conditions, fleetv1alpha1.ConditionStalled) == fleetv1alpha1.ReasonRevisionNotFound
	})
	if c := meta.FindStatusCondition(ro.Status.Conditions, fleetv1alpha1.ConditionStalled); !strings.Contains(c.Message, "the rollback to "+missing) ||
		!strings.Contains(c.Message, "flotilla rollout abort") || ro.Status.Phase == fleetv1alpha1.RolloutPhaseRollingBack {
		t.Fatalf("phase %s, Stalled %+v", ro.Status.Phase, c)
	}
	s.hasEvent(name, "Warning RevisionNotFound the rollback to "+missing)
	s.stays("stuckrb", r2, "stuckrb-c1")
	s.stays("stuckrb", r1, "stuckrb-g1", "stuckrb-g2")

	s.patchRollout(name, func(ro *fleetv1alpha1.Rollout) {
		ro.Spec.DesiredState = fleetv1alpha1.RolloutAborted
		ro.Spec.StateChange = &fleetv1alpha1.ChangeRecord{By: "ops@example.com", Message: "typo in the rollback"}
	})
	ro = s.waitRollout(name, "aborted", phaseIs(fleetv1alpha1.RolloutPhaseAborted))
	if h := ro.Status.History[len(ro.Status.History)-1]; h.Actor != "ops@example.com" || ro.Status.RollbackRevision != "" {
		t.Fatalf("history %+v, rollbackRevision %q", h, ro.Status.RollbackRevision)
	}

	next, r3 := s.release("stuckrb", "3", r2)
	ro = s.waitRollout(next, "the next change admits its canary", func(ro *fleetv1alpha1.Rollout) bool { return ro.Status.Counts.Admitted >= 1 })
	if ro.Spec.FromRevision != r1 || promisetest.ConditionIs(ro.Status.Conditions, fleetv1alpha1.ConditionStalled, metav1.ConditionTrue) {
		t.Fatalf("next rollout %s → %s (want from %s), conditions %+v", ro.Spec.FromRevision, ro.Spec.TargetRevision, r1, ro.Status.Conditions)
	}
	s.moves("stuckrb", r3, "stuckrb-c1")
}

// A second change while the first is rolling out supersedes it: the first
// stops where it is, and the second starts from the fleet's stable revision
// and takes the admitted canary on to the newest revision.
func TestNewerChangeSupersedes(t *testing.T) {
	s := newStory(t, "supersede.example.com")
	s.strategy("supersede", fleetv1alpha1.FailureHalt, wave("canary"), wave("general", func(w *fleetv1alpha1.Wave) {
		w.Approval = fleetv1alpha1.ApprovalRequired
	}))
	r1 := s.givenSite("supersede", "supersede")
	first, r2 := s.release("supersede", "2", r1)
	s.moves("supersede", r2, "supersede-c1")

	second, r3 := s.release("supersede", "3", r2)
	ro := s.waitRollout(first, "superseded", phaseIs(fleetv1alpha1.RolloutPhaseSuperseded))
	if ro.Status.SupersededBy != second {
		t.Errorf("superseded by %q, want %q", ro.Status.SupersededBy, second)
	}
	ro = s.waitRollout(second, "started", func(ro *fleetv1alpha1.Rollout) bool { return ro.Status.CurrentWave == "canary" })
	if ro.Spec.FromRevision != r1 || ro.Spec.TargetRevision != r3 {
		t.Errorf("second rollout moves %s → %s, want %s → %s", ro.Spec.FromRevision, ro.Spec.TargetRevision, r1, r3)
	}
	s.moves("supersede", r3, "supersede-c1")
	s.stays("supersede", r1, "supersede-g1", "supersede-g2")
}

// An instance's own change is a Rollout too, in the team's namespace: the
// new spec reaches the canary first, the rest after an approval, and a
// rollback renders the old spec (kept as an instance revision) again.
func TestInstanceChangeRollsOut(t *testing.T) {
	s := newStory(t, "ichange.example.com")
	s.strategy("ichange", fleetv1alpha1.FailureHalt, wave("canary"), wave("general", func(w *fleetv1alpha1.Wave) {
		w.Approval = fleetv1alpha1.ApprovalRequired
	}))
	s.givenSite("ichange", "ichange")
	size := func(cluster string) string {
		return promisetest.ManifestData(t, s.Work("ichange", "ichange-team", "shop", cluster), "size")
	}
	before := s.Work("ichange", "ichange-team", "shop", "ichange-c1").Spec.InstanceRevision
	if before == "" {
		t.Fatal("the Work names no instance revision")
	}

	inst := promisetest.Instance(s.group, "Site", "ichange-team", "shop", nil)
	patch := client.RawPatch(types.MergePatchType, []byte(`{"spec":{"size":"large"}}`))
	if err := s.C.Patch(s.Ctx, inst, patch); err != nil {
		t.Fatal(err)
	}
	name := "site-shop-" + strconv.FormatInt(inst.GetGeneration(), 10)
	var ro *fleetv1alpha1.Rollout
	promisetest.Eventually(t, time.Minute, "the instance's Rollout admitting the canary", func() (bool, string) {
		ro = &fleetv1alpha1.Rollout{}
		if err := s.C.Get(s.Ctx, client.ObjectKey{Namespace: "ichange-team", Name: name}, ro); err != nil {
			return false, err.Error()
		}
		return ro.Status.Counts.Admitted == 1, string(ro.Status.Phase)
	})
	if ro.Spec.FromRevision != before || ro.Spec.Subject.Instance == nil || ro.Spec.Subject.Instance.Name != "shop" {
		t.Errorf("instance rollout spec %+v", ro.Spec)
	}
	promisetest.Eventually(t, time.Minute, "the canary renders the new spec", func() (bool, string) {
		return size("ichange-c1") == "large", size("ichange-c1")
	})
	for _, c := range []string{"ichange-g1", "ichange-g2"} {
		if got := size(c); got != "small" {
			t.Errorf("%s renders size %s before its wave, want small", c, got)
		}
	}

	// The owner takes it back: every cluster renders the old spec again.
	s.ReportReady(s.Work("ichange", "ichange-team", "shop", "ichange-c1"))
	promisetest.Eventually(t, time.Minute, "waiting for the general wave's approval", func() (bool, string) {
		if err := s.C.Get(s.Ctx, client.ObjectKeyFromObject(ro), ro); err != nil {
			return false, err.Error()
		}
		return ro.Status.Phase == fleetv1alpha1.RolloutPhaseWaitingForApproval, string(ro.Status.Phase)
	})
	base := ro.DeepCopy()
	ro.Spec.Rollback = &fleetv1alpha1.RollbackRequest{ChangeRecord: fleetv1alpha1.ChangeRecord{By: "owner", Message: "size large was a mistake"}}
	if err := s.C.Patch(s.Ctx, ro, client.MergeFrom(base)); err != nil {
		t.Fatal(err)
	}
	promisetest.Eventually(t, time.Minute, "the canary renders the old spec again", func() (bool, string) {
		return size("ichange-c1") == "small", size("ichange-c1")
	})
	s.ReportReady(s.Work("ichange", "ichange-team", "shop", "ichange-c1"))
	promisetest.Eventually(t, time.Minute, "rolled back", func() (bool, string) {
		if err := s.C.Get(s.Ctx, client.ObjectKeyFromObject(ro), ro); err != nil {
			return false, err.Error()
		}
		return ro.Status.Phase == fleetv1alpha1.RolloutPhaseRolledBack, string(ro.Status.Phase)
	})
	for _, c := range s.clusters("ichange") {
		if got := size(c); got != "small" {
			t.Errorf("%s renders size %s after the rollback, want small", c, got)
		}
	}
}
