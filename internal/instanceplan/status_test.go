package instanceplan

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/placement"
	"github.com/flotilla-dev/flotilla/internal/render"
	"github.com/flotilla-dev/flotilla/internal/scope"
)

func testWork(cluster, revision string, state string) fleetv1alpha1.Work {
	w := fleetv1alpha1.Work{
		ObjectMeta: metav1.ObjectMeta{Name: "w", Namespace: fleetv1alpha1.ClusterNamespace(cluster), Generation: 2},
		Spec:       fleetv1alpha1.WorkSpec{Cluster: cluster, Revision: revision},
	}
	cond := func(typ string, s metav1.ConditionStatus, reason string) metav1.Condition {
		return metav1.Condition{Type: typ, Status: s, Reason: reason, Message: reason}
	}
	switch state {
	case "healthy":
		w.Status = fleetv1alpha1.WorkStatus{ObservedGeneration: 2, AppliedRevision: revision, Conditions: []metav1.Condition{
			cond(fleetv1alpha1.ConditionApplied, metav1.ConditionTrue, fleetv1alpha1.ReasonApplied),
			cond(fleetv1alpha1.ConditionReady, metav1.ConditionTrue, fleetv1alpha1.ReasonHealthy),
		}}
	case "failed":
		w.Status = fleetv1alpha1.WorkStatus{ObservedGeneration: 2, Conditions: []metav1.Condition{
			cond(fleetv1alpha1.ConditionApplied, metav1.ConditionFalse, fleetv1alpha1.ReasonApplyFailed),
		}}
	}
	return w
}

