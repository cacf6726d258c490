package membership

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// The attack: the agent of a cluster that is later unjoined opens, while it
// still may, a watch of its Works with a long timeout (the API server takes
// the client's timeoutSeconds as it is, and authorizes a watch once, when
// it starts). After unjoin its token is revoked, but the watch stays open on
// the path namespaces/flotilla-cluster-NAME/works; once the namespace is gone
// and another cluster is joined under the same name, the Works the hub writes
// for the new cluster (rendered Secrets included) reach the old agent (seen
// before the fix: the ADDED event of the new cluster's Work arrived). Now
// unjoin records the name and join refuses it unless ReuseName.
func TestAnUnjoinedAgentSeesNoWorkOfALaterClusterOfItsName(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	admin := adminClient(t)
	const name = "rw-1"
	ns := fleetv1alpha1.ClusterNamespace(name)

	w := unjoinedWatching(ctx, t, name)

	// Another cluster takes the name: refused, so the hub writes no Work
	// there for the old agent to see.
	if _, err := Join(ctx, hub.RESTConfig, JoinOptions{Name: name}); !errors.Is(err, ErrNameUnjoined) ||
		!strings.Contains(err.Error(), "--reuse-name") {
		t.Fatalf("join of an unjoined name = %v, want ErrNameUnjoined", err)
	}
	if err := admin.Get(ctx, client.ObjectKey{Name: ns}, &corev1.Namespace{}); !apierrors.IsNotFound(err) {
		t.Fatalf("the refused join left namespace %s: %v", ns, err)
	}
	if err := admin.Get(ctx, client.ObjectKey{Name: name}, &fleetv1alpha1.Cluster{}); !apierrors.IsNotFound(err) {
		t.Fatalf("the refused join left Cluster %s: %v", name, err)
	}
	secret := testWork(name)
	secret.Name = "new-clusters-secret"
	if err := admin.Create(ctx, secret); !apierrors.IsNotFound(err) {
		t.Fatalf("creating a Work in the name's namespace after the refused join: %v, want NotFound", err)
	}
	timeout := time.After(2 * time.Second)
	for done := false; !done; {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				done = true
				break
			}
			if work, isWork := ev.Object.(*fleetv1alpha1.Work); isWork && work.Name == secret.Name {
				t.Fatalf("the unjoined agent received the new cluster's Work %s/%s (%s) on its old watch", work.Namespace, work.Name, ev.Type)
			}
		case <-timeout:
			done = true
		}
	}
	w.Stop()

	// Once the platform says the old watches are gone (the hub's API servers
	// restarted), the name is joined again, and the record goes with it.
	if _, err := Join(ctx, hub.RESTConfig, JoinOptions{Name: name, ReuseName: true}); err != nil {
		t.Fatalf("join with ReuseName: %v", err)
	}
	if _, err := Join(ctx, hub.RESTConfig, JoinOptions{Name: name}); err != nil {
		t.Fatalf("join again after the name was reused: %v", err)
	}
}

// unjoinedWatching joins cluster name, has its agent open a watch of its
// Works with an hour's timeout, unjoins it and waits until its token is
// refused, and returns the watch, still open (stopped when the test ends).
// The test hub runs no namespace controller: it finishes the namespace's
// deletion as that would (nothing is left in it).
func unjoinedWatching(ctx context.Context, t *testing.T, name string) watch.Interface {
	t.Helper()
	joined, err := Join(ctx, hub.RESTConfig, JoinOptions{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	agent := agentClient(t, joined.HubKubeconfig)
	w, err := agent.Watch(ctx, &fleetv1alpha1.WorkList{}, client.InNamespace(fleetv1alpha1.ClusterNamespace(name)),
		&client.ListOptions{Raw: &metav1.ListOptions{TimeoutSeconds: ptr.To(int64(3600))}})
	if err != nil {
		t.Fatalf("the agent watching its Works: %v", err)
	}
	t.Cleanup(w.Stop)
	if err := Unjoin(ctx, hub.RESTConfig, name, UnjoinOptions{}); err != nil {
		t.Fatal(err)
	}
	// The old token is refused from now on (after the API server's cache).
	if err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 20*time.Second, true, func(ctx context.Context) (bool, error) {
		_, err := whoAmI(ctx, agent)
		return apierrors.IsUnauthorized(err), nil
	}); err != nil {
		t.Fatal("the unjoined agent's token still authenticates")
	}
	hub.RemoveNamespace(ctx, t, fleetv1alpha1.ClusterNamespace(name))
	return w
}

// deletionRefusedSoon waits (up to 5 s) until a dry run of obj's deletion is
// refused (want) or let through (!want): the API server enforces a policy a
// moment after it sees it, and its params a moment after they change. The
// test's own deletion then meets the policy as it stands.
func deletionRefusedSoon(ctx context.Context, c client.Client, obj client.Object, want bool) {
	_ = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 5*time.Second, true, func(ctx context.Context) (bool, error) {
		return apierrors.IsForbidden(c.Delete(ctx, obj.DeepCopyObject().(client.Object), client.DryRunAll)) == want, nil
	})
}
