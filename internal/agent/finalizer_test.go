package agent

import (
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// A team's render (an Override, a value the templates print) putting a
// finalizer of its own on its object: nobody ever removes it, so the
// object, and what it runs, would stay on the member once the instance or
// the team's tenancy is gone, while prune reported it pruned ("being
// deleted"). The agent refuses such an object of an instance's Work.
func TestAnInstancesObjectCarriesNoFinalizerOfItsOwn(t *testing.T) {
	e := newEnv(t)
	const cluster, ns = "finalizer", "finalizer-team"
	e.createNamespace(t, ns)
	e.startAgent(t, e.join(t, cluster), testOptions(t, cluster))

	kept := configMapObj(ns, "kept", map[string]string{"run": "forever"})
	kept["metadata"].(map[string]any)["finalizers"] = []any{"team.example.com/keep"}
	w := instanceWork(cluster, "app", ns, []fleetv1alpha1.OutputKind{{Kind: "ConfigMap"}}, kept, configMapObj(ns, "plain", nil))
	mustf(t, e.hubClient.Create(e.ctx, w), "creating work")
	got := e.waitWorkResults(t, cluster, w.Name, map[string]fleetv1alpha1.ApplyResult{
		"ConfigMap/kept":  fleetv1alpha1.ApplyResultRefused,
		"ConfigMap/plain": fleetv1alpha1.ApplyResultApplied,
	})
	if r := findResource(got, "ConfigMap", "kept", ""); !strings.Contains(r.Message, "finalizers") {
		t.Errorf("kept: %+v", r)
	}
	mustf(t, e.hubClient.Delete(e.ctx, w), "deleting work")
	waitFor(t, 30*time.Second, "plain pruned", func() (bool, string) {
		_, err := e.memberKube.CoreV1().ConfigMaps(ns).Get(e.ctx, "plain", metav1.GetOptions{})
		return apierrors.IsNotFound(err), errString(err)
	})
	if live, err := e.memberKube.CoreV1().ConfigMaps(ns).Get(e.ctx, "kept", metav1.GetOptions{}); err == nil {
		t.Errorf("kept stays on the member after its Work is deleted (deleting since %v, finalizers %v)", live.DeletionTimestamp, live.Finalizers)
	}
}