func TestStatus(t *testing.T) {
	now := time.Date(2031, 1, 2, 3, 4, 5, 0, time.UTC)
	two := placement.Result{Clusters: []string{"c1", "c2"}}
	for _, tc := range []struct {
		name                      string
		o                         Report
		ready, placed, stalled    metav1.ConditionStatus
		readyReason, placedReason string
		counts                    fleetv1alpha1.InstanceClusterCounts
		revision                  string
	}{
		{name: "all healthy", o: Report{Placement: two, Works: []fleetv1alpha1.Work{testWork("c1", "r2", "healthy"), testWork("c2", "r2", "healthy")}},
			ready: metav1.ConditionTrue, placed: metav1.ConditionTrue, stalled: metav1.ConditionFalse,
			readyReason: fleetv1alpha1.ReasonSucceeded, placedReason: fleetv1alpha1.ReasonPlaced,
			counts: fleetv1alpha1.InstanceClusterCounts{Placed: 2, Ready: 2}, revision: "r2"},
		{name: "progressing, most clusters on r1", o: Report{Placement: placement.Result{Clusters: []string{"c1", "c2", "c3"}},
			Works: []fleetv1alpha1.Work{testWork("c1", "r1", "healthy"), testWork("c2", "r1", ""), testWork("c3", "r2", "")}},
			ready: metav1.ConditionFalse, placed: metav1.ConditionTrue, stalled: metav1.ConditionFalse,
			readyReason: fleetv1alpha1.ReasonProgressing, placedReason: fleetv1alpha1.ReasonPlaced,
			counts: fleetv1alpha1.InstanceClusterCounts{Placed: 3, Ready: 1}, revision: "r1"},
		{name: "a failing cluster", o: Report{Placement: two, Works: []fleetv1alpha1.Work{testWork("c1", "r2", "healthy"), testWork("c2", "r2", "failed")}},
			ready: metav1.ConditionFalse, placed: metav1.ConditionTrue, stalled: metav1.ConditionFalse,
			readyReason: fleetv1alpha1.ReasonWorksFailing, placedReason: fleetv1alpha1.ReasonPlaced,
			counts: fleetv1alpha1.InstanceClusterCounts{Placed: 2, Ready: 1, Failing: 1}, revision: "r2"},
		{name: "healthy, one cluster Offline", o: Report{Placement: two, Works: []fleetv1alpha1.Work{testWork("c1", "r2", "healthy"), testWork("c2", "r2", "healthy")},
			Offline: map[string]bool{"c2": true}},
			ready: metav1.ConditionFalse, placed: metav1.ConditionTrue, stalled: metav1.ConditionFalse,
			readyReason: fleetv1alpha1.ReasonClustersOffline, placedReason: fleetv1alpha1.ReasonPlaced,
			counts: fleetv1alpha1.InstanceClusterCounts{Placed: 2, Ready: 1, Offline: 1}, revision: "r2"},
		{name: "progressing, one cluster Offline", o: Report{Placement: placement.Result{Clusters: []string{"c1", "c2", "c3"}},
			Works:   []fleetv1alpha1.Work{testWork("c1", "r2", "healthy"), testWork("c2", "r2", ""), testWork("c3", "r2", "healthy")},
			Offline: map[string]bool{"c3": true}},
			ready: metav1.ConditionFalse, placed: metav1.ConditionTrue, stalled: metav1.ConditionFalse,
			readyReason: fleetv1alpha1.ReasonProgressing, placedReason: fleetv1alpha1.ReasonPlaced,
			counts: fleetv1alpha1.InstanceClusterCounts{Placed: 3, Ready: 1, Offline: 1}, revision: "r2"},
		{name: "failing on an Offline cluster: its last report stands", o: Report{Placement: two,
			Works: []fleetv1alpha1.Work{testWork("c1", "r2", "healthy"), testWork("c2", "r2", "failed")}, Offline: map[string]bool{"c2": true}},
			ready: metav1.ConditionFalse, placed: metav1.ConditionTrue, stalled: metav1.ConditionFalse,
			readyReason: fleetv1alpha1.ReasonWorksFailing, placedReason: fleetv1alpha1.ReasonPlaced,
			counts: fleetv1alpha1.InstanceClusterCounts{Placed: 2, Ready: 1, Failing: 1, Offline: 1}, revision: "r2"},
		{name: "tenancy violation", o: Report{Placement: placement.Result{Violations: []placement.Violation{{Reason: fleetv1alpha1.ReasonTenancyViolation, Message: "namespace x is not a tenant of any Fleet"}}}},
			ready: metav1.ConditionFalse, placed: metav1.ConditionFalse, stalled: metav1.ConditionTrue,
			readyReason: fleetv1alpha1.ReasonTenancyViolation, placedReason: fleetv1alpha1.ReasonTenancyViolation},
		{name: "nothing matches", o: Report{},
			ready: metav1.ConditionFalse, placed: metav1.ConditionFalse, stalled: metav1.ConditionFalse,
			readyReason: fleetv1alpha1.ReasonNoMatchingClusters, placedReason: fleetv1alpha1.ReasonNoMatchingClusters},
		{name: "render failed on one cluster", o: Report{Placement: two, Works: []fleetv1alpha1.Work{testWork("c1", "r2", "healthy")},
			Failed: map[string]error{"c2": errors.New("template configmap.yaml:3: boom")}},
			ready: metav1.ConditionFalse, placed: metav1.ConditionTrue, stalled: metav1.ConditionTrue,
			readyReason: fleetv1alpha1.ReasonRenderFailed, placedReason: fleetv1alpha1.ReasonPlaced,
			counts: fleetv1alpha1.InstanceClusterCounts{Placed: 2, Ready: 1}, revision: "r2"},
		{name: "promise without a revision", o: Report{Decision: WaitForRevision, Promise: "p"},
			ready: metav1.ConditionFalse, placed: metav1.ConditionUnknown, stalled: metav1.ConditionFalse,
			readyReason: fleetv1alpha1.ReasonPromiseNotReady, placedReason: fleetv1alpha1.ReasonPromiseNotReady},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := Status(fleetv1alpha1.InstanceStatus{InstanceRevision: "keep"}, 7, tc.o, now)
			check := func(typ string, status metav1.ConditionStatus, reason string) {
				t.Helper()
				c := meta.FindStatusCondition(st.Conditions, typ)
				if c == nil || c.Status != status || (reason != "" && c.Reason != reason) || c.ObservedGeneration != 7 {
					t.Errorf("%s = %+v, want %s %s", typ, c, status, reason)
				}
			}
			check(fleetv1alpha1.ConditionReady, tc.ready, tc.readyReason)
			check(fleetv1alpha1.ConditionPlaced, tc.placed, tc.placedReason)
			check(fleetv1alpha1.ConditionStalled, tc.stalled, "")
			if st.Clusters != tc.counts || st.Revision != tc.revision || st.ObservedGeneration != 7 || st.InstanceRevision != "keep" {
				t.Errorf("status %+v", st)
			}
		})
	}
}

