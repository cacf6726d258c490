package agent

import (
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/health"
)

var (
	t0   = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	cmA  = objectRef{Version: "v1", Kind: "ConfigMap", Namespace: "ns", Name: "a"}
	depB = objectRef{Group: "apps", Version: "v1", Kind: "Deployment", Namespace: "ns", Name: "b"}
)

func applied(ref objectRef, h fleetv1alpha1.HealthStatus, msg string) resourceResult {
	return resourceResult{ref: ref, result: fleetv1alpha1.ApplyResultApplied, health: health.Result{Status: h, Message: msg}}
}

func pass(gen int64, rev string, resources []resourceResult, pruned ...resourceResult) *passRecord {
	return &passRecord{generation: gen, revision: rev, at: t0, pass: &applyPass{resources: resources, pruned: pruned}}
}

func cond(t *testing.T, st fleetv1alpha1.WorkStatus, typ string) *metav1.Condition {
	t.Helper()
	return meta.FindStatusCondition(st.Conditions, typ)
}

func wantCond(t *testing.T, st fleetv1alpha1.WorkStatus, typ string, status metav1.ConditionStatus, reason, msg string) {
	t.Helper()
	c := cond(t, st, typ)
	switch {
	case status == "" && c != nil:
		t.Errorf("%s present: %+v", typ, c)
	case status == "":
	case c == nil:
		t.Errorf("%s missing", typ)
	case c.Status != status || c.Reason != reason || !strings.Contains(c.Message, msg):
		t.Errorf("%s = %s %s %q; want %s %s containing %q", typ, c.Status, c.Reason, c.Message, status, reason, msg)
	}
}

func TestStatusReadyWhenAppliedAndCurrent(t *testing.T) {
	st := computeStatus(fleetv1alpha1.WorkStatus{}, pass(3, "rev-3", []resourceResult{
		applied(cmA, fleetv1alpha1.HealthCurrent, ""), applied(depB, fleetv1alpha1.HealthCurrent, ""),
	}, resourceResult{ref: cmA, result: fleetv1alpha1.ApplyResultPruned}), t0)
	if st.ObservedGeneration != 3 || st.AppliedRevision != "rev-3" || st.LastAppliedTime == nil || !st.LastAppliedTime.Time.Equal(t0) {
		t.Errorf("status %+v", st)
	}
	if len(st.Resources) != 3 || st.Resources[2].Result != fleetv1alpha1.ApplyResultPruned || st.Resources[1].Group != "apps" {
		t.Errorf("resources %+v", st.Resources)
	}
	wantCond(t, st, fleetv1alpha1.ConditionApplied, metav1.ConditionTrue, fleetv1alpha1.ReasonApplied, "2 resources applied, 1 pruned")
	wantCond(t, st, fleetv1alpha1.ConditionHealthy, metav1.ConditionTrue, fleetv1alpha1.ReasonHealthy, "2/2 current")
	wantCond(t, st, fleetv1alpha1.ConditionReady, metav1.ConditionTrue, fleetv1alpha1.ReasonSucceeded, "rev-3")
	wantCond(t, st, fleetv1alpha1.ConditionReconciling, "", "", "")
	wantCond(t, st, fleetv1alpha1.ConditionStalled, "", "", "")
	for _, c := range st.Conditions {
		if c.ObservedGeneration != 3 {
			t.Errorf("%s observedGeneration %d", c.Type, c.ObservedGeneration)
		}
	}
}

func TestStatusInProgressIsReconciling(t *testing.T) {
	st := computeStatus(fleetv1alpha1.WorkStatus{}, pass(1, "rev-1", []resourceResult{
		applied(cmA, fleetv1alpha1.HealthCurrent, ""), applied(depB, fleetv1alpha1.HealthInProgress, "Available: 0/2"),
	}), t0)
	wantCond(t, st, fleetv1alpha1.ConditionApplied, metav1.ConditionTrue, fleetv1alpha1.ReasonApplied, "")
	wantCond(t, st, fleetv1alpha1.ConditionHealthy, metav1.ConditionFalse, fleetv1alpha1.ReasonInProgress, "Deployment ns/b: 0 of 2 replicas available")
	wantCond(t, st, fleetv1alpha1.ConditionReady, metav1.ConditionFalse, fleetv1alpha1.ReasonInProgress, "1/2 current")
	wantCond(t, st, fleetv1alpha1.ConditionReconciling, metav1.ConditionTrue, fleetv1alpha1.ReasonProgressing, "1 in progress")
	wantCond(t, st, fleetv1alpha1.ConditionStalled, "", "", "")
	if st.AppliedRevision != "rev-1" {
		t.Errorf("appliedRevision %q: applied in full even if not yet healthy", st.AppliedRevision)
	}
	if st.Resources[1].Message != "Available: 0/2" {
		t.Errorf("health message not reported: %+v", st.Resources[1])
	}
}

