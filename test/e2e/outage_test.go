package e2e

import (
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// hubOutage is how long the hub's kube-apiserver stays down in the story.
const hubOutage = 30 * time.Second

// The story: two edge members run a shop through their agents. The hub's API
// server goes away for 30 seconds; during the outage member-2's agent is
// restarted, so it must start from its local state without the hub. When the
// hub returns, both agents pick up new Work and report status again, and
// nothing on either member was deleted, recreated or restarted.
func TestAgentsSurviveHubOutage(t *testing.T) {
	t.Parallel() // its own fleet: see givenFleetWith
	start := time.Now()
	f := givenFleet(t, 2)
	for _, member := range []string{"member-1", "member-2"} {
		f.thenClusterIs(member, fleetv1alpha1.ClusterAvailabilityAvailable, 30*time.Second)
		f.whenWorkIsCreated(member, "shop", "shop-1", shopManifests("v1")...)
		f.thenWorkIsReady(member, "shop", "shop-1", time.Minute)
	}
	watched := []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}},
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "settings"}},
		&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web"}},
	}
	t.Logf("fleet ready and serving Work in %s", time.Since(start).Round(time.Millisecond))
	before := map[string]snapshot{}
	for _, member := range []string{"member-1", "member-2"} {
		before[member] = f.snapshot(member, watched...)
	}

	// What the hub showed of each heartbeat, logged if the story fails: a
	// Cluster left Offline after the outage is told apart from a late
	// heartbeat by it.
	trace := f.traceLiveness("member-1", "member-2")
	// When the hub's API server goes down…
	trace.mark("stopping the hub's API server")
	f.env.Hub.StopAPIServer()
	trace.mark("hub's API server stopped")
	outageStart := time.Now()
	// …and member-2's agent restarts while it is down.
	if err := f.env.StopAgent("member-2"); err != nil {
		t.Fatalf("stopping agent: %v", err)
	}
	if err := f.env.StartAgent("member-2"); err != nil {
		t.Fatalf("starting agent: %v", err)
	}
	time.Sleep(hubOutage - time.Since(outageStart))
	for _, member := range []string{"member-1", "member-2"} {
		f.thenUnchanged(member, before[member], watched...)
	}
	if err := f.env.Hub.StartAPIServer(t.Context()); err != nil {
		t.Fatalf("restarting the hub API server: %v", err)
	}
	trace.mark("hub's API server serving again")

	// Then both agents take new Work from the hub again and report it.
	back := time.Now()
	for _, member := range []string{"member-1", "member-2"} {
		f.whenWorkIsUpdated(member, "shop", "shop-2", shopManifests("v2")...)
		t.Logf("%s: work updated %s after the hub returned", member, time.Since(back).Round(time.Millisecond))
		trace.mark(member + ": work updated")
		f.thenConfigMapHas(member, "shop", "settings", "release", "v2", time.Minute)
		t.Logf("%s: change applied %s after the hub returned", member, time.Since(back).Round(time.Millisecond))
		trace.mark(member + ": change applied")
		f.thenWorkIsReady(member, "shop", "shop-2", time.Minute)
		t.Logf("%s: status reported %s after the hub returned", member, time.Since(back).Round(time.Millisecond))
		trace.mark(member + ": status reported")
		f.thenClusterIs(member, fleetv1alpha1.ClusterAvailabilityAvailable, 30*time.Second)
		// The ConfigMap changed in place; nothing was recreated and no pod restarted.
		f.thenUnchanged(member, before[member], watched...)
	}
}

// shopManifests is a namespace, a ConfigMap carrying the release, and a
// Deployment that stays the same across releases (so its pods must survive).
func shopManifests(release string) []runtime.Object {
	labels := map[string]string{"app": "web"}
	return []runtime.Object{
		&corev1.Namespace{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"}, ObjectMeta: metav1.ObjectMeta{Name: "shop"}},
		&corev1.ConfigMap{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
			ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "settings"},
			Data:       map[string]string{"release": release},
		},
		&appsv1.Deployment{
			TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
			ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web"},
			Spec: appsv1.DeploymentSpec{
				Replicas: ptr.To[int32](2),
				Selector: &metav1.LabelSelector{MatchLabels: labels},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: labels},
					Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "registry.example/shop:1"}}},
				},
			},
		},
	}
}
