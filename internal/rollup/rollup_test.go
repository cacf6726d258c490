package rollup

import (
	"fmt"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// work builds a Work on cluster at revision (generation 1) with the given status edits.
func work(cluster, revision string, edits ...func(*fleetv1alpha1.Work)) fleetv1alpha1.Work {
	w := fleetv1alpha1.Work{
		ObjectMeta: metav1.ObjectMeta{Namespace: fleetv1alpha1.ClusterNamespace(cluster), Name: "postgres-orders", Generation: 1},
		Spec:       fleetv1alpha1.WorkSpec{Cluster: cluster, Revision: revision},
	}
	for _, e := range edits {
		e(&w)
	}
	return w
}

func observed(w *fleetv1alpha1.Work) { w.Status.ObservedGeneration = w.Generation }

func cond(t string, s metav1.ConditionStatus, reason, msg string) func(*fleetv1alpha1.Work) {
	return func(w *fleetv1alpha1.Work) {
		w.Status.Conditions = append(w.Status.Conditions, metav1.Condition{Type: t, Status: s, Reason: reason, Message: msg})
	}
}

func appliedRev(r string) func(*fleetv1alpha1.Work) {
	return func(w *fleetv1alpha1.Work) { w.Status.AppliedRevision = r }
}

func resource(r fleetv1alpha1.ResourceStatus) func(*fleetv1alpha1.Work) {
	return func(w *fleetv1alpha1.Work) { w.Status.Resources = append(w.Status.Resources, r) }
}

// healthy is what an agent reports once everything is applied and Current.
func healthy(rev string) []func(*fleetv1alpha1.Work) {
	return []func(*fleetv1alpha1.Work){
		observed, appliedRev(rev),
		cond(fleetv1alpha1.ConditionApplied, metav1.ConditionTrue, fleetv1alpha1.ReasonApplied, ""),
		cond(fleetv1alpha1.ConditionReady, metav1.ConditionTrue, fleetv1alpha1.ReasonHealthy, ""),
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		name        string
		work        fleetv1alpha1.Work
		wantState   State
		wantApplied bool
	}{
		{"never reported", work("a", "p-1"), StateProgressing, false},
		{"healthy", work("a", "p-1", healthy("p-1")...), StateHealthy, true},
		{"healthy report on an older generation", work("a", "p-1", append(healthy("p-1"), func(w *fleetv1alpha1.Work) { w.Generation = 2 })...), StateProgressing, false},
		{"applied but still converging", work("a", "p-1", observed, appliedRev("p-1"),
			cond(fleetv1alpha1.ConditionApplied, metav1.ConditionTrue, fleetv1alpha1.ReasonApplied, ""),
			cond(fleetv1alpha1.ConditionReady, metav1.ConditionFalse, fleetv1alpha1.ReasonInProgress, "")), StateProgressing, true},
		{"ready but the applied revision is an older one", work("a", "p-2", healthy("p-1")...), StateProgressing, false},
		{"apply failed", work("a", "p-1", observed,
			cond(fleetv1alpha1.ConditionApplied, metav1.ConditionFalse, fleetv1alpha1.ReasonApplyFailed, "boom")), StateFailed, false},
		{"stalled", work("a", "p-1", observed,
			cond(fleetv1alpha1.ConditionStalled, metav1.ConditionTrue, fleetv1alpha1.ReasonProgressDeadlineExceeded, "stuck")), StateFailed, false},
		{"a resource kstatus judges Failed", work("a", "p-1", append(healthy("p-1"), resource(fleetv1alpha1.ResourceStatus{
			Kind: "Deployment", Name: "web", Result: fleetv1alpha1.ApplyResultApplied, Health: fleetv1alpha1.HealthFailed}))...), StateFailed, true},
		// Even a status that (wrongly) says Applied and Ready fails on a
		// resource the agent refused or left in conflict.
		{"a resource refused", work("a", "p-1", append(healthy("p-1"), resource(fleetv1alpha1.ResourceStatus{
			Kind: "ClusterRoleBinding", Name: "admin", Result: fleetv1alpha1.ApplyResultRefused}))...), StateFailed, true},
		{"a resource in conflict", work("a", "p-1", append(healthy("p-1"), resource(fleetv1alpha1.ResourceStatus{
			Kind: "ConfigMap", Namespace: "team-b", Name: "db-root", Result: fleetv1alpha1.ApplyResultConflict}))...), StateFailed, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			state, applied := Classify(&tt.work)
			if state != tt.wantState || applied != tt.wantApplied {
				t.Errorf("Classify = %s, applied %v; want %s, applied %v", state, applied, tt.wantState, tt.wantApplied)
			}
		})
	}
}

