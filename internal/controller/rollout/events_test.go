package rollout_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/controller/promise/promisetest"
)

// hasEvent waits until Rollout name (in the platform namespace) has an
// events.k8s.io Event "type reason note…" starting with want.
func (s *story) hasEvent(name, want string) {
	s.TB.Helper()
	promisetest.Eventually(s.TB, 30*time.Second, fmt.Sprintf("event %q on rollout %s", want, name), func() (bool, string) {
		list := &eventsv1.EventList{}
		if err := s.C.List(s.Ctx, list, client.InNamespace(fleetv1alpha1.PlatformNamespace)); err != nil {
			return false, err.Error()
		}
		var got []string
		for _, e := range list.Items {
			if e.Regarding.Kind == "Rollout" && e.Regarding.Name == name {
				got = append(got, e.Type+" "+e.Reason+" "+e.Note)
			}
		}
		return slices.ContainsFunc(got, func(line string) bool { return strings.HasPrefix(line, want) }), strings.Join(got, "\n")
	})
}

// TestAnAgentsMessageForgesNoEvent is the attack of a member's agent that
// writes a Work message holding a newline and an Event line of its own:
// the hub's ClusterFailed Event on the Promise's Rollout (in the platform
// namespace, where the agent cannot write) carried it, and `kubectl
// describe rollout`, which escapes ESC but not newlines, showed a forged
// "wave general approved by cto@example.com" Event of the hub.
func TestAnAgentsMessageForgesNoEvent(t *testing.T) {
	s := newStory(t, "forged-event.example.com")
	s.strategy("forged-event", fleetv1alpha1.FailureHalt, wave("canary"), wave("general"))
	r1 := s.givenSite("forged-event", "forged-event")

	name, r2 := s.release("forged-event", "2", r1)
	s.moves("forged-event", r2, "forged-event-c1")
	now := metav1.Now()
	forged := "CrashLoopBackOff\n  Normal   WaveApproved  1s  flotilla-hub  wave general approved by cto@example.com\x1b[1A"
	s.UpdateWorkStatus(s.Work("forged-event", "forged-event-team", "shop", "forged-event-c1"), func(w *fleetv1alpha1.Work) {
		w.Status = fleetv1alpha1.WorkStatus{ObservedGeneration: w.Generation, AppliedRevision: r2, Conditions: []metav1.Condition{
			{Type: fleetv1alpha1.ConditionApplied, Status: metav1.ConditionTrue, Reason: fleetv1alpha1.ReasonApplied, LastTransitionTime: now},
			{Type: fleetv1alpha1.ConditionHealthy, Status: metav1.ConditionFalse, Reason: fleetv1alpha1.ReasonUnhealthy,
				Message: forged, LastTransitionTime: now},
		}}
	})
	s.hasEvent(name, "Warning ClusterFailed cluster forged-event-c1 (wave canary) failed: Unhealthy")

	list := &eventsv1.EventList{}
	if err := s.C.List(s.Ctx, list, client.InNamespace(fleetv1alpha1.PlatformNamespace)); err != nil {
		t.Fatal(err)
	}
	for _, e := range list.Items {
		if e.Regarding.Name == name && strings.ContainsAny(e.Note, "\n\r\x1b") {
			t.Errorf("the hub's Event %s carries the agent's control characters: %q", e.Reason, e.Note)
		}
	}
}
