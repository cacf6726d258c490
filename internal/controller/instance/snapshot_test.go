package instance

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// An instance revision snapshots the Overrides of the instance's own
// namespace that select it, whatever their clusterSelector, in a form that
// does not depend on how the API server wrote them; the platform's, other
// teams', other Promises', unselected and deleted ones are not in it, and
// an instance none select keeps the revision name of its spec alone.
func TestSnapshotInstance(t *testing.T) {
	inst := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "example.com/v1", "kind": "Site",
		"metadata": map[string]any{"name": "shop", "namespace": "team-a", "labels": map[string]any{"tier": "gold"}},
		"spec":     map[string]any{"size": "small", "placement": map[string]any{"names": []any{"c1"}}},
	}}
	override := func(ns, name, patch string, tweak ...func(*fleetv1alpha1.Override)) fleetv1alpha1.Override {
		o := fleetv1alpha1.Override{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Spec:       fleetv1alpha1.OverrideSpec{Type: fleetv1alpha1.PatchValues, Patch: runtime.RawExtension{Raw: []byte(patch)}},
		}
		for _, f := range tweak {
			f(&o)
		}
		return o
	}
	deleted := metav1.Now()
	none := []fleetv1alpha1.Override{
		override(fleetv1alpha1.PlatformNamespace, "platform", `{"size":"large"}`),
		override("team-b", "other-team", `{"size":"large"}`),
		override("team-a", "other-promise", `{"size":"large"}`, func(o *fleetv1alpha1.Override) { o.Spec.Promise = "cache" }),
		override("team-a", "unselected", `{"size":"large"}`, func(o *fleetv1alpha1.Override) {
			o.Spec.InstanceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"tier": "bronze"}}
		}),
		override("team-a", "deleted", `{"size":"large"}`, func(o *fleetv1alpha1.Override) { o.DeletionTimestamp = &deleted }),
		override("team-a", "not-an-object", `[1]`),
	}
	bare, err := snapshotInstance(inst, "site", none, false)
	if err != nil {
		t.Fatal(err)
	}
	if bare.teamOverrides != nil || string(bare.spec) != `{"size":"small"}` {
		t.Fatalf("snapshot %s with team overrides %s, want the spec alone", bare.spec, bare.teamOverrides)
	}
	if got, want := bare.revisionName("Site", "shop", 0), "site-shop-"; got[:len(want)] != want || len(got) != len(want)+10 {
		t.Errorf("revision name %q", got)
	}

	selected := append(none,
		override("team-a", "b-edge", `{"size": "large", "replicas": 12345678901234567890}`, func(o *fleetv1alpha1.Override) {
			o.Spec.ClusterSelector.Names = []string{"c9"}
			o.Spec.Promise = "site"
		}),
		override("team-a", "a-gold", `{"note":"x"}`, func(o *fleetv1alpha1.Override) {
			o.Spec.InstanceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"tier": "gold"}}
		}))
	snap, err := snapshotInstance(inst, "site", selected, false)
	if err != nil {
		t.Fatal(err)
	}
	want := `[{"name":"a-gold","spec":{"clusterSelector":{},"instanceSelector":{"matchLabels":{"tier":"gold"}},"type":"Values","patch":{"note":"x"}}},` +
		`{"name":"b-edge","spec":{"clusterSelector":{"names":["c9"]},"promise":"site","type":"Values","patch":{"replicas":12345678901234567890,"size":"large"}}}]`
	if string(snap.teamOverrides) != want {
		t.Errorf("team overrides\n got %s\nwant %s", snap.teamOverrides, want)
	}
	if snap.revisionName("Site", "shop", 0) == bare.revisionName("Site", "shop", 0) {
		t.Error("the team's Overrides do not change the revision name")
	}
	// The same Overrides listed in another order, their patch written
	// another way: the same snapshot.
	reordered := []fleetv1alpha1.Override{selected[len(selected)-1], selected[len(selected)-2]}
	reordered[1].Spec.Patch.Raw = []byte(`{"replicas":12345678901234567890,"size":"large"}`)
	again, err := snapshotInstance(inst, "site", reordered, false)
	if err != nil {
		t.Fatal(err)
	}
	if string(again.teamOverrides) != want {
		t.Errorf("reordered: %s", again.teamOverrides)
	}
	decoded, err := decodeTeamOverrides(string(snap.teamOverrides), "team-a")
	if err != nil || len(decoded) != 2 || decoded[1].Namespace != "team-a" || decoded[1].Name != "b-edge" || decoded[1].Spec.ClusterSelector.Names[0] != "c9" {
		t.Errorf("decoded %+v, %v", decoded, err)
	}
}

