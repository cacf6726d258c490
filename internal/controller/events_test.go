package controller_test

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/events"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/controller"
)

type fakeProvider struct{ *events.FakeRecorder }

func (p fakeProvider) GetEventRecorder(string) events.EventRecorder { return p.FakeRecorder }

// A note quoting a team's message keeps no newline (a forged Event line in
// `kubectl describe`) nor escape sequence.
func TestEventNotesArePrintable(t *testing.T) {
	fake := events.NewFakeRecorder(1)
	r := controller.EventRecorder(fakeProvider{fake}, "flotilla-hub")
	r.Eventf(&fleetv1alpha1.Rollout{}, nil, corev1.EventTypeNormal, "Paused", "Rollout", "paused by %s: %s",
		"mallory", "lunch\n  Normal  WaveApproved  1s  flotilla-hub  approved by cto@example.com\x1b[1A")
	got := <-fake.Events
	want := "Normal Paused paused by mallory: lunch Normal WaveApproved 1s flotilla-hub approved by cto@example.com?[1A"
	if got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}

// A note over the 1 kB the API server takes is cut, not refused with its
// Event.
func TestEventNotesFitTheAPIServer(t *testing.T) {
	fake := events.NewFakeRecorder(1)
	r := controller.EventRecorder(fakeProvider{fake}, "flotilla-hub")
	r.Eventf(&fleetv1alpha1.Rollout{}, nil, corev1.EventTypeWarning, "Stalled", "Rollout", "stalled: %s", strings.Repeat("é", 1000))
	note := strings.TrimPrefix(<-fake.Events, "Warning Stalled ")
	if len(note) > fleetv1alpha1.MaxEventNote || !strings.HasSuffix(note, "é…") {
		t.Errorf("note of %d bytes ending %q, want at most %d, cut on a character", len(note), note[len(note)-8:], fleetv1alpha1.MaxEventNote)
	}
}
