package promise_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	pt "github.com/flotilla-dev/flotilla/internal/controller/promise/promisetest"
)

// Team hold-team may update its instances, finalizers included, and puts
// one of its own on its instance. The platform force-deletes the Promise:
// the Works go, the instance stays (its finalizer holds it), and with it
// the Promise's CRD and the Promise. The Promise must say so, naming the
// instance and the finalizer, not read Ready while it waits for ever, nor
// record a ForceDeleting Event at every look.
func TestAForceDeletionHeldByATeamsFinalizerSaysSo(t *testing.T) {
	e := newEnv(t)
	startHub(t)
	const group, kind, name = "hold.example.com", "HoldDb", "hold-db"
	e.Cluster("hold-c1", map[string]string{"story": "hold"})
	e.Fleet("hold", map[string]string{"story": "hold"}, "hold-team")
	e.Namespace("hold-team", nil)
	e.Create(pt.ConfigMapPromise(name, group, kind, "hold"))
	e.PromiseReady(name)
	inst := pt.Instance(group, kind, "hold-team", "orders", map[string]any{"size": "small"})
	e.Create(inst)
	e.WaitWork(name, "hold-team", "orders", "hold-c1", func(*fleetv1alpha1.Work) (bool, string) { return true, "" })
	const hold = "hold.example.com/keep"
	e.UpdateInstance(inst, func(u *unstructured.Unstructured) { u.SetFinalizers(append(u.GetFinalizers(), hold)) })

	p := getPromise(e, name)
	p.Annotations = map[string]string{fleetv1alpha1.AnnotationForceDelete: fleetv1alpha1.ForceDeleteValue}
	if err := e.C.Update(e.Ctx, p); err != nil {
		t.Fatal(err)
	}
	if err := e.C.Delete(e.Ctx, p); err != nil {
		t.Fatal(err)
	}
	pt.Eventually(t, time.Minute, "the Work deleted", func() (bool, string) {
		return e.Work(name, "hold-team", "orders", "hold-c1") == nil, "still there"
	})
	pt.Eventually(t, time.Minute, "the Promise naming what holds it", func() (bool, string) {
		p := getPromise(e, name)
		c := meta.FindStatusCondition(p.Status.Conditions, fleetv1alpha1.ConditionReady)
		return c != nil && c.Status == metav1.ConditionFalse && c.Reason == fleetv1alpha1.ReasonInstancesPresent &&
			strings.Contains(c.Message, "held by finalizers"), fmt.Sprintf("%+v", c)
	})
	platformEvent(t, e, name, "hold-team/orders ("+hold+")")
	time.Sleep(3 * time.Second)
	events := &eventsv1.EventList{}
	if err := e.C.List(e.Ctx, events); err != nil {
		t.Fatal(err)
	}
	forced := 0
	for _, ev := range events.Items {
		if ev.Regarding.Name == name && ev.Reason == fleetv1alpha1.ReasonForceDeleting {
			forced++
			if ev.Series != nil {
				forced += int(ev.Series.Count) - 1
			}
		}
	}
	if forced > 1 {
		t.Errorf("%d ForceDeleting Events while the deletion waits, want 1", forced)
	}

	// The team's finalizer goes: so do the instance, the API and the Promise.
	if err := e.C.Patch(e.Ctx, inst, client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`))); err != nil {
		t.Fatal(err)
	}
	pt.Eventually(t, time.Minute, "the Promise deleted", func() (bool, string) {
		err := e.C.Get(e.Ctx, client.ObjectKey{Name: name}, &fleetv1alpha1.Promise{})
		return apierrors.IsNotFound(err), fmt.Sprint(err)
	})
}
