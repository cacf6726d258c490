package agent

import (
	"context"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/health"
)

func simWorkload(kind, image string) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apps/v1", "kind": kind,
		"metadata": map[string]any{"name": "web", "namespace": "team-a", "labels": map[string]any{fleetv1alpha1.LabelWork: "w1"}},
		"spec": map[string]any{"replicas": int64(2), "template": map[string]any{"spec": map[string]any{
			"containers": []any{map[string]any{"name": "web", "image": image}},
		}}},
	}}
}

// clock is a settable time for the member.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestSimMemberWorkloadsBecomeAvailableAfterLatency(t *testing.T) {
	ctx := context.Background()
	for _, kind := range []string{"Deployment", "StatefulSet", "DaemonSet"} {
		t.Run(kind, func(t *testing.T) {
			c := &clock{t: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)}
			m := NewSimMember(SimMemberOptions{ApplyLatency: 2 * time.Second, Now: c.now})
			out, err := m.apply(ctx, simWorkload(kind, "web:1"))
			if err != nil {
				t.Fatal(err)
			}
			if out.GetGeneration() != 1 || out.GetUID() == "" || out.GetResourceVersion() == "" {
				t.Fatalf("stored object lacks server fields: %v", out.Object["metadata"])
			}
			if h := health.Of(out); h.Status != fleetv1alpha1.HealthInProgress {
				t.Fatalf("just applied: %+v, want InProgress", h)
			}
			c.t = c.t.Add(2 * time.Second)
			live, err := m.get(ctx, refOf(out))
			if err != nil {
				t.Fatal(err)
			}
			if h := health.Of(live); h.Status != fleetv1alpha1.HealthCurrent {
				t.Fatalf("after the latency: %+v, want Current", h)
			}
			if live.GetResourceVersion() == out.GetResourceVersion() {
				t.Error("the status change kept the resourceVersion")
			}

			// The same apply again changes nothing.
			again, err := m.apply(ctx, simWorkload(kind, "web:1"))
			if err != nil {
				t.Fatal(err)
			}
			if again.GetResourceVersion() != live.GetResourceVersion() || again.GetGeneration() != 1 || again.GetUID() != out.GetUID() {
				t.Errorf("a no-op apply changed the object: rv %s→%s generation %d", live.GetResourceVersion(), again.GetResourceVersion(), again.GetGeneration())
			}

			// A new spec is a new generation, in progress until the latency passed again.
			changed, err := m.apply(ctx, simWorkload(kind, "web:2"))
			if err != nil {
				t.Fatal(err)
			}
			if changed.GetGeneration() != 2 || health.Of(changed).Status != fleetv1alpha1.HealthInProgress {
				t.Fatalf("changed spec: generation %d health %+v", changed.GetGeneration(), health.Of(changed))
			}
			c.t = c.t.Add(2 * time.Second)
			if live, _ := m.get(ctx, refOf(out)); health.Of(live).Status != fleetv1alpha1.HealthCurrent {
				t.Fatalf("changed spec after the latency: %+v", health.Of(live))
			}
		})
	}
}

func TestSimMemberFailingRunsOnlyTheFirstSpec(t *testing.T) {
	ctx := context.Background()
	c := &clock{t: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)}
	m := NewSimMember(SimMemberOptions{Failing: true, Now: c.now})
	first, err := m.apply(ctx, simWorkload("Deployment", "web:1"))
	if err != nil {
		t.Fatal(err)
	}
	if h := health.Of(first); h.Status != fleetv1alpha1.HealthCurrent {
		t.Fatalf("first spec on a failing member: %+v, want Current", h)
	}
	if _, err := m.apply(ctx, simWorkload("Deployment", "web:2")); err != nil {
		t.Fatal(err)
	}
	c.t = c.t.Add(time.Hour)
	live, _ := m.get(ctx, refOf(first))
	if h := health.Of(live); h.Status != fleetv1alpha1.HealthInProgress {
		t.Fatalf("changed spec on a failing member an hour later: %+v, want InProgress", h)
	}
	// Going back to the first spec (a rollback) runs again.
	back, _ := m.apply(ctx, simWorkload("Deployment", "web:1"))
	if h := health.Of(back); h.Status != fleetv1alpha1.HealthCurrent {
		t.Fatalf("rolled back: %+v, want Current", h)
	}
}

