package membership

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// An agent's Event, in its own namespace, may name an object of any kind
// there: one "regarding" Cluster B (cluster-scoped) given the agent's own
// namespace, from the hub's reporting controller with the hub's reason, is
// what `kubectl events -A --for cluster/B` (kind, apiVersion and name, in
// every namespace) and an Event exporter routing by kind show as the hub's
// word that B went offline. An agent's Event is about its Works alone, and
// never in the hub's name.
func TestAnAgentsEventsAreAboutItsWorksInItsOwnName(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	admin := adminClient(t)
	a, b := "evw-a", "evw-b"
	ns := fleetv1alpha1.ClusterNamespace(a)
	joined, err := Join(ctx, hub.RESTConfig, JoinOptions{Name: a})
	if err != nil {
		t.Fatal(err)
	}
	agent := agentClient(t, joined.HubKubeconfig)
	group := fleetv1alpha1.GroupVersion.String()
	forged := func(kind, name string) *eventsv1.Event {
		return &eventsv1.Event{
			ObjectMeta:          metav1.ObjectMeta{Namespace: ns, GenerateName: "forged-"},
			EventTime:           metav1.NewMicroTime(time.Now()),
			ReportingController: "flotilla-hub", ReportingInstance: "flotilla-hub-0",
			Action: "Heartbeat", Reason: "ClusterOffline", Type: corev1.EventTypeWarning,
			Note:      "Available -> Offline: no heartbeat for 5m0s",
			Regarding: corev1.ObjectReference{Kind: kind, APIVersion: group, Namespace: ns, Name: name},
		}
	}
	legacy := func(kind, name, component string) *corev1.Event {
		return &corev1.Event{
			ObjectMeta:     metav1.ObjectMeta{Namespace: ns, GenerateName: "forged-"},
			InvolvedObject: corev1.ObjectReference{Kind: kind, APIVersion: group, Namespace: ns, Name: name},
			Reason:         "ClusterOffline", Message: "Available -> Offline: no heartbeat for 5m0s",
			Type: corev1.EventTypeWarning, Source: corev1.EventSource{Component: component},
		}
	}
	relatedToRollout := testEvent(ns)
	relatedToRollout.Related = &corev1.ObjectReference{Kind: "Rollout", APIVersion: group, Namespace: ns, Name: "web-r2"}
	ownWorkAsTheHub := testEvent(ns)
	ownWorkAsTheHub.ReportingController = "flotilla-hub"
	ownWorkAsTheHubLegacy := legacy("Work", "web", "flotilla-hub")
	ownWorkAsTheHubLegacy.ReportingController = "flotilla-agent"
	refused := []struct {
		name  string
		event client.Object
	}{
		{"events.k8s.io, regarding B's Cluster named in its namespace", forged("Cluster", b)},
		{"events.k8s.io, regarding a Rollout named in its namespace", forged("Rollout", "web-r2")},
		{"events.k8s.io, regarding a FleetFreeze named in its namespace", forged("FleetFreeze", "halt")},
		{"events.k8s.io, related to a Rollout named in its namespace", relatedToRollout},
		{"events.k8s.io, about its Work from the hub", ownWorkAsTheHub},
		{"core, regarding B's Cluster named in its namespace", legacy("Cluster", b, "flotilla-agent")},
		{"core, regarding a Promise named in its namespace", legacy("Promise", "web", "flotilla-agent")},
		{"core, about its Work from the hub", legacy("Work", "web", "flotilla-hub")},
		{"core, about its Work with the hub's source", ownWorkAsTheHubLegacy},
	}
	// The policy join applied reaches admission within a moment: until it
	// refuses an Event about the platform's Rollout, remove what got through.
	onTheRollout := forged("Rollout", "web-r2")
	onTheRollout.Regarding.Namespace = fleetv1alpha1.PlatformNamespace
	deadline := time.Now().Add(15 * time.Second)
	for {
		err := agent.Create(ctx, onTheRollout.DeepCopy())
		if apierrors.IsForbidden(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("an Event about the platform's Rollout: got %v, want 403 Forbidden", err)
		}
		time.Sleep(250 * time.Millisecond)
	}
	if err := admin.DeleteAllOf(ctx, &eventsv1.Event{}, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	for _, c := range refused {
		if err := agent.Create(ctx, c.event); !apierrors.IsForbidden(err) {
			t.Errorf("%s: got %v, want 403 Forbidden", c.name, err)
		}
	}
	// What `kubectl events -A --for cluster/B` lists: no agent's word.
	shown := &corev1.EventList{}
	if err := admin.List(ctx, shown, client.MatchingFieldsSelector{Selector: fields.AndSelectors(
		fields.OneTermEqualSelector("involvedObject.kind", "Cluster"),
		fields.OneTermEqualSelector("involvedObject.apiVersion", group),
		fields.OneTermEqualSelector("involvedObject.name", b))}); err != nil {
		t.Fatal(err)
	}
	for _, e := range shown.Items {
		t.Errorf("kubectl events --for cluster/%s shows %s/%s from %s: %s %s", b, e.Namespace, e.Name,
			e.Source.Component+e.ReportingController, e.Reason, e.Message)
	}

	// What the agent writes still goes: its recorder's Events about its Works.
	work := testWork(a)
	if err := admin.Create(ctx, work); err != nil {
		t.Fatal(err)
	}
	// As the agent's recorder writes them (internal/agent, makeEvent).
	own := legacy("Work", work.Name, "flotilla-agent")
	own.ReportingController, own.ReportingInstance = "flotilla-agent", a
	own.Type, own.Reason, own.Message = corev1.EventTypeNormal, fleetv1alpha1.ReasonDriftCorrected, "corrected drift on ConfigMap/web"
	if err := agent.Create(ctx, own); err != nil {
		t.Errorf("create the agent's Event about its Work: %v", err)
	}
	if err := agent.Create(ctx, testEvent(ns)); err != nil {
		t.Errorf("create an events.k8s.io Event about its Work: %v", err)
	}
}
