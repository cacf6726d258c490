package instanceplan

import (
	"fmt"
	"slices"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/placement"
	"github.com/flotilla-dev/flotilla/internal/render"
)

func TestWorkExceptions(t *testing.T) {
	view := placement.NewView([]placement.Cluster{
		{Name: "edge-1", Labels: map[string]string{"tier": "edge"}},
		{Name: "core-1", Labels: map[string]string{"tier": "core"}},
	}, []placement.Fleet{{Name: "edge", Selector: metav1.LabelSelector{MatchLabels: map[string]string{"tier": "edge"}}}})
	out, err := Encode(render.Output{Manifests: []*unstructured.Unstructured{
		{Object: map[string]any{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": map[string]any{"name": "web", "namespace": "shop"}}},
		{Object: map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": "settings"}}},
		// No group to match: no exception selects it.
		{Object: map[string]any{"apiVersion": "a/b/c", "kind": "Secret", "metadata": map[string]any{"name": "bad"}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	manifests := out.Objects
	expires := metav1.NewTime(time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC))
	exc := func(name string, sel fleetv1alpha1.ClusterSelector, res ...fleetv1alpha1.ResourceSelector) fleetv1alpha1.DriftException {
		return fleetv1alpha1.DriftException{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: name},
			Spec: fleetv1alpha1.DriftExceptionSpec{ClusterSelector: sel, Resources: res, ExpiresAt: expires, Paths: []string{"spec"}}}
	}
	excs := []fleetv1alpha1.DriftException{
		exc("z-any", fleetv1alpha1.ClusterSelector{}, fleetv1alpha1.ResourceSelector{Group: "apps", Kind: "Deployment"}),
		exc("edge-fleet", fleetv1alpha1.ClusterSelector{Fleets: []string{"edge"}}, fleetv1alpha1.ResourceSelector{Group: "*", Kind: "Deployment", Name: "web"}),
		exc("by-name", fleetv1alpha1.ClusterSelector{Names: []string{"core-1"}}, fleetv1alpha1.ResourceSelector{Kind: "Deployment"}), // core group: no match
		exc("other-ns", fleetv1alpha1.ClusterSelector{}, fleetv1alpha1.ResourceSelector{Group: "apps", Kind: "Deployment", Namespace: "other"}),
		exc("cm-any-ns", fleetv1alpha1.ClusterSelector{}, fleetv1alpha1.ResourceSelector{Kind: "ConfigMap", Namespace: "team-a"}),
		exc("secret", fleetv1alpha1.ClusterSelector{}, fleetv1alpha1.ResourceSelector{Group: "*", Kind: "Secret"}),
		exc("bad-selector", fleetv1alpha1.ClusterSelector{Selector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "x", Operator: "Bogus"}}}},
			fleetv1alpha1.ResourceSelector{Kind: "ConfigMap"}),
	}
	names := func(cluster string) []string {
		var out []string
		for _, e := range WorkExceptions(view, cluster, manifests, excs) {
			out = append(out, e.Name)
		}
		return out
	}
	if got, want := names("edge-1"), []string{"team-a/cm-any-ns", "team-a/edge-fleet", "team-a/z-any"}; !slices.Equal(got, want) {
		t.Errorf("edge-1: %v, want %v", got, want)
	}
	if got, want := names("core-1"), []string{"team-a/cm-any-ns", "team-a/z-any"}; !slices.Equal(got, want) {
		t.Errorf("core-1: %v, want %v", got, want)
	}
	if got := WorkExceptions(view, "gone", manifests, excs); got != nil {
		t.Errorf("unknown cluster: %v, want none", got)
	}
	got := WorkExceptions(view, "edge-1", manifests, excs)
	if !slices.Equal(got[2].Paths, []string{"spec"}) || !got[2].ExpiresAt.Equal(&expires) || got[2].Resources[0].Kind != "Deployment" {
		t.Errorf("copied exception = %+v", got[2])
	}

	var many []fleetv1alpha1.DriftException
	for i := range maxWorkExceptions + 4 {
		many = append(many, exc(fmt.Sprintf("e%02d", maxWorkExceptions+4-i), fleetv1alpha1.ClusterSelector{}, fleetv1alpha1.ResourceSelector{Kind: "ConfigMap"}))
	}
	bounded := WorkExceptions(view, "core-1", manifests, many)
	if len(bounded) != maxWorkExceptions || bounded[0].Name != "team-a/e01" || bounded[maxWorkExceptions-1].Name != "team-a/e16" {
		t.Errorf("bounded to %d, first %s, last %s; want %d from team-a/e01 to team-a/e16", len(bounded), bounded[0].Name,
			bounded[len(bounded)-1].Name, maxWorkExceptions)
	}
}

// TestATeamsExceptionsDoNotCrowdOutThePlatforms is the attack of a team
// that declares 16 exceptions on its own instance, named to sort before
// the platform's namespace, so that the Work's bound of 16 leaves out the
// exception the platform declared for the same instance.
func TestATeamsExceptionsDoNotCrowdOutThePlatforms(t *testing.T) {
	view := placement.NewView([]placement.Cluster{{Name: "edge-1"}}, nil)
	out, err := Encode(render.Output{Manifests: []*unstructured.Unstructured{
		{Object: map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": "settings", "namespace": "a-team"}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	expires := metav1.NewTime(time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC))
	exc := func(namespace, name string) fleetv1alpha1.DriftException {
		return fleetv1alpha1.DriftException{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
			Spec: fleetv1alpha1.DriftExceptionSpec{Resources: []fleetv1alpha1.ResourceSelector{{Kind: "ConfigMap"}}, ExpiresAt: expires, Paths: []string{"data"}}}
	}
	excs := []fleetv1alpha1.DriftException{exc(fleetv1alpha1.PlatformNamespace, "incident-42")}
	for i := range maxWorkExceptions {
		excs = append(excs, exc("a-team", fmt.Sprintf("e%02d", i)))
	}
	got := WorkExceptions(view, "edge-1", out.Objects, excs)
	if len(got) != maxWorkExceptions || got[0].Name != fleetv1alpha1.PlatformNamespace+"/incident-42" {
		t.Fatalf("the Work carries %d exceptions, first %q; want %d, the platform's first", len(got), got[0].Name, maxWorkExceptions)
	}
	if last := got[len(got)-1].Name; last != "a-team/e14" {
		t.Errorf("last carried = %s, want a-team/e14 (the team's, by name, after the platform's)", last)
	}
}

// A Work kept as it is (its render failed, its instance held) still gets
// the exceptions in force, and nothing else: a revoked one leaves it.
func TestExceptionsOnly(t *testing.T) {
	view := placement.NewView([]placement.Cluster{{Name: "edge-1"}}, nil)
	out, err := Encode(render.Output{Manifests: []*unstructured.Unstructured{
		{Object: map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": "settings", "namespace": "a-team"}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	expires := metav1.NewTime(time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC))
	incident := fleetv1alpha1.DriftException{ObjectMeta: metav1.ObjectMeta{Namespace: fleetv1alpha1.PlatformNamespace, Name: "incident"},
		Spec: fleetv1alpha1.DriftExceptionSpec{Resources: []fleetv1alpha1.ResourceSelector{{Kind: "ConfigMap"}}, ExpiresAt: expires}}
	kept := &fleetv1alpha1.Work{Spec: fleetv1alpha1.WorkSpec{Cluster: "edge-1", Revision: "r1",
		Manifests:       []fleetv1alpha1.Manifest{{RawExtension: runtime.RawExtension{Raw: out.Manifests[0]}}},
		DriftExceptions: WorkExceptions(view, "edge-1", out.Objects, []fleetv1alpha1.DriftException{incident})}}
	if len(kept.Spec.DriftExceptions) != 1 {
		t.Fatalf("the Work carries %v, want the incident's exception", kept.Spec.DriftExceptions)
	}

	if _, ok := ExceptionsOnly(kept, WorkInputs{View: view, Exceptions: []fleetv1alpha1.DriftException{incident}}); ok {
		t.Error("a write with the exceptions as they are")
	}
	w, ok := ExceptionsOnly(kept, WorkInputs{View: view})
	if !ok || w.Op != Update || len(w.Desired.Spec.DriftExceptions) != 0 || w.Desired.Spec.Revision != "r1" ||
		len(w.Desired.Spec.Manifests) != 1 || len(kept.Spec.DriftExceptions) != 1 {
		t.Errorf("revoked: write %v (%+v), want an update of the exceptions alone, the kept Work untouched", ok, w.Desired)
	}
	if _, ok := ExceptionsOnly(nil, WorkInputs{View: view}); ok {
		t.Error("a write with no Work")
	}
}