func TestSimMemberKindsDeleteAndForeign(t *testing.T) {
	ctx := context.Background()
	m := NewSimMember(SimMemberOptions{})
	gvk := schema.GroupVersionKind{Group: "example.com", Version: "v1", Kind: "Widget"}
	if _, err := m.namespaced(gvk); !meta.IsNoMatchError(err) {
		t.Fatalf("unknown kind: %v, want a no-match error", err)
	}
	crd := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
		"metadata": map[string]any{"name": "widgets.example.com"},
		"spec":     map[string]any{"group": "example.com", "scope": "Namespaced", "names": map[string]any{"kind": "Widget", "plural": "widgets"}},
	}}
	out, err := m.apply(ctx, crd)
	if err != nil {
		t.Fatal(err)
	}
	if h := health.Of(out); h.Status != fleetv1alpha1.HealthCurrent {
		t.Fatalf("CRD: %+v, want Current (Established)", h)
	}
	m.resetKinds()
	if ns, err := m.namespaced(gvk); err != nil || !ns {
		t.Fatalf("kind after reset: %v %v", ns, err)
	}
	widget := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "example.com/v1", "kind": "Widget", "metadata": map[string]any{"name": "w", "namespace": "team-a"},
	}}
	if _, err := m.apply(ctx, widget); err != nil {
		t.Fatal(err)
	}
	if _, err := m.apply(ctx, simWorkload("Deployment", "web:1")); err != nil {
		t.Fatal(err)
	}
	if got, _ := m.foreign(ctx, refOf(out), "w1", 5); len(got) != 1 || got[0] != "Widget/team-a/w" {
		t.Errorf("foreign of the CRD: %v", got)
	}
	nsRef := objectRef{Version: "v1", Kind: "Namespace", Name: "team-a"}
	if got, _ := m.foreign(ctx, nsRef, "w1", 5); len(got) != 1 || got[0] != "Widget/w" {
		t.Errorf("foreign of the namespace (the Deployment carries the Work's label): %v", got)
	}
	if err := m.delete(ctx, refOf(out), "other-uid"); !apierrors.IsConflict(err) {
		t.Errorf("delete with a stale uid: %v, want a conflict", err)
	}
	if err := m.delete(ctx, refOf(out), out.GetUID()); err != nil {
		t.Fatal(err)
	}
	if _, err := m.get(ctx, refOf(widget)); !apierrors.IsNotFound(err) {
		t.Errorf("custom resource after its CRD was deleted: %v", err)
	}
	m.resetKinds()
	if _, err := m.namespaced(gvk); !meta.IsNoMatchError(err) {
		t.Errorf("kind of a deleted CRD after reset: %v", err)
	}
	if _, err := m.apply(ctx, widget); !meta.IsNoMatchError(err) {
		t.Errorf("apply of a kind no longer served: %v", err)
	}
	if m.Objects() != 1 {
		t.Errorf("objects left: %d, want the Deployment", m.Objects())
	}
}

// TestSimMemberNotifiesWhenAWorkloadSettles: an agent on the in-memory
// member learns of a workload becoming available as a drift watch on a real
// member would, without reading it; a spec the member fails, or one changed
// again before it settled, tells nothing for the older spec.
func TestSimMemberNotifiesWhenAWorkloadSettles(t *testing.T) {
	ctx := context.Background()
	const latency = 50 * time.Millisecond
	for _, tc := range []struct {
		name    string
		failing bool
		images  []string
		want    int
	}{
		{name: "settles", images: []string{"web:1"}, want: 1},
		{name: "changed again before it settled", images: []string{"web:1", "web:2"}, want: 1},
		{name: "failing member, first spec", failing: true, images: []string{"web:1"}, want: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := NewSimMember(SimMemberOptions{ApplyLatency: latency, Failing: tc.failing})
			told := make(chan string, 10)
			m.notifyStatus(func(label string) { told <- label })
			var last *unstructured.Unstructured
			for _, img := range tc.images {
				out, err := m.apply(ctx, simWorkload("Deployment", img))
				if err != nil {
					t.Fatal(err)
				}
				last = out
			}
			got := 0
			timeout := time.After(10 * latency)
		wait:
			for {
				select {
				case label := <-told:
					if label != "w1" {
						t.Fatalf("told %q, want the object's LabelWork value w1", label)
					}
					got++
				case <-timeout:
					break wait
				}
			}
			if got != tc.want {
				t.Fatalf("told %d times, want %d", got, tc.want)
			}
			live, err := m.get(ctx, refOf(last))
			if err != nil {
				t.Fatal(err)
			}
			if h := health.Of(live); h.Status != fleetv1alpha1.HealthCurrent {
				t.Fatalf("after the notice: %+v, want Current", h)
			}
			if !tc.failing {
				return
			}
			// The failing member never runs a changed spec: no notice.
			if _, err := m.apply(ctx, simWorkload("Deployment", "web:3")); err != nil {
				t.Fatal(err)
			}
			select {
			case <-told:
				t.Fatal("told of a spec the failing member never runs")
			case <-time.After(4 * latency):
			}
		})
	}
}