// Every instance revision stores the instance's labels and annotations
// (kubectl's copy of the object left out); they are part of what a
// revision is only where the Promise's templates read them: its first name
// stays that of the spec and Overrides, so a Promise that starts reading
// them moves no instance, and a label change is a new revision (the next
// name) only then.
func TestSnapshotInstanceMetadata(t *testing.T) {
	inst := func(tier string) *unstructured.Unstructured {
		return &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "example.com/v1", "kind": "Site",
			"metadata": map[string]any{"name": "shop", "namespace": "team-a", "labels": map[string]any{"tier": tier},
				"annotations": map[string]any{"note": "x", "kubectl.kubernetes.io/last-applied-configuration": `{"spec":{}}`}},
			"spec": map[string]any{"size": "small"},
		}}
	}
	snap := func(tier string, reads bool) instanceSnapshot {
		s, err := snapshotInstance(inst(tier), "site", nil, reads)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	gold, silver := snap("gold", true), snap("silver", true)
	if got := string(gold.metadata); got != `{"labels":{"tier":"gold"},"annotations":{"note":"x"}}` {
		t.Errorf("metadata %s", got)
	}
	if gold.revisionName("Site", "shop", 0) != silver.revisionName("Site", "shop", 0) ||
		gold.revisionName("Site", "shop", 0) != snap("gold", false).revisionName("Site", "shop", 0) {
		t.Error("the first name depends on the labels")
	}
	if gold.revisionName("Site", "shop", 1) == silver.revisionName("Site", "shop", 1) {
		t.Error("where the templates read them, the labels do not name the next revision")
	}
	if snap("gold", false).revisionName("Site", "shop", 1) != snap("silver", false).revisionName("Site", "shop", 1) {
		t.Error("where the templates do not read them, the labels name revisions")
	}

	stored := func(metadata *string) *appsv1.ControllerRevision {
		cr := &appsv1.ControllerRevision{Data: runtime.RawExtension{Raw: []byte(`{"size":"small"}`)},
			ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{fleetv1alpha1.AnnotationTeamOverrides: "[]"}}}
		if metadata != nil {
			cr.Annotations[fleetv1alpha1.AnnotationInstanceMetadata] = *metadata
		}
		return cr
	}
	goldMD := string(gold.metadata)
	for _, tc := range []struct {
		name     string
		s        instanceSnapshot
		cr       *appsv1.ControllerRevision
		holds    bool
		rendered string
	}{
		{"the same labels", silver, stored(ptr.To(string(silver.metadata))), true, string(silver.metadata)},
		{"other labels, read", silver, stored(&goldMD), false, ""},
		{"other labels, not read: the revision keeps its own", snap("silver", false), stored(&goldMD), true, goldMD},
		{"a revision from before renders them as they are", silver, stored(nil), true, string(silver.metadata)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.s.holds(tc.cr); got != tc.holds {
				t.Fatalf("holds = %v", got)
			}
			if tc.holds && string(tc.s.renderedMetadata(tc.cr)) != tc.rendered {
				t.Errorf("renders %s", tc.s.renderedMetadata(tc.cr))
			}
		})
	}
}

// An instance event is a change of what instance revisions snapshot: the
// annotations too (template data, TestInstanceAnnotationsTheTemplatesReadRollOutWithTheInstance
// in internal/controller/rollout), but not kubectl's copy of the object.
func TestInstanceChangedByAnnotations(t *testing.T) {
	inst := func(annotations map[string]string) *unstructured.Unstructured {
		u := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "example.com/v1", "kind": "Site"}}
		u.SetAnnotations(annotations)
		return u
	}
	const lastApplied = "kubectl.kubernetes.io/last-applied-configuration"
	if !instanceChanged(inst(nil), inst(map[string]string{"owner": "mallory"})) {
		t.Error("an annotation added is no change")
	}
	if !instanceChanged(inst(map[string]string{"owner": "alice"}), inst(map[string]string{"owner": "mallory"})) {
		t.Error("an annotation changed is no change")
	}
	if instanceChanged(inst(map[string]string{lastApplied: "{}"}), inst(map[string]string{lastApplied: `{"spec":{}}`})) ||
		instanceChanged(inst(nil), inst(map[string]string{lastApplied: "{}"})) {
		t.Error("kubectl's last-applied annotation is a change")
	}
}
