package rollout_test

import (
	"strings"
	"testing"
	"time"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// A team member's message on its instance's Rollout (a pause, a resume, a
// rollback request, an approval: up to 1024 bytes each) is quoted in the
// Event of the transition it causes, which ends with who did it. A message
// long enough pushed that "(by bob)" past the note's 1 kB and off the
// Event, and one ending "(by cto@example.com)" where the note was cut made
// `kubectl describe rollout` name someone else as who paused it.
func TestATeamsLongMessageKeepsWhoDidItOnTheEvent(t *testing.T) {
	const forged = " (by cto@example.com)"
	actions := []struct {
		name string
		// act makes bob's change, with msg, on a rollout started at t0.
		act func(f *fixture, msg string)
	}{
		{"pause", func(f *fixture, msg string) {
			f.in.Spec.DesiredState = fleetv1alpha1.RolloutPaused
			f.in.Spec.StateChange = ptr(record("bob", f.in.Now, msg))
		}},
		{"resume", func(f *fixture, msg string) {
			f.in.Spec.DesiredState = fleetv1alpha1.RolloutPaused
			f.in.Spec.StateChange = ptr(record("bob", f.in.Now, ""))
			f.plan()
			f.at(2 * time.Minute)
			f.in.Spec.DesiredState = fleetv1alpha1.RolloutRunning
			f.in.Spec.StateChange = ptr(record("bob", f.in.Now, msg))
		}},
		{"rollback", func(f *fixture, msg string) {
			f.in.Spec.Rollback = &fleetv1alpha1.RollbackRequest{ChangeRecord: record("bob", f.in.Now, msg)}
		}},
		{"approve", func(f *fixture, msg string) {
			f.in.Spec.Approvals = []fleetv1alpha1.Approval{{Wave: "prod", ChangeRecord: record("bob", f.in.Now, msg)}}
		}},
	}
	for _, a := range actions {
		t.Run(a.name, func(t *testing.T) {
			// Every length of padding the cut may fall in, up to the API's
			// bound on a message.
			for pad := 900; pad+len(forged) <= 1024; pad++ {
				msg := strings.Repeat("x", pad) + forged
				f := newFixture(t, strategy(wave("prod", catchAll, concurrency("1"), approval)), clusters("m", 2)...)
				f.in.Spec.Approvals = []fleetv1alpha1.Approval{{Wave: "prod", ChangeRecord: record("alice", t0, "")}}
				if a.name == "approve" {
					f.in.Spec.Approvals = nil
				}
				f.plan()
				f.at(time.Minute)
				a.act(f, msg)
				f.plan()
				var found bool
				for _, e := range f.d.Events {
					if !strings.Contains(e.Message, "xxxx") {
						continue
					}
					found = true
					if len(e.Message) > fleetv1alpha1.MaxEventNote {
						t.Fatalf("pad %d: %s Event of %d bytes, the API server refuses over %d", pad, e.Reason, len(e.Message), fleetv1alpha1.MaxEventNote)
					}
					if !strings.HasSuffix(e.Message, " (by bob)") {
						t.Fatalf("pad %d: %s Event does not end with who did it (bob): …%s", pad, e.Reason, tail(e.Message))
					}
				}
				if !found {
					t.Fatalf("pad %d: no Event quotes bob's message: %+v", pad, f.d.Events)
				}
			}
		})
	}
}

// tail is the end of an Event's note, for a failure message.
func tail(s string) string {
	if len(s) <= 60 {
		return s
	}
	return s[len(s)-60:]
}
