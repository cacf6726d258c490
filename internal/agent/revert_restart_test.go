package agent

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// A revision that failed half-way is rolled back while the agent is down:
// the restarted agent must apply the earlier spec again, whatever the drift
// policy, since the member holds what the failed revision's pass applied.
// Under Report the agent took the earlier spec for the one "already
// applied" (its record's last spec applied in full), judged instead of
// applying, reported the failed revision's values as drift and the Work
// Applied and Ready on the earlier revision: the rollback counted the
// cluster back on it while it ran the failed change.
func TestARevertWhileTheAgentIsDownIsApplied(t *testing.T) {
	e := newEnv(t)
	const cluster, ns = "revert-restart", "revert-restart-app"
	hubCreds := e.join(t, cluster)
	opts := testOptions(t, cluster)
	first := e.startAgent(t, hubCreds, opts)

	w := work(cluster, "web", namespaceObj(ns), configMapObj(ns, "settings", map[string]string{"color": "blue"}))
	w.Spec.DriftPolicy = fleetv1alpha1.DriftPolicyReport
	mustf(t, e.hubClient.Create(e.ctx, w), "creating work")
	e.waitWorkReady(t, cluster, "web", 60*time.Second)
	good := w.Spec.DeepCopy()

	// rev-2 changes the ConfigMap and carries an object the member cannot
	// take: the ConfigMap is applied, the pass is not complete.
	widget := map[string]any{"apiVersion": "example.com/v1", "kind": "Widget", "metadata": map[string]any{"name": "w", "namespace": ns}}
	e.updateWork(t, w, func(w *fleetv1alpha1.Work) {
		w.Spec.Revision = "rev-2"
		setManifests(w, namespaceObj(ns), configMapObj(ns, "settings", map[string]string{"color": "green"}), widget)
	})
	color := func() string {
		cm, err := e.memberKube.CoreV1().ConfigMaps(ns).Get(e.ctx, "settings", metav1.GetOptions{})
		mustf(t, err, "reading configmap")
		return cm.Data["color"]
	}
	waitFor(t, 60*time.Second, "rev-2's ConfigMap applied, its pass failed", func() (bool, string) {
		got, err := e.getWork(t, cluster, "web")
		if err != nil {
			return false, err.Error()
		}
		return color() == "green" && got.Status.ObservedGeneration == got.Generation &&
			!conditionTrue(got.Status.Conditions, fleetv1alpha1.ConditionApplied) && len(got.Status.Conditions) > 0, describeStatus(got)
	})
	first.stop(t)

	// The rollback, while the agent is down: the Work is rev-1 again.
	e.updateWork(t, w, func(w *fleetv1alpha1.Work) { w.Spec = *good.DeepCopy() })
	e.startAgent(t, hubCreds, opts)
	got := e.waitWorkReady(t, cluster, "web", 60*time.Second)
	if got.Status.AppliedRevision != "rev-1" {
		t.Errorf("appliedRevision %q, want rev-1", got.Status.AppliedRevision)
	}
	waitFor(t, 30*time.Second, "rev-1's ConfigMap applied again", func() (bool, string) {
		c := color()
		got, _ := e.getWork(t, cluster, "web")
		return c == "blue", "color " + c + "; " + describeStatus(got)
	})
}

// After a restart, a spec counts as in sync (a re-apply of it corrects
// drift; under Report it is only judged) only if it is the record's: a
// record whose spec is another (begun, not applied in full) says the member
// may hold what the agent itself wrote of that one.
func TestInSyncAfterARestartNeedsTheRecordsSpec(t *testing.T) {
	a := work("c", "web", configMapObj("ns", "settings", map[string]string{"color": "blue"}))
	b := a.DeepCopy()
	b.Spec.Revision = "rev-2"
	setManifests(b, configMapObj("ns", "settings", map[string]string{"color": "green"}))
	ref := objectRef{Version: "v1", Kind: "ConfigMap", Namespace: "ns", Name: "settings"}

	applied := &workState{record: &workRecord{Work: stripForRecord(a), AppliedHash: specHash(a)}, restoredHash: specHash(a)}
	if f := inSync(applied, specHash(a)); f == nil || !f(ref) {
		t.Error("the spec the record holds and applied in full is not in sync after a restart")
	}
	// The record held rev-2 at the restart; the hub's rev-1 is saved over
	// it before it is applied (act's SaveRecord), so the record's Work no
	// longer tells.
	begun := &workState{record: &workRecord{Work: stripForRecord(a), AppliedHash: specHash(a)}, restoredHash: specHash(b)}
	if f := inSync(begun, specHash(a)); f != nil && f(ref) {
		t.Error("rev-1 counts as in sync after a restart, though the agent had begun applying rev-2 over it")
	}
}