func TestStatusKeepsTransitionTimes(t *testing.T) {
	t0 := time.Date(2031, 1, 2, 3, 4, 5, 0, time.UTC)
	o := Report{Placement: placement.Result{Clusters: []string{"c1"}}, Works: []fleetv1alpha1.Work{testWork("c1", "r1", "")}}
	first := Status(fleetv1alpha1.InstanceStatus{}, 1, o, t0)
	second := Status(first, 1, o, t0.Add(time.Hour))
	c := meta.FindStatusCondition(second.Conditions, fleetv1alpha1.ConditionReady)
	if !c.LastTransitionTime.Time.Equal(t0) {
		t.Errorf("transition time moved without a transition: %s", c.LastTransitionTime)
	}
	if !SameConditions(first.Conditions, second.Conditions) {
		t.Error("SameConditions")
	}
}

func TestRenderFailure(t *testing.T) {
	reason, msg := renderFailure(map[string]error{"b": errors.New("x"), "a": errors.New("line 3: boom")})
	if reason != fleetv1alpha1.ReasonRenderFailed || !strings.Contains(msg, "(a, b)") || !strings.Contains(msg, "a: line 3: boom") {
		t.Errorf("%s: message %q", reason, msg)
	}

	violation := fmt.Errorf("rendering promise p for t/i: %w", &scope.Violation{Object: "ClusterRoleBinding.rbac.authorization.k8s.io evil", Rule: "kind ClusterRoleBinding.rbac.authorization.k8s.io is not in the Promise's output.kinds (ConfigMap)"})
	for _, tc := range []struct {
		name   string
		errs   map[string]error
		reason string
		want   string
	}{
		{"an object outside the output", map[string]error{"c1": violation}, fleetv1alpha1.ReasonOutputNotAllowed,
			"the render was refused on cluster c1; its Work is left as it was: rendering promise p for t/i: ClusterRoleBinding.rbac.authorization.k8s.io evil: kind"},
		{"a refused Override", map[string]error{"c1": fmt.Errorf("rendering: %w", &render.OverrideError{Override: "t/o", Reason: "the patch sets kind"})},
			fleetv1alpha1.ReasonPatchNotAllowed, "override t/o: the patch sets kind"},
		{"a value making structure", map[string]error{"c1": fmt.Errorf("template a.yaml: %w", render.ErrValueCreatesStructure)},
			fleetv1alpha1.ReasonValueCreatesStructure, "a value created YAML structure"},
		{"a render over budget", map[string]error{"c1": fmt.Errorf("template a.yaml: %w", render.ErrBudgetExceeded)},
			fleetv1alpha1.ReasonRenderBudgetExceeded, "render budget exceeded"},
		{"a refusal is shown before a plain failure", map[string]error{"a": errors.New("chart gone"), "b": violation},
			fleetv1alpha1.ReasonOutputNotAllowed, "on 2 clusters (a, b); their Works are left as they were: b: rendering promise p"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reason, msg := renderFailure(tc.errs)
			if reason != tc.reason || !strings.Contains(msg, tc.want) {
				t.Errorf("%s %q, want %s %q", reason, msg, tc.reason, tc.want)
			}
			st := Status(fleetv1alpha1.InstanceStatus{}, 1, Report{Placement: placement.Result{Clusters: []string{"a", "b", "c1"}}, Failed: tc.errs}, time.Now())
			if c := meta.FindStatusCondition(st.Conditions, fleetv1alpha1.ConditionReady); c.Status != metav1.ConditionFalse || c.Reason != tc.reason {
				t.Errorf("Ready %+v", c)
			}
		})
	}
}

