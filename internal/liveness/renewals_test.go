package liveness

import (
	"testing"
	"time"
)

func TestObserve(t *testing.T) {
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	future := time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC)
	prev := &Renewal{Written: now.Add(-time.Minute), Seen: now.Add(-50 * time.Second)}
	for _, tc := range []struct {
		name    string
		prev    *Renewal
		written time.Time
		want    Renewal
	}{
		{name: "never renewed", written: time.Time{}, want: Renewal{}},
		{name: "first sight of a past renewal: the agent's time",
			written: now.Add(-time.Hour), want: Renewal{Written: now.Add(-time.Hour), Seen: now.Add(-time.Hour)}},
		{name: "first sight of a renewal in the future: now",
			written: future, want: Renewal{Written: future, Seen: now}},
		{name: "the same renewal again: when it was first seen",
			prev: prev, written: prev.Written, want: *prev},
		{name: "a new renewal: now, whatever the agent wrote",
			prev: prev, written: now.Add(-10 * time.Minute), want: Renewal{Written: now.Add(-10 * time.Minute), Seen: now}},
		{name: "a new renewal in the future: now",
			prev: prev, written: future, want: Renewal{Written: future, Seen: now}},
		{name: "the future renewal seen again later: still when first seen",
			prev: &Renewal{Written: future, Seen: now.Add(-time.Hour)}, written: future, want: Renewal{Written: future, Seen: now.Add(-time.Hour)}},
		{name: "renewTime erased after a renewal: the last renewal seen stands",
			prev: prev, written: time.Time{}, want: *prev},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Observe(tc.prev, tc.written, now); !got.Written.Equal(tc.want.Written) || !got.Seen.Equal(tc.want.Seen) {
				t.Errorf("Observe = %+v, want %+v", got, tc.want)
			}
		})
	}
}

// An agent that writes renewTime 2099 once and stops is Offline one grace
// after the hub saw that write, by the hub's clock.
func TestAFarFutureRenewTimeExpiresOnTheHubsClock(t *testing.T) {
	start := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	future := time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC)
	const grace = 30 * time.Second
	var r Renewals
	r.Observe("edge-1", start.Add(-time.Second), start) // an honest renewal
	seen := r.Observe("edge-1", future, start.Add(5*time.Second))
	if !seen.Equal(start.Add(5 * time.Second)) {
		t.Fatalf("the 2099 renewal seen at %s, want when the hub read it", seen)
	}
	for _, tc := range []struct {
		at   time.Duration
		want string
	}{{5 * time.Second, "Available"}, {34 * time.Second, "Available"}, {35 * time.Second, "Offline"}, {time.Hour, "Offline"}} {
		now := start.Add(tc.at)
		hb := &Heartbeat{Seen: r.Observe("edge-1", future, now), Duration: grace}
		if got := Judge(hb, now, Grace{}).Availability; string(got) != tc.want {
			t.Errorf("at +%s: %s, want %s", tc.at, got, tc.want)
		}
	}
	r.Forget("edge-1")
	if len(r.seen) != 0 {
		t.Errorf("Forget left %v", r.seen)
	}
}
