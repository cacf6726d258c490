package instance_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/hub"
)

// Team nsr4-pay names an instance eu under ${namespace}-${name} before the
// platform onboards team nsr4-pay-eu: nsr4-pay-eu is no namespace of the hub
// yet, so the Work is written with it in its scope (and its objects there
// on the members). Then team nsr4-pay-eu arrives: the two teams' objects
// must never mix in nsr4-pay-eu (team nsr4-pay's Pods there could mount the
// new team's Secrets), and nothing already running is lost. The earlier
// instance is refused at once and held (its Work as it is: it changes
// nothing more there), and the new team's instances render nothing until
// the earlier one is gone, then land.
func TestANamespaceThatBecomesATeamsIsNotShared(t *testing.T) {
	e := newEnv(t)
	startHub(t, hub.Options{AdmitLatest: true})
	const group, kind = "nsrule4.example.com", "PerNS4"
	e.Cluster("nsr4-1", map[string]string{"story": "nsr4"})
	e.Fleet("nsr4", map[string]string{"story": "nsr4"}, "nsr4-pay", "nsr4-pay-eu")
	e.Namespace("nsr4-pay", nil)
	p := perNamespacePromise("nsr4-db", group, kind, "nsr4")
	e.Create(p)
	e.PromiseReady("nsr4-db")

	eu := instance(group, kind, "nsr4-pay", "eu", map[string]any{"size": "small"})
	e.Create(eu)
	held := e.WaitWork("nsr4-db", "nsr4-pay", "eu", "nsr4-1", func(w *fleetv1alpha1.Work) (bool, string) {
		return w.Spec.Scope != nil && slices.Contains(w.Spec.Scope.Namespaces, "nsr4-pay-eu"), ""
	})

	// The platform onboards team nsr4-pay-eu: the earlier instance is
	// refused at once (no other event brings it back).
	e.Namespace("nsr4-pay-eu", nil)
	e.WaitInstance(group, kind, "nsr4-pay", "eu", "refused", func(s fleetv1alpha1.InstanceStatus) bool {
		c := meta.FindStatusCondition(s.Conditions, fleetv1alpha1.ConditionReady)
		return c != nil && c.Status == metav1.ConditionFalse && strings.Contains(c.Message, "nsr4-pay-eu")
	})
	// Held: a change of its spec changes nothing there.
	e.UpdateInstance(eu, func(u *unstructured.Unstructured) { _ = unstructured.SetNestedField(u.Object, "large", "spec", "size") })

	// The new team's instance renders nothing while nsr4-pay/eu holds its namespace.
	e.Create(instance(group, kind, "nsr4-pay-eu", "orders", map[string]any{"size": "small"}))
	e.WaitInstance(group, kind, "nsr4-pay-eu", "orders", "waiting for its namespace", func(s fleetv1alpha1.InstanceStatus) bool {
		c := meta.FindStatusCondition(s.Conditions, fleetv1alpha1.ConditionReady)
		return c != nil && c.Status == metav1.ConditionFalse && strings.Contains(c.Message, "held on the members by an instance of another namespace")
	})
	time.Sleep(2 * time.Second)
	if w := e.Work("nsr4-db", "nsr4-pay-eu", "orders", "nsr4-1"); w != nil {
		t.Fatalf("team nsr4-pay-eu's instance got a Work (manifests %s) in the namespace team nsr4-pay's Work holds", w.Spec.Manifests[0].Raw)
	}
	if w := e.Work("nsr4-db", "nsr4-pay", "eu", "nsr4-1"); w == nil || w.Generation != held.Generation {
		t.Fatalf("team nsr4-pay's held Work changed or went: %+v", w)
	}

	// Team nsr4-pay deletes its instance: the new team's lands.
	if err := e.C.Delete(e.Ctx, eu); err != nil {
		t.Fatal(err)
	}
	e.WaitWork("nsr4-db", "nsr4-pay-eu", "orders", "nsr4-1", func(w *fleetv1alpha1.Work) (bool, string) {
		return len(w.Spec.Manifests) == 1, ""
	})
}
