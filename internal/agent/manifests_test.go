package agent

import (
	"errors"
	"strings"
	"testing"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

func raw(s string) fleetv1alpha1.Manifest {
	m := fleetv1alpha1.Manifest{}
	m.Raw = []byte(s)
	return m
}

func TestDecodeManifests(t *testing.T) {
	manifests := []fleetv1alpha1.Manifest{
		raw(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a","namespace":"ns","labels":{"team":"x"},"resourceVersion":"12","uid":"u","managedFields":[{}]},"data":{"n":"1"}}`),
		raw(`not json`),
		raw(`[1,2]`),
		raw(`{"kind":"ConfigMap","metadata":{"name":"b"}}`),
		raw(`{"apiVersion":"a/b/c","kind":"ConfigMap","metadata":{"name":"b"}}`),
		raw(`{"apiVersion":"v1","metadata":{"name":"b"}}`),
		raw(`{"apiVersion":"v1","kind":"ConfigMap"}`),
		raw(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"generateName":"x-"}}`),
		raw(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c","labels":"oops"}}`),
		raw(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":7}}`),
		raw(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a","namespace":"ns"}}`),
		raw(``),
		raw(`{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"a","namespace":"ns"},"spec":{"replicas":3}}`),
	}
	got := decodeManifests("my-work", manifests)
	wantErr := []string{
		"",
		"not a JSON object",
		"not a JSON object",
		"apiVersion is required",
		`apiVersion "a/b/c" is not group/version`,
		"kind is required",
		"metadata is required",
		"generateName is not supported",
		"metadata.labels must map strings to strings",
		"metadata.name is required",
		"repeats manifests[0]",
		"empty",
		"",
	}
	for i, d := range got {
		switch {
		case wantErr[i] == "" && d.err != nil:
			t.Errorf("manifests[%d]: unexpected error %v", i, d.err)
		case wantErr[i] != "" && (d.err == nil || !strings.Contains(d.err.Error(), wantErr[i])):
			t.Errorf("manifests[%d]: error %v, want one containing %q", i, d.err, wantErr[i])
		case wantErr[i] != "" && !errors.Is(d.err, errInvalidManifest):
			t.Errorf("manifests[%d]: error %v does not wrap errInvalidManifest", i, d.err)
		case wantErr[i] != "" && d.obj != nil:
			t.Errorf("manifests[%d]: invalid manifest kept its object", i)
		}
		if d.index != i {
			t.Errorf("manifests[%d]: index %d", i, d.index)
		}
	}

	cm := got[0].obj
	if cm.GetLabels()["team"] != "x" || cm.GetLabels()[fleetv1alpha1.LabelWork] != "my-work" || cm.GetLabels()[fleetv1alpha1.LabelManagedBy] != "flotilla" {
		t.Errorf("labels %v", cm.GetLabels())
	}
	if cm.GetResourceVersion() != "" || cm.GetUID() != "" || cm.GetManagedFields() != nil {
		t.Errorf("server fields kept: %v", cm.Object["metadata"])
	}
	// Integers decode as int64, as from an API server.
	if _, ok := got[12].obj.Object["spec"].(map[string]any)["replicas"].(int64); !ok {
		t.Errorf("replicas decoded as %T", got[12].obj.Object["spec"].(map[string]any)["replicas"])
	}
	// Identity survives where it can be read, for the status report.
	if got[7].ref.Kind != "ConfigMap" || got[3].ref.Name != "b" || got[10].ref.Name != "a" {
		t.Errorf("identities: %+v %+v %+v", got[7].ref, got[3].ref, got[10].ref)
	}
}

func TestDecodeLongWorkNameLabel(t *testing.T) {
	name := strings.Repeat("w", 200)
	got := decodeManifests(name, []fleetv1alpha1.Manifest{raw(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"}}`)})
	if v := got[0].obj.GetLabels()[fleetv1alpha1.LabelWork]; v != fleetv1alpha1.WorkLabelValue(name) || len(v) > 63 {
		t.Errorf("label %q", v)
	}
}

func TestPhasesAndPruneOrder(t *testing.T) {
	crd := objectRef{Group: "apiextensions.k8s.io", Version: "v1", Kind: "CustomResourceDefinition", Name: "x.example.com"}
	ns := objectRef{Version: "v1", Kind: "Namespace", Name: "ns"}
	cm := objectRef{Version: "v1", Kind: "ConfigMap", Namespace: "ns", Name: "a"}
	fakeNS := objectRef{Group: "example.com", Version: "v1", Kind: "Namespace", Name: "n"}
	if phaseOf(crd) != phaseCRDs || phaseOf(ns) != phaseNamespaces || phaseOf(cm) != phaseRest || phaseOf(fakeNS) != phaseRest {
		t.Error("phases")
	}
	got := pruneOrder([]objectRef{crd, ns, cm, fakeNS})
	want := []objectRef{cm, fakeNS, ns, crd}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("pruneOrder[%d] = %v, want %v", i, got[i], want[i])
		}
	}
}

func TestObjectRefString(t *testing.T) {
	if s := (objectRef{Group: "apps", Kind: "Deployment", Namespace: "ns", Name: "web"}).String(); s != "Deployment.apps/ns/web" {
		t.Error(s)
	}
	if s := (objectRef{Kind: "Namespace", Name: "ns"}).String(); s != "Namespace/ns" {
		t.Error(s)
	}
}

func TestInventory(t *testing.T) {
	a1 := objectRef{Group: "apps", Version: "v1beta2", Kind: "Deployment", Namespace: "ns", Name: "a"}
	a2 := objectRef{Group: "apps", Version: "v1", Kind: "Deployment", Namespace: "ns", Name: "a"}
	b := objectRef{Version: "v1", Kind: "ConfigMap", Namespace: "ns", Name: "b"}
	c := objectRef{Version: "v1", Kind: "ConfigMap", Namespace: "other", Name: "b"}

	inv := newInventory(a1, b, b)
	if len(inv) != 2 {
		t.Fatalf("inventory %v", inv)
	}
	// A new version of the same object replaces the old one, not adds to it.
	inv = inv.union(a2, c)
	if len(inv) != 3 {
		t.Fatalf("union %v", inv)
	}
	for _, r := range inv {
		if r.Kind == "Deployment" && r.Version != "v1" {
			t.Errorf("version not updated: %v", r)
		}
	}
	// The object moving between API versions has not left the Work.
	if gone := newInventory(a1, b).without(a2); len(gone) != 1 || gone[0] != b {
		t.Errorf("without = %v, want only b", gone)
	}
	if !newInventory(b, a2).equal(newInventory(a2, b)) || newInventory(b).equal(newInventory(c)) {
		t.Error("equal")
	}
}