func TestStatusBadManifestStallsAndKeepsLastAppliedRevision(t *testing.T) {
	prev := fleetv1alpha1.WorkStatus{AppliedRevision: "rev-1", LastAppliedTime: &metav1.Time{Time: t0.Add(-time.Hour)}}
	st := computeStatus(prev, pass(2, "rev-2", []resourceResult{
		applied(cmA, fleetv1alpha1.HealthCurrent, ""),
		{ref: depB, result: fleetv1alpha1.ApplyResultFailed, message: "unknown kind", permanent: true},
	}), t0)
	if st.AppliedRevision != "rev-1" || !st.LastAppliedTime.Time.Equal(t0.Add(-time.Hour)) {
		t.Errorf("appliedRevision %q lastAppliedTime %v: a partial apply changed them", st.AppliedRevision, st.LastAppliedTime)
	}
	wantCond(t, st, fleetv1alpha1.ConditionApplied, metav1.ConditionFalse, fleetv1alpha1.ReasonApplyFailed, "1 of 2 resources failed to apply; first: Deployment.apps/ns/b: unknown kind")
	wantCond(t, st, fleetv1alpha1.ConditionReady, metav1.ConditionFalse, fleetv1alpha1.ReasonApplyFailed, "")
	wantCond(t, st, fleetv1alpha1.ConditionStalled, metav1.ConditionTrue, fleetv1alpha1.ReasonInvalidSpec, "unknown kind")
	wantCond(t, st, fleetv1alpha1.ConditionReconciling, "", "", "")
}

func TestStatusTransientFailureIsReconciling(t *testing.T) {
	st := computeStatus(fleetv1alpha1.WorkStatus{}, pass(1, "rev-1", []resourceResult{
		{ref: cmA, result: fleetv1alpha1.ApplyResultFailed, message: "connection refused"},
	}), t0)
	wantCond(t, st, fleetv1alpha1.ConditionReconciling, metav1.ConditionTrue, fleetv1alpha1.ReasonProgressing, "retrying")
	wantCond(t, st, fleetv1alpha1.ConditionStalled, "", "", "")
}

func TestStatusUnhealthyStalls(t *testing.T) {
	st := computeStatus(fleetv1alpha1.WorkStatus{}, pass(1, "rev-1", []resourceResult{
		applied(depB, fleetv1alpha1.HealthFailed, "Progress deadline exceeded"),
	}), t0)
	wantCond(t, st, fleetv1alpha1.ConditionHealthy, metav1.ConditionFalse, fleetv1alpha1.ReasonUnhealthy, "Progress deadline exceeded")
	wantCond(t, st, fleetv1alpha1.ConditionReady, metav1.ConditionFalse, fleetv1alpha1.ReasonUnhealthy, "")
	wantCond(t, st, fleetv1alpha1.ConditionStalled, metav1.ConditionTrue, fleetv1alpha1.ReasonUnhealthy, "")
}

func TestStatusPruneFailure(t *testing.T) {
	st := computeStatus(fleetv1alpha1.WorkStatus{}, pass(1, "rev-1", []resourceResult{applied(cmA, fleetv1alpha1.HealthCurrent, "")},
		resourceResult{ref: depB, result: fleetv1alpha1.ApplyResultFailed, message: "deleting: timeout"}), t0)
	wantCond(t, st, fleetv1alpha1.ConditionApplied, metav1.ConditionFalse, fleetv1alpha1.ReasonPruneFailed, "deleting: timeout")
	wantCond(t, st, fleetv1alpha1.ConditionReconciling, metav1.ConditionTrue, fleetv1alpha1.ReasonProgressing, "")
}

