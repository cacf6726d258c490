package agent

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

func TestBadManifestsFailAloneAndTheRestApplies(t *testing.T) {
	e := newEnv(t)
	const cluster, ns = "bad", "bad-app"
	hubCreds := e.join(t, cluster)
	e.startAgent(t, hubCreds, testOptions(t, cluster))

	w := work(cluster, "mixed",
		namespaceObj(ns),
		map[string]any{"apiVersion": "example.com/v1", "kind": "Widget", "metadata": map[string]any{"name": "w", "namespace": ns}},
		// The hub's schema already refuses manifests without apiVersion or
		// kind; a missing name it lets through.
		map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"generateName": "x-", "namespace": ns}},
		map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": "numbers", "namespace": ns}, "data": 5},
		configMapObj(ns, "good", map[string]string{"ok": "yes"}),
	)
	mustf(t, e.hubClient.Create(e.ctx, w), "creating work")

	var got *fleetv1alpha1.Work
	waitFor(t, 60*time.Second, "work status reporting every manifest", func() (bool, string) {
		var err error
		got, err = e.getWork(t, cluster, "mixed")
		if err != nil {
			return false, err.Error()
		}
		return got.Status.ObservedGeneration == got.Generation && len(got.Status.Resources) == 5 &&
			conditionTrue(got.Status.Conditions, fleetv1alpha1.ConditionStalled), describeStatus(got)
	})

	want := []struct {
		kind, name string
		result     fleetv1alpha1.ApplyResult
		message    string
	}{
		{"Namespace", ns, fleetv1alpha1.ApplyResultApplied, ""},
		{"Widget", "w", fleetv1alpha1.ApplyResultFailed, `unknown kind: no matches for kind "Widget" in version "example.com/v1"`},
		{"ConfigMap", "", fleetv1alpha1.ApplyResultFailed, "invalid manifest: metadata.name is required (generateName is not supported"},
		{"ConfigMap", "numbers", fleetv1alpha1.ApplyResultFailed, "data"},
		{"ConfigMap", "good", fleetv1alpha1.ApplyResultApplied, ""},
	}
	for i, w := range want {
		r := got.Status.Resources[i]
		if r.Kind != w.kind || r.Name != w.name || r.Result != w.result || !strings.Contains(r.Message, w.message) {
			t.Errorf("resources[%d] = %s %s %s %q; want %s %s %s, message containing %q", i, r.Kind, r.Name, r.Result, r.Message, w.kind, w.name, w.result, w.message)
		}
	}
	if conditionTrue(got.Status.Conditions, fleetv1alpha1.ConditionApplied) || conditionTrue(got.Status.Conditions, fleetv1alpha1.ConditionReady) {
		t.Errorf("Applied/Ready True with failed manifests: %s", describeStatus(got))
	}
	if got.Status.AppliedRevision != "" {
		t.Errorf("appliedRevision %q set though the revision was not applied in full", got.Status.AppliedRevision)
	}
	if _, err := e.memberKube.CoreV1().ConfigMaps(ns).Get(e.ctx, "good", metav1.GetOptions{}); err != nil {
		t.Errorf("the valid ConfigMap was not applied: %v", err)
	}
}

func TestCRDAndItsObjectsInOneWork(t *testing.T) {
	e := newEnv(t)
	const cluster, ns = "crd", "crd-app"
	hubCreds := e.join(t, cluster)
	e.startAgent(t, hubCreds, testOptions(t, cluster))

	crd := map[string]any{
		"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
		"metadata": map[string]any{"name": "gadgets.test.flotilla.dev"},
		"spec": map[string]any{
			"group": "test.flotilla.dev",
			"names": map[string]any{"kind": "Gadget", "plural": "gadgets", "singular": "gadget", "listKind": "GadgetList"},
			"scope": "Namespaced",
			"versions": []any{map[string]any{
				"name": "v1", "served": true, "storage": true,
				"schema": map[string]any{"openAPIV3Schema": map[string]any{
					"type": "object", "x-kubernetes-preserve-unknown-fields": true,
				}},
			}},
		},
	}
	gadget := map[string]any{"apiVersion": "test.flotilla.dev/v1", "kind": "Gadget",
		"metadata": map[string]any{"name": "g1", "namespace": ns}, "spec": map[string]any{"size": 3}}
	// Listed in the worst order: the object, its namespace, then its CRD.
	w := work(cluster, "gadgets", gadget, namespaceObj(ns), crd)
	mustf(t, e.hubClient.Create(e.ctx, w), "creating work")

	got := e.waitWorkReady(t, cluster, "gadgets", 60*time.Second)
	for _, kind := range []string{"CustomResourceDefinition", "Namespace", "Gadget"} {
		found := false
		for _, r := range got.Status.Resources {
			if r.Kind == kind && r.Result == fleetv1alpha1.ApplyResultApplied && r.Health == fleetv1alpha1.HealthCurrent {
				found = true
			}
		}
		if !found {
			t.Errorf("%s not Applied and Current: %s", kind, describeStatus(got))
		}
	}
	live, err := e.memberDynamic.Resource(schema.GroupVersionResource{Group: "test.flotilla.dev", Version: "v1", Resource: "gadgets"}).
		Namespace(ns).Get(e.ctx, "g1", metav1.GetOptions{})
	mustf(t, err, "reading the gadget")
	if live.GetLabels()[fleetv1alpha1.LabelWork] != "gadgets" {
		t.Errorf("gadget labels %v", live.GetLabels())
	}
}