// After the Rollout of a new spec is rolled back the clusters are healthy on
// the old spec: the instance must not read Ready on the spec it shows.
func TestStatusSpecApplied(t *testing.T) {
	now := time.Date(2031, 1, 2, 3, 4, 5, 0, time.UTC)
	two := placement.Result{Clusters: []string{"c1", "c2"}}
	on := func(cluster, instRev string) fleetv1alpha1.Work {
		w := testWork(cluster, "r1", "healthy")
		w.Spec.InstanceRevision, w.Status.AppliedInstanceRevision = instRev, instRev
		return w
	}
	rollout := func(phase fleetv1alpha1.RolloutPhase, rollback string) *fleetv1alpha1.Rollout {
		return &fleetv1alpha1.Rollout{
			ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "site-shop-2"},
			Spec:       fleetv1alpha1.RolloutSpec{FromRevision: "site-shop-old", TargetRevision: "site-shop-new"},
			Status:     fleetv1alpha1.RolloutStatus{Phase: phase, RollbackRevision: rollback},
		}
	}
	for _, tc := range []struct {
		name                 string
		works                []fleetv1alpha1.Work
		rollout              *fleetv1alpha1.Rollout
		spec, ready, stalled metav1.ConditionStatus
		reason, readyReason  string
		applied              string
		message              string
	}{
		{name: "every cluster on the spec", works: []fleetv1alpha1.Work{on("c1", "site-shop-new"), on("c2", "site-shop-new")},
			rollout: rollout(fleetv1alpha1.RolloutPhaseSucceeded, ""),
			spec:    metav1.ConditionTrue, reason: fleetv1alpha1.ReasonSucceeded, ready: metav1.ConditionTrue, readyReason: fleetv1alpha1.ReasonSucceeded,
			stalled: metav1.ConditionFalse, applied: "site-shop-new"},
		{name: "rolling out", works: []fleetv1alpha1.Work{on("c1", "site-shop-new"), on("c2", "site-shop-old")},
			rollout: rollout(fleetv1alpha1.RolloutPhaseWaitingForApproval, ""),
			spec:    metav1.ConditionFalse, reason: fleetv1alpha1.ReasonProgressing, ready: metav1.ConditionFalse, readyReason: fleetv1alpha1.ReasonProgressing,
			stalled: metav1.ConditionFalse, applied: "site-shop-old", message: "1 of 2 clusters applied instance revision site-shop-new"},
		{name: "rolling back", works: []fleetv1alpha1.Work{on("c1", "site-shop-new"), on("c2", "site-shop-old")},
			rollout: rollout(fleetv1alpha1.RolloutPhaseRollingBack, "site-shop-old"),
			spec:    metav1.ConditionFalse, reason: fleetv1alpha1.ReasonRollingBack, ready: metav1.ConditionFalse, readyReason: fleetv1alpha1.ReasonRollingBack,
			stalled: metav1.ConditionFalse, applied: "site-shop-old", message: "is rolling back to instance revision site-shop-old"},
		{name: "rolled back", works: []fleetv1alpha1.Work{on("c1", "site-shop-old"), on("c2", "site-shop-old")},
			rollout: rollout(fleetv1alpha1.RolloutPhaseRolledBack, "site-shop-old"),
			spec:    metav1.ConditionFalse, reason: fleetv1alpha1.ReasonRolledBack, ready: metav1.ConditionFalse, readyReason: fleetv1alpha1.ReasonRolledBack,
			stalled: metav1.ConditionTrue, applied: "site-shop-old",
			message: "Rollout team/site-shop-2 rolled the current spec back; 0 of 2 clusters applied instance revision site-shop-new of the current spec; the fleet runs instance revision site-shop-old: apply that spec and its Overrides again"},
		{name: "aborted half way", works: []fleetv1alpha1.Work{on("c1", "site-shop-new"), on("c2", "site-shop-old")},
			rollout: rollout(fleetv1alpha1.RolloutPhaseAborted, ""),
			spec:    metav1.ConditionFalse, reason: fleetv1alpha1.ReasonRolloutHalted, ready: metav1.ConditionFalse, readyReason: fleetv1alpha1.ReasonRolloutHalted,
			stalled: metav1.ConditionTrue, applied: "site-shop-old", message: "is Aborted"},
		{name: "no Rollout yet", works: []fleetv1alpha1.Work{on("c1", "site-shop-old"), on("c2", "site-shop-old")},
			spec: metav1.ConditionFalse, reason: fleetv1alpha1.ReasonProgressing, ready: metav1.ConditionFalse, readyReason: fleetv1alpha1.ReasonProgressing,
			stalled: metav1.ConditionFalse, applied: "site-shop-old"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := Report{Placement: two, Works: tc.works, InstanceRevision: "site-shop-new", SpecRollout: tc.rollout}
			st := Status(fleetv1alpha1.InstanceStatus{}, 3, o, now)
			check := func(typ string, status metav1.ConditionStatus, reason, message string) {
				t.Helper()
				c := meta.FindStatusCondition(st.Conditions, typ)
				if c == nil || c.Status != status || (reason != "" && c.Reason != reason) || !strings.Contains(c.Message, message) {
					t.Errorf("%s = %+v, want %s %s %q", typ, c, status, reason, message)
				}
			}
			check(fleetv1alpha1.ConditionSpecApplied, tc.spec, tc.reason, tc.message)
			check(fleetv1alpha1.ConditionReady, tc.ready, tc.readyReason, tc.message)
			check(fleetv1alpha1.ConditionStalled, tc.stalled, "", "")
			if st.InstanceRevision != "site-shop-new" || st.AppliedInstanceRevision != tc.applied {
				t.Errorf("instanceRevision %q appliedInstanceRevision %q, want site-shop-new %q", st.InstanceRevision, st.AppliedInstanceRevision, tc.applied)
			}
		})
	}
}

