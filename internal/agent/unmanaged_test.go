package agent

import (
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// A team that may update its objects on the member annotates one of them
// fleet.flotilla.dev/reconcile: disabled before the platform's change (a
// new image, a patched setting) reaches its cluster. The agent leaves the
// object alone, as the annotation asks; before the fix the Work still read
// the new revision applied and healthy, so the change's Rollout counted
// the cluster on its target while the object kept what it had. Now the
// revision is not applied while an object keeps it off, and is applied
// once the annotation goes.
func TestALiveReconcileDisabledDoesNotApplyANewRevision(t *testing.T) {
	e := newEnv(t)
	const cluster, ns = "unmanaged-rev", "unmanaged-rev-app"
	opts, w := e.startWithSettings(t, cluster, ns)

	e.editConfigMap(t, ns, "settings", func(cm *corev1.ConfigMap) {
		cm.Annotations = map[string]string{fleetv1alpha1.AnnotationReconcile: fleetv1alpha1.ReconcileDisabled}
	})
	e.updateWork(t, w, func(w *fleetv1alpha1.Work) {
		w.Spec.Revision = "rev-2"
		setManifests(w, namespaceObj(ns), configMapObj(ns, "settings", map[string]string{"color": "green"}))
	})
	waitFor(t, 60*time.Second, "rev-2 looked at", func() (bool, string) {
		got, err := e.getWork(t, cluster, "web")
		if err != nil {
			return false, err.Error()
		}
		return got.Status.ObservedGeneration == got.Generation &&
			findResource(got, "ConfigMap", "settings", fleetv1alpha1.ApplyResultSkipped) != nil, describeStatus(got)
	})
	got, err := e.getWork(t, cluster, "web")
	mustf(t, err, "reading work")
	if got.Status.AppliedRevision != "rev-1" || conditionTrue(got.Status.Conditions, fleetv1alpha1.ConditionReady) ||
		conditionTrue(got.Status.Conditions, fleetv1alpha1.ConditionApplied) {
		t.Fatalf("with the object left alone: appliedRevision %q, status %s; want rev-1, not Applied nor Ready",
			got.Status.AppliedRevision, describeStatus(got))
	}
	if c := findCondition(got, fleetv1alpha1.ConditionApplied); c == nil || !strings.Contains(c.Message, "ConfigMap/"+ns+"/settings") {
		t.Errorf("Applied = %+v, want it to name the object left alone", c)
	}

	// What it keeps is reported as drift from the Work.
	waitFor(t, 3*opts.ResyncInterval+30*time.Second, "the kept value reported", func() (bool, string) {
		got, err := e.getWork(t, cluster, "web")
		if err != nil {
			return false, err.Error()
		}
		r := findResource(got, "ConfigMap", "settings", fleetv1alpha1.ApplyResultSkipped)
		return r != nil && r.Drift != nil && slices.Equal(r.Drift.Fields, []string{"data.color"}), describeStatus(got)
	})

	e.editConfigMap(t, ns, "settings", func(cm *corev1.ConfigMap) { delete(cm.Annotations, fleetv1alpha1.AnnotationReconcile) })
	waitFor(t, 3*opts.ResyncInterval+30*time.Second, "rev-2 applied once handed back", func() (bool, string) {
		got, err := e.getWork(t, cluster, "web")
		if err != nil {
			return false, err.Error()
		}
		cm, err := e.memberKube.CoreV1().ConfigMaps(ns).Get(e.ctx, "settings", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return got.Status.AppliedRevision == "rev-2" && conditionTrue(got.Status.Conditions, fleetv1alpha1.ConditionReady) &&
			cm.Data["color"] == "green", describeStatus(got)
	})
}
