package membership

import (
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// An agent's stolen credentials cannot leave a finalizer behind on what they
// may write (its Lease, Events in its namespace): it would keep the cluster's
// namespace Terminating after unjoin, and its name from being joined again.
// Its heartbeat and Events still work.
func TestAgentCannotAddFinalizers(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	admin := adminClient(t)
	name := "fin-a"
	ns := fleetv1alpha1.ClusterNamespace(name)
	joined, err := Join(ctx, hub.RESTConfig, JoinOptions{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	agent := agentClient(t, joined.HubKubeconfig)
	lease := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fleetv1alpha1.AgentLease}}
	hold := client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"finalizers":["example.com/hold"]}}`))
	release := client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`))

	// The policy join applied reaches the API server's admission within a
	// moment: until it refuses, undo what got through and try again.
	deadline := time.Now().Add(15 * time.Second)
	for {
		err := agent.Patch(ctx, lease, hold)
		if apierrors.IsForbidden(err) {
			break
		}
		if err == nil {
			if err := admin.Patch(ctx, lease, release); err != nil {
				t.Fatal(err)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the agent added a finalizer to its Lease: err = %v, want 403 Forbidden", err)
		}
		time.Sleep(250 * time.Millisecond)
	}
	event := &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Namespace: ns, GenerateName: "agent-", Finalizers: []string{"example.com/hold"}},
		InvolvedObject: corev1.ObjectReference{Kind: "Work", Namespace: ns, Name: "web"},
		Reason:         "Applied", Message: "x", Type: corev1.EventTypeNormal,
	}
	if err := agent.Create(ctx, event); !apierrors.IsForbidden(err) {
		t.Errorf("the agent created an Event with a finalizer: err = %v, want 403 Forbidden", err)
	}
	if err := agent.Create(ctx, testEvent(ns)); err != nil {
		t.Errorf("create an Event: %v", err)
	}
	current := &coordinationv1.Lease{}
	if err := agent.Get(ctx, client.ObjectKeyFromObject(lease), current); err != nil {
		t.Fatal(err)
	}
	current.Spec.HolderIdentity, current.Spec.RenewTime = ptr.To("agent"), ptr.To(metav1.NewMicroTime(time.Now()))
	if err := agent.Update(ctx, current); err != nil {
		t.Errorf("renew its Lease: %v", err)
	}
	if len(current.Finalizers) != 0 {
		t.Errorf("the Lease carries finalizers %v", current.Finalizers)
	}
}