// TestNewStatusMessagesFollowTheCause: a condition whose status and reason
// stay the same still says what is true now. Two refused Overrides in a row
// (the same reason, PatchNotAllowed) once left Ready naming the deleted one,
// and "1 of 3 clusters ready" stayed while more became ready.
func TestStatusMessagesFollowTheCause(t *testing.T) {
	now := time.Date(2031, 1, 2, 3, 4, 5, 0, time.UTC)
	three := placement.Result{Clusters: []string{"c1", "c2", "c3"}}
	o := Report{Placement: three, Works: []fleetv1alpha1.Work{
		testWork("c1", "r1", "healthy"), testWork("c2", "r1", ""), testWork("c3", "r1", "")}}
	st := Status(fleetv1alpha1.InstanceStatus{}, 1, o, now)
	o.Works[1] = testWork("c2", "r1", "healthy")
	st = Status(st, 1, o, now.Add(time.Second))
	if c := meta.FindStatusCondition(st.Conditions, fleetv1alpha1.ConditionReady); c.Reason != fleetv1alpha1.ReasonProgressing || c.Message != "2 of 3 clusters ready" {
		t.Errorf("Ready after a second cluster became ready: %+v", c)
	}

	refused := func(override string) Report {
		return Report{Placement: three, Failed: map[string]error{
			"c1": &render.OverrideError{Override: override, Reason: "the patch sets apiVersion"}}}
	}
	st = Status(fleetv1alpha1.InstanceStatus{}, 1, refused("team/rekind"), now)
	st = Status(st, 1, refused("team/retype"), now.Add(time.Second))
	for _, typ := range []string{fleetv1alpha1.ConditionReady, fleetv1alpha1.ConditionStalled} {
		if c := meta.FindStatusCondition(st.Conditions, typ); !strings.Contains(c.Message, "team/retype") {
			t.Errorf("%s names an Override that no longer applies: %+v", typ, c)
		}
	}
}

func TestStatusNamesTheClustersAFreezeKeeps(t *testing.T) {
	held := make([]string, 12)
	for i := range held {
		held[i] = fmt.Sprintf("c%02d", i)
	}
	st := Status(fleetv1alpha1.InstanceStatus{}, 1, Report{Placement: placement.Result{Clusters: []string{"a"}}, Held: held}, time.Now())
	c := meta.FindStatusCondition(st.Conditions, fleetv1alpha1.ConditionPlaced)
	want := "placed on 1 clusters: a; 12 clusters left the placement but keep their Works while a FleetFreeze is in force: " +
		"c00, c01, c02, c03, c04, c05, c06, c07, c08, c09, …"
	if c == nil || c.Reason != fleetv1alpha1.ReasonPlaced || c.Message != want {
		t.Errorf("Placed = %+v, want message %q", c, want)
	}
}
