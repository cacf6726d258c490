package instance

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

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
	bare, err := snapshotInstance(inst, "site", none)
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
	snap, err := snapshotInstance(inst, "site", selected)
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
	again, err := snapshotInstance(inst, "site", reordered)
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
