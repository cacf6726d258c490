package agent

import (
	"context"
	"errors"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// Which request each renewal sends: a patch first, updates of the stored
// Lease after, a patch again at once on a conflict and on the renewal after
// any other failure. (The real hub's side is covered by every test whose
// cluster turns Available; this pins the branches.)
func TestLeaseRenewalPatchesFirstThenUpdates(t *testing.T) {
	ns := fleetv1alpha1.ClusterNamespace("edge-1")
	kube := fake.NewClientset(&coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{
		Namespace: ns, Name: fleetv1alpha1.AgentLease, ResourceVersion: "1",
		Annotations: map[string]string{"owner": "join"},
	}})
	var verbs []string
	var failNext error
	kube.PrependReactor("*", "leases", func(action k8stesting.Action) (bool, runtime.Object, error) {
		verbs = append(verbs, action.GetVerb())
		if err := failNext; err != nil {
			failNext = nil
			return true, nil, err
		}
		return false, nil, nil
	})
	h := &hubClient{cluster: "edge-1", namespace: ns, leases: kube.CoordinationV1().Leases(ns)}
	facts := &clusterFacts{KubernetesVersion: "v1.34.1", NodeCount: 3}
	renewAt := func(sec int) error {
		return h.renewLease(context.Background(), "agent-0", 3*time.Minute, time.Unix(int64(sec), 0), facts, agentIdentity{Version: "v0.9.0", Mode: fleetv1alpha1.AgentModeReportOnly})
	}
	expect := func(step string, err error, want ...string) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		if len(verbs) != len(want) {
			t.Fatalf("%s: requests %v, want %v", step, verbs, want)
		}
		for i := range want {
			if verbs[i] != want[i] {
				t.Fatalf("%s: requests %v, want %v", step, verbs, want)
			}
		}
		verbs = nil
	}

	expect("first renewal", renewAt(100), "patch")
	expect("second renewal", renewAt(160), "update")
	expect("third renewal", renewAt(220), "update")

	lease, err := kube.CoordinationV1().Leases(ns).Get(context.Background(), fleetv1alpha1.AgentLease, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	verbs = nil
	if got := lease.Spec.RenewTime.Unix(); got != 220 || *lease.Spec.HolderIdentity != "agent-0" || *lease.Spec.LeaseDurationSeconds != 180 {
		t.Errorf("lease spec after updates: renew %d, holder %q, duration %d", got, *lease.Spec.HolderIdentity, *lease.Spec.LeaseDurationSeconds)
	}
	if lease.Annotations["owner"] != "join" || lease.Annotations[fleetv1alpha1.AnnotationKubernetesVersion] != "v1.34.1" ||
		lease.Annotations[fleetv1alpha1.AnnotationNodeCount] != "3" || lease.Annotations[fleetv1alpha1.AnnotationAgentVersion] != "v0.9.0" ||
		lease.Annotations[fleetv1alpha1.AnnotationAgentMode] != fleetv1alpha1.AgentModeReportOnly {
		t.Errorf("annotations after updates: %v", lease.Annotations)
	}

	gr := schema.GroupResource{Group: "coordination.k8s.io", Resource: "leases"}
	failNext = apierrors.NewConflict(gr, fleetv1alpha1.AgentLease, errors.New("the object has been modified"))
	expect("a conflicting update falls back to a patch at once", renewAt(280), "update", "patch")
	expect("then updates again", renewAt(340), "update")

	failNext = apierrors.NewTooManyRequests("overloaded", 1)
	if err := renewAt(400); err == nil {
		t.Fatal("a refused renewal reported no error")
	}
	verbs = nil
	expect("after a failure the next renewal patches", renewAt(460), "patch")
	expect("and updates after it", renewAt(520), "update")
}
