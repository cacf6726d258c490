package instance_test

import (
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	instancectl "github.com/flotilla-dev/flotilla/internal/controller/instance"
	"github.com/flotilla-dev/flotilla/internal/hub"
	"github.com/flotilla-dev/flotilla/internal/hub/hubtest"
)

// The attack: another team's Work already holds the name of a team's
// instance Work on one cluster (names collide, or a hand-made Work squats
// it). Before, the hub retried the create for ever as "the cache is
// behind", stopped writing the instance's other Works after that failure,
// and the instance's status said nothing. Now the other Work is left as it
// is, the instance lands on every other cluster, says which cluster failed
// and why (Stalled, WorkNameTaken), and lands there once the name is free.
func TestAWorkNameHeldByAnotherSubjectFailsThatClusterOnly(t *testing.T) {
	e := newEnv(t)
	stop := startHub(t, hub.Options{AdmitLatest: true})
	const group, kind = "nametaken.example.com", "Squatted"
	for _, c := range []string{"nt-1", "nt-2", "nt-3"} {
		e.Cluster(c, map[string]string{"story": "nametaken"})
	}
	e.Fleet("nt", map[string]string{"story": "nametaken"}, "nt-a", "nt-b")
	e.Namespace("nt-a", nil)
	e.Namespace("nt-b", nil)
	e.Create(configMapPromise("nt-db", group, kind, "nt"))
	e.PromiseReady("nt-db")

	// The squatter: a hub-labelled Work of team nt-b's instance, under the
	// name team nt-a's instance "orders" will need on nt-2.
	squat := &fleetv1alpha1.Work{
		ObjectMeta: metav1.ObjectMeta{
			Name:      fleetv1alpha1.WorkName("nt-db", "nt-a", "orders"),
			Namespace: fleetv1alpha1.ClusterNamespace("nt-2"),
			Labels:    map[string]string{fleetv1alpha1.LabelManagedBy: fleetv1alpha1.ManagedByValue},
		},
		Spec: fleetv1alpha1.WorkSpec{
			Cluster:  "nt-2",
			Revision: "squatted",
			Subject:  fleetv1alpha1.WorkSubject{Promise: "nt-db", Instance: &fleetv1alpha1.InstanceReference{Namespace: "nt-b", Name: "squat"}},
			Scope:    &fleetv1alpha1.WorkScope{Namespaces: []string{"nt-b"}, Kinds: []fleetv1alpha1.OutputKind{{Kind: "ConfigMap"}}},
		},
	}
	e.Create(squat)

	e.Create(instance(group, kind, "nt-a", "orders", map[string]any{"size": "small"}))
	for _, c := range []string{"nt-1", "nt-3"} {
		e.WaitWork("nt-db", "nt-a", "orders", c, func(w *fleetv1alpha1.Work) (bool, string) { return true, "" })
	}
	st := e.WaitInstance(group, kind, "nt-a", "orders", "the taken name reported", func(s fleetv1alpha1.InstanceStatus) bool {
		return conditionReason(s.Conditions, fleetv1alpha1.ConditionReady) == fleetv1alpha1.ReasonWorkNameTaken
	})
	stalled := meta.FindStatusCondition(st.Conditions, fleetv1alpha1.ConditionStalled)
	if stalled == nil || stalled.Status != metav1.ConditionTrue || stalled.Reason != fleetv1alpha1.ReasonWorkNameTaken ||
		!strings.Contains(stalled.Message, "the Work could not be created on cluster nt-2") {
		t.Errorf("Stalled %+v", stalled)
	}
	held := &fleetv1alpha1.Work{}
	if err := e.C.Get(e.Ctx, client.ObjectKeyFromObject(squat), held); err != nil {
		t.Fatal(err)
	}
	if held.Spec.Revision != "squatted" || held.Spec.Subject.Instance.Name != "squat" || len(held.Spec.Manifests) != 0 {
		t.Errorf("the other Work was written over: %+v", held.Spec)
	}

	// Nothing announces that the name is freed (the squatter's Work is not
	// the instance's), so the hub looks again a minute later: a reconcile
	// of its own, the hub stopped, asks for it.
	stop()
	mgr := hubtest.StartManager(t, e.Ctx, hubCP.RESTConfig)
	r := &instancectl.Reconciler{Client: mgr.GetClient(), Cache: mgr.GetCache(), APIReader: mgr.GetAPIReader(),
		Recorder: events.NewFakeRecorder(100), Clock: clock.RealClock{}, AdmitLatest: true}
	key := instancectl.Key{Promise: "nt-db", Namespace: "nt-a", Name: "orders"}
	res, err := reconcileAfterTheHub(e.Ctx, r, key)
	if err != nil || res.RequeueAfter <= 0 || res.RequeueAfter > time.Minute {
		t.Errorf("a reconcile with nt-2's name taken: %+v, %v; want another look within a minute", res, err)
	}

	// The name is freed: the next look (a minute later, or the instance's
	// next event, here a label) lands it.
	startHub(t, hub.Options{AdmitLatest: true})
	if err := e.C.Delete(e.Ctx, held); err != nil {
		t.Fatal(err)
	}
	e.UpdateInstance(instance(group, kind, "nt-a", "orders", nil), func(u *unstructured.Unstructured) {
		u.SetLabels(map[string]string{"poke": "1"})
	})
	w := e.WaitWork("nt-db", "nt-a", "orders", "nt-2", func(w *fleetv1alpha1.Work) (bool, string) {
		return w.Spec.Subject.Instance != nil && w.Spec.Subject.Instance.Name == "orders", w.Spec.Revision
	})
	if len(w.Spec.Manifests) != 1 {
		t.Errorf("the landed Work has %d manifests", len(w.Spec.Manifests))
	}
	e.WaitInstance(group, kind, "nt-a", "orders", "no longer stalled", func(s fleetv1alpha1.InstanceStatus) bool {
		return conditionIs(s.Conditions, fleetv1alpha1.ConditionStalled, metav1.ConditionFalse)
	})
}