func TestSummarizeWorks(t *testing.T) {
	works := []fleetv1alpha1.Work{
		work("c", "p-2", healthy("p-2")...),
		work("a", "p-2", observed, appliedRev("p-1"),
			cond(fleetv1alpha1.ConditionApplied, metav1.ConditionFalse, fleetv1alpha1.ReasonApplyFailed, "admission webhook denied")),
		work("b", "p-1", healthy("p-1")...),
		work("d", "p-2"),
		work("e", "p-2", append(healthy("p-2"), resource(fleetv1alpha1.ResourceStatus{
			Kind: "Deployment", Namespace: "db", Name: "orders", Result: fleetv1alpha1.ApplyResultApplied,
			Health: fleetv1alpha1.HealthFailed, Message: "Progress deadline exceeded"}))...),
	}
	s := SummarizeWorks(works)

	if want := (Counts{Total: 5, Applied: 3, Healthy: 2, Failed: 2, Progressing: 1}); s.Counts != want {
		t.Errorf("Counts = %+v, want %+v", s.Counts, want)
	}
	if want := (Counts{Total: 4, Applied: 2, Healthy: 1, Failed: 2, Progressing: 1}); s.ByRevision["p-2"] != want {
		t.Errorf("ByRevision[p-2] = %+v, want %+v", s.ByRevision["p-2"], want)
	}
	if want := (Counts{Total: 1, Applied: 1, Healthy: 1}); s.ByRevision["p-1"] != want {
		t.Errorf("ByRevision[p-1] = %+v, want %+v", s.ByRevision["p-1"], want)
	}
	if got := fmt.Sprint(s.AppliedRevisions); got != "map[p-1:2 p-2:2]" {
		t.Errorf("AppliedRevisions = %s", got)
	}
	want := []Failure{
		{Cluster: "a", Namespace: "flotilla-cluster-a", Name: "postgres-orders", Revision: "p-2",
			Reason: fleetv1alpha1.ReasonApplyFailed, Message: "admission webhook denied"},
		{Cluster: "e", Namespace: "flotilla-cluster-e", Name: "postgres-orders", Revision: "p-2",
			Reason: fleetv1alpha1.ReasonUnhealthy, Message: "Deployment db/orders: Progress deadline exceeded"},
	}
	if fmt.Sprint(s.Failures) != fmt.Sprint(want) {
		t.Errorf("Failures =\n%+v\nwant\n%+v", s.Failures, want)
	}

	// Order does not matter.
	reversed := make([]fleetv1alpha1.Work, len(works))
	for i := range works {
		reversed[len(works)-1-i] = works[i]
	}
	if fmt.Sprint(SummarizeWorks(reversed)) != fmt.Sprint(s) {
		t.Error("summary depends on the order of the Works")
	}
}

func TestSummarizeWorksBoundsFailures(t *testing.T) {
	long := strings.Repeat("é", 500)
	var works []fleetv1alpha1.Work
	for i := range 3 * MaxFailures {
		works = append(works, work(fmt.Sprintf("c%03d", i), "p-1", observed,
			cond(fleetv1alpha1.ConditionApplied, metav1.ConditionFalse, fleetv1alpha1.ReasonApplyFailed, long)))
	}
	s := SummarizeWorks(works)
	if s.Failed != 3*MaxFailures || len(s.Failures) != MaxFailures {
		t.Fatalf("Failed = %d, len(Failures) = %d; want %d and %d", s.Failed, len(s.Failures), 3*MaxFailures, MaxFailures)
	}
	if s.Failures[0].Cluster != "c000" || s.Failures[MaxFailures-1].Cluster != "c009" {
		t.Errorf("Failures not the first by cluster: %s … %s", s.Failures[0].Cluster, s.Failures[MaxFailures-1].Cluster)
	}
	m := s.Failures[0].Message
	if len(m) > maxMessage || !strings.HasSuffix(m, "…") || !strings.HasPrefix(m, "éé") {
		t.Errorf("message not truncated cleanly to %d bytes: %d bytes, %q…", maxMessage, len(m), m[:10])
	}
	for _, r := range m {
		if r == '\uFFFD' {
			t.Fatal("truncation split a UTF-8 character")
		}
	}
}

func TestSummarizeNoWorks(t *testing.T) {
	s := SummarizeWorks(nil)
	if s.Total != 0 || len(s.Failures) != 0 || s.ByRevision == nil || s.AppliedRevisions == nil {
		t.Errorf("empty summary = %+v", s)
	}
}

func TestExplainNamesRefusedAndConflictingResources(t *testing.T) {
	for _, result := range []fleetv1alpha1.ApplyResult{fleetv1alpha1.ApplyResultConflict, fleetv1alpha1.ApplyResultRefused} {
		w := work("a", "p-1", observed, resource(fleetv1alpha1.ResourceStatus{
			Kind: "ConfigMap", Namespace: "kube-system", Name: "coredns-custom", Result: result, Message: "left untouched"}))
		f := Explain(&w)
		want := "ConfigMap kube-system/coredns-custom: " + string(result) + ": left untouched"
		if f.Reason != fleetv1alpha1.ReasonApplyFailed || f.Message != want {
			t.Errorf("%s: Explain = %s %q, want %s %q", result, f.Reason, f.Message, fleetv1alpha1.ReasonApplyFailed, want)
		}
	}
}
