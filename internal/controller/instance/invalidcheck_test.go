package instance_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	instancectl "github.com/flotilla-dev/flotilla/internal/controller/instance"
	"github.com/flotilla-dev/flotilla/internal/controller/promise/promisetest"
	"github.com/flotilla-dev/flotilla/internal/hub"
	"github.com/flotilla-dev/flotilla/internal/hub/hubtest"
)

// A check whose query cannot be rendered for a cluster (a label it lacks)
// is reported as an InvalidCheck Event once per cause, not on every
// reconcile: each Event is an API write, and an instance is reconciled on
// every change of its Rollout, Works and cluster.
func TestInvalidCheckIsReportedOnce(t *testing.T) {
	e := newEnv(t)
	stop := startHub(t, hub.Options{NoRolloutController: true})
	const group, kind = "invchk.example.com", "InvChkDb"
	e.Cluster("invchk-1", map[string]string{"story": "invchk"}) // no region label
	e.Fleet("invchk", map[string]string{"story": "invchk"}, "invchk-team")
	e.Namespace("invchk-team", nil)
	p := configMapPromise("invchk-db", group, kind, "invchk")
	p.Spec.Checks = []fleetv1alpha1.Check{{Name: "errors", Condition: "result[0] < 0.05", Metric: &fleetv1alpha1.MetricCheck{
		Placement: fleetv1alpha1.CheckOnAgent, Address: "http://127.0.0.1:1",
		Query: `errors{region={{ quote .Labels.region }}}`}}}
	e.Create(p)
	rev1 := e.PromiseReady("invchk-db")
	e.Create(instance(group, kind, "invchk-team", "orders", map[string]any{"size": "small"}))
	e.WaitWork("invchk-db", "invchk-team", "orders", "invchk-1", func(w *fleetv1alpha1.Work) (bool, string) { return w.Spec.Revision == rev1, w.Spec.Revision })
	e.UpdatePromise("invchk-db", func(cur *fleetv1alpha1.Promise) {
		cur.Spec.Templates.GoTemplates[0].Template = p.Spec.Templates.GoTemplates[0].Template + "  version: two\n"
	})
	ro := waitPromiseRollout(t, e, "invchk-db", rev1)
	// No Rollout controller runs: the status a plan would write, the
	// cluster admitted to the target in a wave at work.
	eventually(t, 30*time.Second, "status stored", func() (bool, string) {
		cur := &fleetv1alpha1.Rollout{}
		if err := e.C.Get(e.Ctx, client.ObjectKeyFromObject(ro), cur); err != nil {
			return false, err.Error()
		}
		cur.Status.Phase, cur.Status.CurrentWave = fleetv1alpha1.RolloutPhaseProgressing, "all"
		cur.Status.Waves = []fleetv1alpha1.WaveStatus{{Name: "all", Phase: fleetv1alpha1.WavePhaseProgressing,
			StartedAt: &metav1.Time{Time: time.Now()}, Clusters: []string{"invchk-1"}, Admitted: "T",
			Checks: []fleetv1alpha1.WaveCheckStatus{{Name: "errors", Verdict: fleetv1alpha1.CheckPending}}}}
		err := e.C.Status().Update(e.Ctx, cur)
		return err == nil, fmt.Sprint(err)
	})
	e.WaitWork("invchk-db", "invchk-team", "orders", "invchk-1", func(w *fleetv1alpha1.Work) (bool, string) {
		return w.Spec.Revision == ro.Spec.TargetRevision && len(w.Spec.Checks) == 0, w.Spec.Revision
	})
	eventually(t, 30*time.Second, "the hub's InvalidCheck Event", func() (bool, string) {
		list := &eventsv1.EventList{}
		if err := e.C.List(e.Ctx, list, client.InNamespace("invchk-team")); err != nil {
			return false, err.Error()
		}
		var got []string
		for _, ev := range list.Items {
			got = append(got, ev.Reason+" "+ev.Note)
		}
		return slices.ContainsFunc(got, func(s string) bool { return strings.HasPrefix(s, fleetv1alpha1.ReasonInvalidCheck) }), strings.Join(got, "\n")
	})
	stop()

	// A reconciler of its own, on the settled instance, reconciles twice.
	got := eventsOfTwoReconciles(t, e, instancectl.Key{Promise: "invchk-db", Namespace: "invchk-team", Name: "orders"})
	var invalid []string
	for _, ev := range got {
		if strings.Contains(ev, fleetv1alpha1.ReasonInvalidCheck) {
			invalid = append(invalid, ev)
		}
	}
	if len(invalid) != 1 || !strings.Contains(invalid[0], "check errors") {
		t.Errorf("InvalidCheck Events of two reconciles: %q, want one naming check errors (all: %q)", invalid, got)
	}
}

