package instance_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/controller/promise/promisetest"
	"github.com/flotilla-dev/flotilla/internal/hub"
)

// The platform installs an operator with a Promise's fleet resources in
// namespace nsr3-team-ops on every member (a namespace only the members
// have, as fleet resources' namespaces are). Another Promise gives each
// instance a namespace with the rule ${namespace}-${name}. Team nsr3-team
// names an instance ops: its rule gives nsr3-team-ops, the namespace where
// the platform's operator and its ServiceAccount run, which the hub knows
// from the fleet resources' Works. The team's objects must not land there
// (a team Override may set a Pod template's serviceAccountName).
func TestANamespaceRuleCannotGiveAFleetResourcesNamespace(t *testing.T) {
	e := newEnv(t)
	startHub(t, hub.Options{AdmitLatest: true})
	const group, kind = "nsrule3.example.com", "PerNS3"
	e.Cluster("nsr3-1", map[string]string{"story": "nsr3"})
	e.Fleet("nsr3", map[string]string{"story": "nsr3"}, "nsr3-team")
	e.Namespace("nsr3-team", nil)

	op := configMapPromise("nsr3-op", "nsrule3op.example.com", "Op3", "nsr3")
	op.Spec.FleetResources = []fleetv1alpha1.Manifest{
		{RawExtension: promisetest.Raw(map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": "nsr3-team-ops"}})},
		{RawExtension: promisetest.Raw(map[string]any{"apiVersion": "v1", "kind": "ServiceAccount",
			"metadata": map[string]any{"name": "operator", "namespace": "nsr3-team-ops"}})},
	}
	e.Create(op)
	e.PromiseReady("nsr3-op")
	e.WaitWork("nsr3-op", "", "", "nsr3-1", func(w *fleetv1alpha1.Work) (bool, string) {
		return len(w.Spec.Manifests) == 2, ""
	})

	p := perNamespacePromise("nsr3-db", group, kind, "nsr3")
	e.Create(p)
	e.PromiseReady("nsr3-db")

	e.Create(instance(group, kind, "nsr3-team", "ops", map[string]any{"size": "small"}))
	var refused bool
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) && !refused {
		if w := e.Work("nsr3-db", "nsr3-team", "ops", "nsr3-1"); w != nil {
			t.Fatalf("instance nsr3-team/ops got a Work with scope %+v and manifests %s: its objects land in nsr3-team-ops, "+
				"the namespace of the platform's fleet resources", w.Spec.Scope, w.Spec.Manifests[0].Raw)
		}
		st := e.InstanceStatus(group, kind, "nsr3-team", "ops")
		c := meta.FindStatusCondition(st.Conditions, fleetv1alpha1.ConditionReady)
		refused = c != nil && c.Status == metav1.ConditionFalse && strings.Contains(c.Message, "nsr3-team-ops")
		time.Sleep(time.Second)
	}
	if !refused {
		t.Errorf("instance nsr3-team/ops was not refused")
	}

	// An instance that had its namespace first: the platform's fleet
	// resources come to use it afterwards. The instance is refused at once
	// and held: its Work stays as it is (nothing running is lost), and it
	// changes nothing more there.
	e.Create(instance(group, kind, "nsr3-team", "late", map[string]any{"size": "small"}))
	held := e.WaitWork("nsr3-db", "nsr3-team", "late", "nsr3-1", func(w *fleetv1alpha1.Work) (bool, string) {
		return w.Spec.Scope != nil && slices.Contains(w.Spec.Scope.Namespaces, "nsr3-team-late"), ""
	})
	cur := &fleetv1alpha1.Promise{}
	if err := e.C.Get(e.Ctx, client.ObjectKey{Name: "nsr3-op"}, cur); err != nil {
		t.Fatal(err)
	}
	cur.Spec.FleetResources = append(cur.Spec.FleetResources, fleetv1alpha1.Manifest{RawExtension: promisetest.Raw(map[string]any{
		"apiVersion": "v1", "kind": "ServiceAccount", "metadata": map[string]any{"name": "operator", "namespace": "nsr3-team-late"}})})
	if err := e.C.Update(e.Ctx, cur); err != nil {
		t.Fatal(err)
	}
	e.WaitInstance(group, kind, "nsr3-team", "late", "refused", func(s fleetv1alpha1.InstanceStatus) bool {
		c := meta.FindStatusCondition(s.Conditions, fleetv1alpha1.ConditionReady)
		return c != nil && c.Status == metav1.ConditionFalse && strings.Contains(c.Message, "nsr3-team-late")
	})
	if w := e.Work("nsr3-db", "nsr3-team", "late", "nsr3-1"); w == nil || w.Generation != held.Generation {
		t.Errorf("the refused instance's Work changed or went: %+v", w)
	}
}
