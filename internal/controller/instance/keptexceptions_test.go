package instance_test

import (
	"fmt"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/controller/promise/promisetest"
	"github.com/flotilla-dev/flotilla/internal/hub"
)

// The story: the platform accepts drift of team a's ConfigMaps for a while
// (a DriftException in flotilla-system), then revokes it early. Team a,
// whose changed values the exception had kept on its members, changes its
// instance so that it cannot render on the cluster it is admitted to: the
// hub keeps that Work as it was. Before the fix it kept the Work's
// DriftExceptions too, so the revoked exception went on accepting the drift
// there until it would have expired, while no DriftException on the hub said
// so; the same when the team holds its instance (more Overrides than it may
// have). Now a Work kept as it is still gets the exceptions in force.
func TestAKeptWorkLosesARevokedException(t *testing.T) {
	e := newEnv(t)
	startHub(t, hub.Options{})
	const group, kind = "keptexc.example.com", "KeptExc"
	e.OnlineCluster("keptexc-1", map[string]string{"story": "keptexc"})
	e.Fleet("keptexc", map[string]string{"story": "keptexc"}, "keptexc-team")
	e.Namespace("keptexc-team", nil)
	p := configMapPromise("keptexc-db", group, kind, "keptexc")
	p.Spec.API.Schema = promisetest.Raw(map[string]any{"type": "object", "properties": map[string]any{
		"size":  map[string]any{"type": "string"},
		"extra": map[string]any{"type": "object", "properties": map[string]any{"note": map[string]any{"type": "string"}}},
	}})
	p.Spec.Templates.GoTemplates[0].Template += "  note: {{ .spec.extra.note | quote }}\n"
	p.Spec.Examples = []fleetv1alpha1.PromiseExample{{Name: "noted", Spec: promisetest.Raw(map[string]any{"size": "small", "extra": map[string]any{"note": "hi"}})}}
	e.Create(p)
	e.PromiseReady("keptexc-db")
	e.Create(instance(group, kind, "keptexc-team", "orders", map[string]any{"size": "small", "extra": map[string]any{"note": "hello"}}))
	platform := driftException(fleetv1alpha1.PlatformNamespace, "keptexc-incident", time.Now().Add(30*24*time.Hour),
		fleetv1alpha1.ClusterSelector{Names: []string{"keptexc-1"}}, "ConfigMap")
	e.Create(platform)
	before := e.WaitWork("keptexc-db", "keptexc-team", "orders", "keptexc-1", hasExceptions("flotilla-system/keptexc-incident"))

	// A change that cannot render: the Work is kept.
	e.UpdateInstance(instance(group, kind, "keptexc-team", "orders", nil), func(u *unstructured.Unstructured) {
		u.Object["spec"] = map[string]any{"size": "large"}
	})
	e.WaitInstance(group, kind, "keptexc-team", "orders", "render failed", func(s fleetv1alpha1.InstanceStatus) bool {
		return conditionReason(s.Conditions, fleetv1alpha1.ConditionReady) == fleetv1alpha1.ReasonRenderFailed && s.ObservedGeneration == 2
	})

	// The platform revokes its exception.
	if err := e.C.Delete(e.Ctx, &fleetv1alpha1.DriftException{ObjectMeta: metav1.ObjectMeta{
		Name: platform.Name, Namespace: platform.Namespace}}); err != nil {
		t.Fatal(err)
	}
	after := e.WaitWork("keptexc-db", "keptexc-team", "orders", "keptexc-1", hasExceptions())
	if after.Spec.Revision != before.Spec.Revision || manifestData(t, after, "size") != "small" {
		t.Errorf("the kept Work changed more than its exceptions: revision %s -> %s, size %q",
			before.Spec.Revision, after.Spec.Revision, manifestData(t, after, "size"))
	}
	if after.Annotations[fleetv1alpha1.AnnotationAdmittedAt] != before.Annotations[fleetv1alpha1.AnnotationAdmittedAt] {
		t.Error("the kept Work's admission time changed")
	}

	// The same with the instance held: more Overrides than a team may have.
	e.UpdateInstance(instance(group, kind, "keptexc-team", "orders", nil), func(u *unstructured.Unstructured) {
		u.Object["spec"] = map[string]any{"size": "small", "extra": map[string]any{"note": "hello"}}
	})
	platform = driftException(fleetv1alpha1.PlatformNamespace, "keptexc-incident-2", time.Now().Add(30*24*time.Hour),
		fleetv1alpha1.ClusterSelector{Names: []string{"keptexc-1"}}, "ConfigMap")
	e.Create(platform)
	e.WaitWork("keptexc-db", "keptexc-team", "orders", "keptexc-1", hasExceptions("flotilla-system/keptexc-incident-2"))
	for i := range 33 {
		e.Create(&fleetv1alpha1.Override{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("pad-%02d", i), Namespace: "keptexc-team"},
			Spec: fleetv1alpha1.OverrideSpec{Promise: "keptexc-db", Type: fleetv1alpha1.PatchJSONMerge,
				Patch: promisetest.Raw(map[string]any{"data": map[string]any{fmt.Sprintf("pad%02d", i): "x"}})},
		})
	}
	e.WaitInstance(group, kind, "keptexc-team", "orders", "held", func(s fleetv1alpha1.InstanceStatus) bool {
		return conditionReason(s.Conditions, fleetv1alpha1.ConditionReady) == fleetv1alpha1.ReasonInvalidSpec
	})
	if err := e.C.Delete(e.Ctx, &fleetv1alpha1.DriftException{ObjectMeta: metav1.ObjectMeta{
		Name: platform.Name, Namespace: platform.Namespace}}); err != nil {
		t.Fatal(err)
	}
	e.WaitWork("keptexc-db", "keptexc-team", "orders", "keptexc-1", hasExceptions())
}