// Fleet resources that cannot be rendered for a cluster (here an Override
// that takes a ConfigMap's name away) are reported as a
// RenderFailed Event on the Promise once per cause, not on every reconcile.
func TestFleetRenderFailureIsReportedOnce(t *testing.T) {
	e := newEnv(t)
	stop := startHub(t, hub.Options{NoRolloutController: true})
	const group, kind = "fleetfail.example.com", "FleetFailDb"
	e.Cluster("fleetfail-1", map[string]string{"story": "fleetfail"})
	e.Fleet("fleetfail", map[string]string{"story": "fleetfail"}, "fleetfail-team")
	p := configMapPromise("fleetfail-db", group, kind, "fleetfail")
	p.Spec.FleetResources = []fleetv1alpha1.Manifest{{RawExtension: promisetest.Raw(map[string]any{"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": "fleetfail-operator", "namespace": "default"}, "data": map[string]any{"size": "shared"}})}}
	e.Create(p)
	e.PromiseReady("fleetfail-db")
	e.WaitWork("fleetfail-db", "", "", "fleetfail-1", func(*fleetv1alpha1.Work) (bool, string) { return true, "" })
	e.Create(&fleetv1alpha1.Override{
		ObjectMeta: metav1.ObjectMeta{Name: "fleetfail-noname", Namespace: fleetv1alpha1.PlatformNamespace},
		Spec: fleetv1alpha1.OverrideSpec{
			Promise:   "fleetfail-db",
			Resources: []fleetv1alpha1.ResourceSelector{{Kind: "ConfigMap"}},
			Type:      fleetv1alpha1.PatchJSONMerge,
			Patch:     promisetest.Raw(map[string]any{"metadata": map[string]any{"name": nil}}),
		},
	})
	eventually(t, 30*time.Second, "the hub's RenderFailed Event", func() (bool, string) {
		list := &eventsv1.EventList{}
		if err := e.C.List(e.Ctx, list); err != nil {
			return false, err.Error()
		}
		var got []string
		for _, ev := range list.Items {
			if ev.Regarding.Name == "fleetfail-db" {
				got = append(got, ev.Reason+" "+ev.Note)
			}
		}
		return slices.ContainsFunc(got, func(s string) bool { return strings.HasPrefix(s, fleetv1alpha1.ReasonRenderFailed) }), strings.Join(got, "\n")
	})
	stop()

	got := eventsOfTwoReconciles(t, e, instancectl.Key{Promise: "fleetfail-db"})
	var failed []string
	for _, ev := range got {
		if strings.Contains(ev, fleetv1alpha1.ReasonRenderFailed) {
			failed = append(failed, ev)
		}
	}
	if len(failed) != 1 || !strings.Contains(failed[0], "fleetfail-1") {
		t.Errorf("RenderFailed Events of two reconciles: %q, want one naming fleetfail-1 (all: %q)", failed, got)
	}
}

// eventsOfTwoReconciles reconciles key twice with an instance reconciler of
// its own (the hub stopped) and returns the Events it recorded.
func eventsOfTwoReconciles(t *testing.T, e *promisetest.Env, key instancectl.Key) []string {
	t.Helper()
	ctx := e.Ctx
	mgr := hubtest.StartManager(t, ctx, hubCP.RESTConfig)
	recorder := events.NewFakeRecorder(10)
	r := &instancectl.Reconciler{Client: mgr.GetClient(), Cache: mgr.GetCache(), APIReader: mgr.GetAPIReader(),
		Recorder: recorder, Clock: clock.RealClock{}}
	for range 2 {
		// A conflict's Events are counted all the same.
		if _, err := reconcileAfterTheHub(ctx, r, key); err != nil {
			t.Fatalf("reconcile: %v", err)
		}
	}
	var got []string
	for len(recorder.Events) > 0 {
		got = append(got, <-recorder.Events)
	}
	return got
}

// reconcileAfterTheHub reconciles key with r, a reconciler of the test's
// own once the hub stopped. The stopped hub's last writes may reach r's
// cache late: a conflict is tried again, a few times.
func reconcileAfterTheHub(ctx context.Context, r *instancectl.Reconciler, key instancectl.Key) (reconcile.Result, error) {
	var (
		res reconcile.Result
		err error
	)
	for range 5 {
		if res, err = r.Reconcile(ctx, key); !apierrors.IsConflict(err) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	return res, err
}
