package agent

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// statefulSetObj is StatefulSet "db" in ns, updated only when its Pods are
// deleted (updateStrategy OnDelete), running image.
func statefulSetObj(ns, image string) map[string]any {
	labels := map[string]any{"app": "db"}
	return map[string]any{
		"apiVersion": "apps/v1", "kind": "StatefulSet",
		"metadata": map[string]any{"name": "db", "namespace": ns},
		"spec": map[string]any{
			"replicas":       2,
			"serviceName":    "db",
			"updateStrategy": map[string]any{"type": "OnDelete"},
			"selector":       map[string]any{"matchLabels": labels},
			"template": map[string]any{
				"metadata": map[string]any{"labels": labels},
				"spec": map[string]any{"containers": []any{
					map[string]any{"name": "db", "image": image},
				}},
			},
		},
	}
}

// A team sets its StatefulSet's updateStrategy to OnDelete (its values, an
// Override, or by hand on the member) so that the platform's change, a new
// image, reaches no Pod. kstatus reads such a StatefulSet Current at once:
// before the fix the Work read the new revision Ready while both Pods ran
// the earlier image, and a Rollout counted the cluster healthy on it. Now it
// is InProgress until every Pod runs the new revision, and Ready once the
// old Pods are deleted.
func TestAnOnDeleteStatefulSetIsNotReadyOnARevisionItsPodsDoNotRun(t *testing.T) {
	e := newEnv(t)
	const cluster, ns = "ondelete", "ondelete-app"
	e.startAgent(t, e.join(t, cluster), testOptions(t, cluster))
	w := work(cluster, "db", namespaceObj(ns), statefulSetObj(ns, "registry.example/db:1"))
	mustf(t, e.hubClient.Create(e.ctx, w), "creating work")
	e.waitWorkReady(t, cluster, "db", 90*time.Second)

	e.updateWork(t, w, func(w *fleetv1alpha1.Work) {
		w.Spec.Revision = "rev-2"
		setManifests(w, namespaceObj(ns), statefulSetObj(ns, "registry.example/db:2"))
	})
	waitFor(t, 60*time.Second, "rev-2 applied, held back by OnDelete", func() (bool, string) {
		got, err := e.getWork(t, cluster, "db")
		if err != nil {
			return false, err.Error()
		}
		r := findResource(got, "StatefulSet", "db", fleetv1alpha1.ApplyResultApplied)
		return got.Status.ObservedGeneration == got.Generation && got.Status.AppliedRevision == "rev-2" &&
			r != nil && strings.Contains(r.Message, "0 of 2 Pods on the new revision"), describeStatus(got)
	})
	// Give the agent its re-checks: the verdict holds while the Pods are old.
	time.Sleep(3 * time.Second)
	got, err := e.getWork(t, cluster, "db")
	mustf(t, err, "reading work")
	r := findResource(got, "StatefulSet", "db", fleetv1alpha1.ApplyResultApplied)
	if conditionTrue(got.Status.Conditions, fleetv1alpha1.ConditionReady) || r == nil || r.Health != fleetv1alpha1.HealthInProgress {
		t.Fatalf("with every Pod on the earlier revision: %s; want the StatefulSet InProgress and the Work not Ready", describeStatus(got))
	}

	// Deleting the old Pods completes the update.
	mustf(t, e.memberKube.CoreV1().Pods(ns).DeleteCollection(e.ctx, metav1.DeleteOptions{},
		metav1.ListOptions{LabelSelector: "app=db"}), "deleting the old Pods")
	e.waitWorkReady(t, cluster, "db", 90*time.Second)
}
