package promise_test

import (
	"strings"
	"testing"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// A platform engineer deletes the CRD the hub generated for a Promise
// (`kubectl delete crd`, cleaning up, or `-l` matching more than meant),
// not the Promise, whose deletion waits for its instances. The API server
// deleted every instance with it; the hub, seeing each instance deleted,
// deleted its Works, and the agents pruned every team's workloads from
// every member, past the Promise's guard. The API server now refuses it,
// naming the Promise.
func TestDeletingAPromisesCRDIsRefused(t *testing.T) {
	e := newEnv(t)
	startHub(t)
	const group, kind, name = "crddel.example.com", "CrdDelDb", "crddel-db"
	givenOrders(e, "crddel", group, kind, name)

	crd := &apiextensionsv1.CustomResourceDefinition{}
	crds := crdClient(t)
	if err := crds.Get(e.Ctx, client.ObjectKey{Name: "crddeldbs." + group}, crd); err != nil {
		t.Fatal(err)
	}
	err := crds.Delete(e.Ctx, crd)
	if err == nil {
		t.Error("the API server deleted the Promise's CRD")
	} else if !strings.Contains(err.Error(), "Promise "+name) {
		t.Errorf("deleting the CRD: %v, want a refusal naming the Promise", err)
	}
	time.Sleep(3 * time.Second)
	if e.Work(name, "crddel-team", "orders", "crddel-c1") == nil {
		t.Fatal("the team's Work was deleted with the CRD")
	}
}
