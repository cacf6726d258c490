package controller

import (
	"context"
	"slices"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/kube"
)

// builderIndexer registers indexes on a fake client, which then answers
// MatchingFields lists the way the manager's cache does.
type builderIndexer struct{ b *fake.ClientBuilder }

func (i builderIndexer) IndexField(_ context.Context, obj client.Object, field string, extract client.IndexerFunc) error {
	i.b.WithIndex(obj, field, extract)
	return nil
}

func TestWorkIndexes(t *testing.T) {
	work := func(cluster, name, promise string, instance *fleetv1alpha1.InstanceReference) *fleetv1alpha1.Work {
		return &fleetv1alpha1.Work{
			ObjectMeta: metav1.ObjectMeta{Namespace: fleetv1alpha1.ClusterNamespace(cluster), Name: name},
			Spec:       fleetv1alpha1.WorkSpec{Cluster: cluster, Revision: promise + "-1", Subject: fleetv1alpha1.WorkSubject{Promise: promise, Instance: instance}},
		}
	}
	orders := &fleetv1alpha1.InstanceReference{Namespace: "team-a", Name: "orders"}
	b := fake.NewClientBuilder().WithScheme(kube.NewScheme()).WithObjects(
		work("a", "pg-orders", "postgres", orders),
		work("b", "pg-orders", "postgres", orders),
		work("a", "pg-fleet", "postgres", nil),
		work("a", "redis-cache", "redis", &fleetv1alpha1.InstanceReference{Namespace: "team-b", Name: "cache"}),
	)
	if err := SetupIndexes(context.Background(), builderIndexer{b}); err != nil {
		t.Fatal(err)
	}
	c := b.Build()

	for _, tt := range []struct {
		field, value string
		want         []string
	}{
		{IndexWorkByCluster, "a", []string{"a/pg-fleet", "a/pg-orders", "a/redis-cache"}},
		{IndexWorkByCluster, "c", nil},
		{IndexWorkByPromise, "postgres", []string{"a/pg-fleet", "a/pg-orders", "b/pg-orders"}},
		{IndexWorkByInstance, InstanceKey("team-a", "orders"), []string{"a/pg-orders", "b/pg-orders"}},
		{IndexWorkByInstance, InstanceKey("team-b", "cache"), []string{"a/redis-cache"}},
	} {
		works := &fleetv1alpha1.WorkList{}
		if err := c.List(context.Background(), works, client.MatchingFields{tt.field: tt.value}); err != nil {
			t.Fatalf("%s=%s: %v", tt.field, tt.value, err)
		}
		var got []string
		for _, w := range works.Items {
			got = append(got, w.Spec.Cluster+"/"+w.Name)
		}
		slices.Sort(got)
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s=%s: %v, want %v", tt.field, tt.value, got, tt.want)
		}
	}
}

// A fleet resources Work uses the namespaces its Namespace objects name and
// those its objects are in; they are read again only for a new generation,
// and forgotten with the Work.
func TestUsedNamespacesOfFleetResources(t *testing.T) {
	manifest := func(obj string) fleetv1alpha1.Manifest {
		return fleetv1alpha1.Manifest{RawExtension: runtime.RawExtension{Raw: []byte(obj)}}
	}
	w := &fleetv1alpha1.Work{
		ObjectMeta: metav1.ObjectMeta{Name: "op-fleet", UID: "u1", Generation: 1},
		Spec: fleetv1alpha1.WorkSpec{Subject: fleetv1alpha1.WorkSubject{Promise: "op"}, Manifests: []fleetv1alpha1.Manifest{
			manifest(`{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"operators"}}`),
			manifest(`{"apiVersion":"v1","kind":"ServiceAccount","metadata":{"name":"op","namespace":"operators"}}`),
			manifest(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c","namespace":"monitoring"}}`),
			manifest(`{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRole","metadata":{"name":"op"}}`),
		}},
	}
	t.Cleanup(func() { ForgetFleetNamespaces(w) })
	if got := UsedNamespaces(w); !slices.Equal(got, []string{"operators", "monitoring"}) {
		t.Fatalf("used namespaces %v", got)
	}
	w.Spec.Manifests = w.Spec.Manifests[2:]
	if got := UsedNamespaces(w); !slices.Equal(got, []string{"operators", "monitoring"}) {
		t.Errorf("the same generation was read again: %v", got)
	}
	w.Generation = 2
	if got := UsedNamespaces(w); !slices.Equal(got, []string{"monitoring"}) {
		t.Errorf("a new generation: %v", got)
	}
	ForgetFleetNamespaces(w)
	if _, kept := fleetNamespacesSeen.Load(w.UID); kept {
		t.Error("a deleted Work's namespaces are kept")
	}
}
