package instanceplan

import (
	"fmt"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/drift"
	"github.com/flotilla-dev/flotilla/internal/placement"
)

// manyExceptions are n DriftExceptions of team-a, each with 32 selectors of
// ConfigMaps no Work has.
func manyExceptions(n int) []fleetv1alpha1.DriftException {
	sels := make([]fleetv1alpha1.ResourceSelector, 32)
	for j := range sels {
		sels[j] = fleetv1alpha1.ResourceSelector{Kind: "ConfigMap", Name: fmt.Sprintf("nomatch-%d", j)}
	}
	excs := make([]fleetv1alpha1.DriftException, n)
	for i := range excs {
		excs[i] = fleetv1alpha1.DriftException{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: fmt.Sprintf("e%d", i)},
			Spec: fleetv1alpha1.DriftExceptionSpec{Resources: sels, ExpiresAt: metav1.Time{Time: time.Now().Add(time.Hour)}}}
	}
	return excs
}

// fullWork is the objects of a Work as large as the API allows: 500 ConfigMaps.
func fullWork() []drift.Resource {
	objects := make([]drift.Resource, 500)
	for i := range objects {
		objects[i] = drift.Resource{Kind: "ConfigMap", Namespace: "team-a", Name: fmt.Sprintf("cm-%d", i)}
	}
	return objects
}

// TestManyDriftExceptionsAreMatchedQuickly: a team declaring 10,000
// DriftExceptions (nothing bounds how many) of 32 selectors that match
// nothing made the hub scan each Work's 500 objects per selector: 1.2 s of
// CPU per Work, for every cluster of every instance of the team at every
// reconcile (and each change of an exception brings them back), holding the
// render workers every team shares. A Work's objects are now indexed once.
func TestManyDriftExceptionsAreMatchedQuickly(t *testing.T) {
	view := placement.NewView([]placement.Cluster{{Name: "c1"}}, nil)
	excs := manyExceptions(10_000)
	match := excs[9_999].DeepCopy()
	match.Name, match.Spec.Resources = "zz-match", []fleetv1alpha1.ResourceSelector{{Kind: "ConfigMap", Name: "cm-499"}}
	excs = append(excs, *match)
	start := time.Now()
	got := WorkExceptions(view, "c1", fullWork(), excs)
	if took := time.Since(start); took > 300*time.Millisecond {
		t.Errorf("matching 10,000 exceptions against a Work took %v", took)
	}
	if len(got) != 1 || got[0].Name != "team-a/zz-match" {
		t.Errorf("exceptions %+v, want team-a/zz-match", got)
	}
}

func BenchmarkWorkExceptions(b *testing.B) {
	view := placement.NewView([]placement.Cluster{{Name: "c1"}}, nil)
	excs, objects := manyExceptions(1_000), fullWork()
	for b.Loop() {
		WorkExceptions(view, "c1", objects, excs)
	}
}

// FuzzObjectIndex: the index selects exactly what drift.SelectorMatches
// does, an object without a namespace matching a selector of any.
func FuzzObjectIndex(f *testing.F) {
	f.Add("apps", "Deployment", "team-a", "web", "*", "Deployment", "", "")
	f.Add("", "ClusterRole", "", "reader", "", "ClusterRole", "team-a", "reader")
	f.Add("", "ConfigMap", "team-a", "x", "", "ConfigMap", "team-b", "x")
	f.Add("apps", "Deployment", "team-a", "web", "", "Deployment", "team-a", "web")
	f.Fuzz(func(t *testing.T, group, kind, namespace, name, selGroup, selKind, selNamespace, selName string) {
		r := drift.Resource{Group: group, Kind: kind, Namespace: namespace, Name: name}
		sel := fleetv1alpha1.ResourceSelector{Group: selGroup, Kind: selKind, Namespace: selNamespace, Name: selName}
		res := r
		if res.Namespace == "" {
			res.Namespace = sel.Namespace
		}
		want := drift.SelectorMatches(sel, res)
		if got := indexObjects([]drift.Resource{r}).selects([]fleetv1alpha1.ResourceSelector{sel}); got != want {
			t.Fatalf("selector %+v on %+v: index says %v, SelectorMatches %v", sel, r, got, want)
		}
	})
}
