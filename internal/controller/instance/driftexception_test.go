package instance_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/controller/promise/promisetest"
	"github.com/flotilla-dev/flotilla/internal/hub"
)

func driftException(ns, name string, expires time.Time, sel fleetv1alpha1.ClusterSelector, kind string, paths ...string) *fleetv1alpha1.DriftException {
	return &fleetv1alpha1.DriftException{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: fleetv1alpha1.DriftExceptionSpec{
			Owner: "sre@example.com", Reason: "load test", ExpiresAt: metav1.NewTime(expires),
			ClusterSelector: sel, Resources: []fleetv1alpha1.ResourceSelector{{Kind: kind}}, Paths: paths,
		},
	}
}

func exceptionNames(w *fleetv1alpha1.Work) []string {
	var out []string
	for _, e := range w.Spec.DriftExceptions {
		out = append(out, e.Name)
	}
	return out
}

func hasExceptions(names ...string) func(*fleetv1alpha1.Work) (bool, string) {
	return func(w *fleetv1alpha1.Work) (bool, string) {
		got := exceptionNames(w)
		return slices.Equal(got, names), fmt.Sprint(got)
	}
}

// The story: team a excuses drift of its ConfigMaps on edge clusters. The
// exception lands in the Works of team a's instance on edge clusters only,
// never in team b's or in the fleet resources; the platform's exception in
// flotilla-system lands in every Work; an exception for kinds the Works do
// not hold lands nowhere; an expired one drops out. The DriftException
// reports Active until it expires, and counts the resources agents report
// it accepts.
func TestDriftExceptionsReachTheirWorks(t *testing.T) {
	e := newEnv(t)
	startHub(t, hub.Options{})
	const group, kind = "dex.example.com", "DexDb"
	e.Cluster("dex-1", map[string]string{"story": "dex", "tier": "edge"})
	e.Cluster("dex-2", map[string]string{"story": "dex"})
	e.Fleet("dex", map[string]string{"story": "dex"}, "dex-a", "dex-b")
	e.Namespace("dex-a", nil)
	e.Namespace("dex-b", nil)
	p := configMapPromise("dex-db", group, kind, "dex")
	p.Spec.FleetResources = []fleetv1alpha1.Manifest{{RawExtension: promisetest.Raw(map[string]any{"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": "dex-operator", "namespace": "default"}, "data": map[string]any{"size": "shared"}})}}
	e.Create(p)
	e.PromiseReady("dex-db")
	e.Create(instance(group, kind, "dex-a", "orders", map[string]any{"size": "small"}))
	e.Create(instance(group, kind, "dex-b", "billing", map[string]any{"size": "small"}))
	none := hasExceptions()
	for _, c := range []string{"dex-1", "dex-2"} {
		e.WaitWork("dex-db", "dex-a", "orders", c, none)
		e.WaitWork("dex-db", "dex-b", "billing", c, none)
		e.WaitWork("dex-db", "", "", c, none)
	}
	edge := fleetv1alpha1.ClusterSelector{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"tier": "edge"}}}
	hour := time.Now().Add(time.Hour)

	e.Create(driftException("dex-a", "edge-size", hour, edge, "ConfigMap", "data.size"))
	e.Create(driftException("dex-a", "secrets", hour, fleetv1alpha1.ClusterSelector{}, "Secret"))
	w := e.WaitWork("dex-db", "dex-a", "orders", "dex-1", hasExceptions("dex-a/edge-size"))
	if got := w.Spec.DriftExceptions[0]; !slices.Equal(got.Paths, []string{"data.size"}) || got.Resources[0].Kind != "ConfigMap" ||
		!got.ExpiresAt.Time.Equal(hour.Truncate(time.Second)) {
		t.Errorf("work exception = %+v, want paths data.size, kind ConfigMap, expiresAt %v", got, hour)
	}
	if len(w.Annotations[fleetv1alpha1.AnnotationAdmittedAt]) == 0 {
		t.Error("the Work lost its admission time")
	}
	admitted, revision := w.Annotations[fleetv1alpha1.AnnotationAdmittedAt], w.Spec.Revision

	// The platform's exception may excuse drift anywhere.
	e.Create(driftException(fleetv1alpha1.PlatformNamespace, "all-configmaps", hour, fleetv1alpha1.ClusterSelector{}, "ConfigMap"))
	e.WaitWork("dex-db", "dex-a", "orders", "dex-1", hasExceptions("flotilla-system/all-configmaps", "dex-a/edge-size"))
	for _, c := range []string{"dex-1", "dex-2"} {
		e.WaitWork("dex-db", "dex-b", "billing", c, hasExceptions("flotilla-system/all-configmaps"))
		e.WaitWork("dex-db", "", "", c, hasExceptions("flotilla-system/all-configmaps"))
	}
	e.WaitWork("dex-db", "dex-a", "orders", "dex-2", hasExceptions("flotilla-system/all-configmaps"))
	w = e.Work("dex-db", "dex-a", "orders", "dex-1")
	if w.Annotations[fleetv1alpha1.AnnotationAdmittedAt] != admitted || w.Spec.Revision != revision {
		t.Errorf("exceptions moved the Work: admitted %s -> %s, revision %s -> %s", admitted,
			w.Annotations[fleetv1alpha1.AnnotationAdmittedAt], revision, w.Spec.Revision)
	}

	// An agent reports drift the team's exception accepts: it counts it.
	e.UpdateWorkStatus(w, func(w *fleetv1alpha1.Work) {
		w.Status.Resources = []fleetv1alpha1.ResourceStatus{{Version: "v1", Kind: "ConfigMap", Namespace: "default", Name: "orders",
			Result: fleetv1alpha1.ApplyResultApplied, Drift: &fleetv1alpha1.ResourceDrift{State: fleetv1alpha1.DriftAccepted,
				Fields: []string{"data.size"}, Exception: "dex-a/edge-size"}}}
	})
	waitException(t, e, "dex-a", "edge-size", func(st fleetv1alpha1.DriftExceptionStatus) bool {
		c := meta.FindStatusCondition(st.Conditions, fleetv1alpha1.ConditionActive)
		return st.MatchedResources == 1 && st.ObservedGeneration == 1 && c != nil && c.Status == metav1.ConditionTrue &&
			c.Reason == fleetv1alpha1.ReasonInForce && conditionIs(st.Conditions, fleetv1alpha1.ConditionReady, metav1.ConditionTrue)
	})
	// The Works that carry each are counted; one in force that no Work
	// carries says so.
	waitException(t, e, "dex-a", "edge-size", func(st fleetv1alpha1.DriftExceptionStatus) bool { return st.Works == 1 })
	// Six here; other stories' Works on this hub may carry it too.
	waitException(t, e, fleetv1alpha1.PlatformNamespace, "all-configmaps", func(st fleetv1alpha1.DriftExceptionStatus) bool { return st.Works >= 6 })
	waitException(t, e, "dex-a", "secrets", func(st fleetv1alpha1.DriftExceptionStatus) bool {
		c := meta.FindStatusCondition(st.Conditions, fleetv1alpha1.ConditionActive)
		return st.MatchedResources == 0 && st.Works == 0 && c != nil && c.Status == metav1.ConditionTrue &&
			strings.Contains(c.Message, "no Work carries it")
	})

	// An exception lands; shortened to expire in seconds, it drops out. It
	// is shortened only once it landed, so a slow hub cannot miss it.
	short := driftException("dex-b", "short", time.Now().Add(time.Hour), fleetv1alpha1.ClusterSelector{Names: []string{"dex-2"}}, "ConfigMap")
	e.Create(short)
	e.WaitWork("dex-db", "dex-b", "billing", "dex-2", hasExceptions("flotilla-system/all-configmaps", "dex-b/short"))
	expiry := []byte(`{"spec":{"expiresAt":"` + time.Now().Add(2*time.Second).UTC().Format(time.RFC3339) + `"}}`)
	if err := e.C.Patch(e.Ctx, short, client.RawPatch(types.MergePatchType, expiry)); err != nil {
		t.Fatalf("shortening the exception: %v", err)
	}
	e.WaitWork("dex-db", "dex-b", "billing", "dex-2", hasExceptions("flotilla-system/all-configmaps"))
	waitException(t, e, "dex-b", "short", func(st fleetv1alpha1.DriftExceptionStatus) bool {
		return conditionReason(st.Conditions, fleetv1alpha1.ConditionActive) == fleetv1alpha1.ReasonExpired &&
			conditionIs(st.Conditions, fleetv1alpha1.ConditionActive, metav1.ConditionFalse)
	})
	// Team b's exception never reached team a's Works, nor the fleet resources.
	for _, c := range []string{"dex-1", "dex-2"} {
		if got := exceptionNames(e.Work("dex-db", "", "", c)); !slices.Equal(got, []string{"flotilla-system/all-configmaps"}) {
			t.Errorf("fleet resources on %s carry %v", c, got)
		}
	}
	if got := exceptionNames(e.Work("dex-db", "dex-a", "orders", "dex-2")); !slices.Equal(got, []string{"flotilla-system/all-configmaps"}) {
		t.Errorf("dex-a/orders on dex-2 carries %v", got)
	}

	// Deleting an exception takes it out of the Works.
	if err := e.C.Delete(e.Ctx, &fleetv1alpha1.DriftException{ObjectMeta: metav1.ObjectMeta{Name: "all-configmaps", Namespace: fleetv1alpha1.PlatformNamespace}}); err != nil {
		t.Fatal(err)
	}
	e.WaitWork("dex-db", "dex-a", "orders", "dex-1", hasExceptions("dex-a/edge-size"))
	e.WaitWork("dex-db", "", "", "dex-2", none)
}

func waitException(t *testing.T, e *promisetest.Env, ns, name string, check func(fleetv1alpha1.DriftExceptionStatus) bool) {
	t.Helper()
	eventually(t, time.Minute, "drift exception "+ns+"/"+name, func() (bool, string) {
		d := &fleetv1alpha1.DriftException{}
		if err := e.C.Get(e.Ctx, client.ObjectKey{Namespace: ns, Name: name}, d); err != nil {
			return false, err.Error()
		}
		return check(d.Status), fmt.Sprintf("%+v", d.Status)
	})
}
