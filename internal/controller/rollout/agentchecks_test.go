package rollout

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// An agent-placed check's state is the agents' report on the target: per
// check the worst of the cluster's Works, and nothing measured on another
// revision, nor for another Rollout (an instance's own, with a check of the
// same name), nor by an agent that names no Rollout.
func TestAgentChecks(t *testing.T) {
	report := func(w *fleetv1alpha1.Work, name, rev string, run, failures int32) *fleetv1alpha1.Work {
		w.Status.Checks = append(w.Status.Checks, fleetv1alpha1.WorkCheckStatus{Rollout: "web-2", Name: name, Run: run, Revision: rev,
			CheckState: fleetv1alpha1.CheckState{Since: metav1.NewTime(t0), Measurements: 2, Failures: failures}})
		return w
	}
	rev := func(w *fleetv1alpha1.Work) (string, string) { return w.Spec.Revision, w.Status.AppliedRevision }
	a := report(work("a", "web-r2", t0, metav1.ConditionTrue, "", t0), "smoke", "web-r2", 1, 0)
	b := report(work("b", "web-r2", t0, metav1.ConditionTrue, "", t0), "smoke", "web-r2", 1, 1)
	stale := report(work("c", "web-r2", t0, metav1.ConditionTrue, "", t0), "http", "web-r1", 1, 5)
	old := report(work("d", "web-r1", t0, metav1.ConditionTrue, "", t0), "job", "web-r1", 1, 5)

	other := report(work("e", "web-r2", t0, metav1.ConditionTrue, "", t0), "smoke", "web-r2", 1, 7)
	other.Status.Checks[0].Rollout = "web-shop-3"
	legacy := report(work("f", "web-r2", t0, metav1.ConditionTrue, "", t0), "smoke", "web-r2", 1, 9)
	legacy.Status.Checks[0].Rollout = ""

	got := agentChecks([]*fleetv1alpha1.Work{a, b, stale, old, other, legacy}, "web-2", "web-r2", rev)
	if len(got) != 1 || got[0].Name != "smoke" || got[0].State.Failures != 1 || got[0].Run != 1 || !got[0].State.Since.Equal(t0) {
		t.Fatalf("agentChecks: %+v", got)
	}
}