// The same pass judged twice gives an equal status (nothing to write), and a
// condition keeps its transition time while its status holds.
func TestStatusIsStable(t *testing.T) {
	p := pass(1, "rev-1", []resourceResult{applied(cmA, fleetv1alpha1.HealthCurrent, "")})
	first := computeStatus(fleetv1alpha1.WorkStatus{}, p, t0)
	second := computeStatus(first, p, t0.Add(time.Minute))
	if !equality.Semantic.DeepEqual(first, second) {
		t.Errorf("status changed without a change:\n%+v\n%+v", first, second)
	}
	p.pass.resources[0].health.Status = fleetv1alpha1.HealthInProgress
	third := computeStatus(second, p, t0.Add(2*time.Minute))
	if c := cond(t, third, fleetv1alpha1.ConditionReady); !c.LastTransitionTime.Time.Equal(t0.Add(2 * time.Minute)) {
		t.Errorf("Ready transition time %v", c.LastTransitionTime)
	}
	if c := cond(t, third, fleetv1alpha1.ConditionApplied); !c.LastTransitionTime.Time.Equal(t0) {
		t.Errorf("Applied transition time %v moved without a transition", c.LastTransitionTime)
	}
}

func TestStatusKeepsOthersConditionsAndBounds(t *testing.T) {
	prev := fleetv1alpha1.WorkStatus{Conditions: []metav1.Condition{{Type: fleetv1alpha1.ConditionDrifted, Status: metav1.ConditionFalse, Reason: "NoDrift"}}}
	long := strings.Repeat("é", 2000)
	st := computeStatus(prev, pass(1, "rev", []resourceResult{{ref: cmA, result: fleetv1alpha1.ApplyResultFailed, message: long}}), t0)
	if cond(t, st, fleetv1alpha1.ConditionDrifted) == nil {
		t.Error("a condition the agent does not own was dropped")
	}
	if n := len(st.Resources[0].Message); n > maxMessageLength {
		t.Errorf("message of %d bytes", n)
	}
	if !strings.HasSuffix(st.Resources[0].Message, "...") {
		t.Errorf("truncated message not marked")
	}
}

func TestDeletingStatus(t *testing.T) {
	st := deletingStatus(fleetv1alpha1.WorkStatus{}, 4, []resourceResult{
		{ref: cmA, result: fleetv1alpha1.ApplyResultPruned},
		{ref: depB, result: fleetv1alpha1.ApplyResultFailed, message: "timeout"},
	}, t0)
	if st.ObservedGeneration != 4 || len(st.Resources) != 2 {
		t.Errorf("status %+v", st)
	}
	wantCond(t, st, fleetv1alpha1.ConditionReady, metav1.ConditionFalse, fleetv1alpha1.ReasonPruneFailed, "1 objects could not be pruned")
}

func TestSettled(t *testing.T) {
	tests := []struct {
		name string
		pass applyPass
		want bool
	}{
		{"all current", applyPass{resources: []resourceResult{applied(cmA, fleetv1alpha1.HealthCurrent, "")}}, true},
		{"in progress", applyPass{resources: []resourceResult{applied(cmA, fleetv1alpha1.HealthInProgress, "")}}, false},
		{"unknown", applyPass{resources: []resourceResult{applied(cmA, fleetv1alpha1.HealthUnknown, "")}}, false},
		{"failed health waits for a change", applyPass{resources: []resourceResult{applied(cmA, fleetv1alpha1.HealthFailed, "")}}, true},
		{"permanent failure", applyPass{resources: []resourceResult{{result: fleetv1alpha1.ApplyResultFailed, permanent: true}}}, true},
		{"transient failure", applyPass{resources: []resourceResult{{result: fleetv1alpha1.ApplyResultFailed}}}, false},
		{"prune failure", applyPass{pruned: []resourceResult{{result: fleetv1alpha1.ApplyResultFailed}}}, false},
		{"not synced yet (report-only)", applyPass{resources: []resourceResult{
			{result: fleetv1alpha1.ApplyResultNotSynced, health: health.Result{Status: fleetv1alpha1.HealthInProgress}}}}, false},
	}
	for _, tt := range tests {
		if got := settled(&tt.pass); got != tt.want {
			t.Errorf("%s: settled = %v", tt.name, got)
		}
	}
}

func TestRecheckAfter(t *testing.T) {
	low, high := func() float64 { return 0 }, func() float64 { return 0.999999 }
	tests := []struct {
		settled bool
		attempt int
		rnd     func() float64
		min     time.Duration
		max     time.Duration
	}{
		{false, 0, low, time.Second, time.Second},
		{false, 0, high, time.Second, 1250 * time.Millisecond},
		{false, 3, low, 8 * time.Second, 8 * time.Second},
		{false, 10, low, 30 * time.Second, 30 * time.Second},
		{false, 100, high, 30 * time.Second, 37500 * time.Millisecond},
		{true, 5, low, 270 * time.Second, 270 * time.Second},
		{true, 0, high, 329 * time.Second, 330 * time.Second},
	}
	for _, tt := range tests {
		got := recheckAfter(tt.settled, tt.attempt, 5*time.Minute, tt.rnd)
		if got < tt.min || got > tt.max {
			t.Errorf("recheckAfter(%v, %d) = %s, want in [%s, %s]", tt.settled, tt.attempt, got, tt.min, tt.max)
		}
	}
}

func TestJitterRateLimiter(t *testing.T) {
	r := newJitterRateLimiter(time.Second, 8*time.Second)
	r.rand = func() float64 { return 0 }
	var got []time.Duration
	for range 5 {
		got = append(got, r.When("w"))
	}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 8 * time.Second}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("When #%d = %s, want %s", i, got[i], want[i])
		}
	}
	if r.NumRequeues("w") != 5 {
		t.Errorf("NumRequeues = %d", r.NumRequeues("w"))
	}
	r.Forget("w")
	if r.When("w") != time.Second {
		t.Error("Forget did not reset the backoff")
	}
	r.rand = func() float64 { return 0.999 }
	if d := r.When("x"); d <= time.Second || d >= 1500*time.Millisecond {
		t.Errorf("jittered first delay %s", d)
	}
}

func TestStatusRefusedAndConflictingResourcesFailTheApply(t *testing.T) {
	a := &applier{metrics: newMetrics(nil)}
	crb := objectRef{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "ClusterRoleBinding", Name: "pwn"}
	st := computeStatus(fleetv1alpha1.WorkStatus{}, pass(2, "rev-2", []resourceResult{
		applied(depB, fleetv1alpha1.HealthCurrent, ""),
		a.refused(crb, "outside the Work's scope: kind ClusterRoleBinding.rbac.authorization.k8s.io is not in the Promise's output.kinds (ConfigMap)"),
		a.conflict(cmA, "owned by Work team-b-db; left untouched"),
	}), t0)
	if st.AppliedRevision != "" {
		t.Errorf("appliedRevision %q: the revision is not applied in full", st.AppliedRevision)
	}
	wantCond(t, st, fleetv1alpha1.ConditionApplied, metav1.ConditionFalse, fleetv1alpha1.ReasonApplyFailed,
		"2 of 3 resources failed to apply (1 refused: outside the Work's scope; 1 in conflict: existing objects this Work did not create); "+
			"first: ClusterRoleBinding.rbac.authorization.k8s.io/pwn: Refused: outside the Work's scope: kind ClusterRoleBinding")
	wantCond(t, st, fleetv1alpha1.ConditionReady, metav1.ConditionFalse, fleetv1alpha1.ReasonApplyFailed, "Refused")
	wantCond(t, st, fleetv1alpha1.ConditionStalled, metav1.ConditionTrue, fleetv1alpha1.ReasonInvalidSpec, "1 in conflict")
	wantCond(t, st, fleetv1alpha1.ConditionReconciling, "", "", "")
	if r := st.Resources[2]; r.Result != fleetv1alpha1.ApplyResultConflict || r.Health != fleetv1alpha1.HealthFailed || r.Message != "owned by Work team-b-db; left untouched" {
		t.Errorf("conflict resource %+v", r)
	}
	if r := st.Resources[1]; r.Result != fleetv1alpha1.ApplyResultRefused || r.Health != fleetv1alpha1.HealthFailed {
		t.Errorf("refused resource %+v", r)
	}
	if !settled(&applyPass{resources: []resourceResult{a.refused(crb, "x"), a.conflict(cmA, "y")}}) {
		t.Error("refusals and conflicts are retried quickly: only a change (or the resync) can settle them")
	}
}
