package cluster

import (
	"testing"
	"time"
)

func TestObserve(t *testing.T) {
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	future := time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC)
	prev := &renewal{Written: now.Add(-time.Minute), Seen: now.Add(-50 * time.Second)}
	for _, tc := range []struct {
		name    string
		prev    *renewal
		written time.Time
		want    renewal
	}{
		{name: "never renewed", written: time.Time{}, want: renewal{}},
		{name: "first sight of a past renewal: the agent's time",
			written: now.Add(-time.Hour), want: renewal{Written: now.Add(-time.Hour), Seen: now.Add(-time.Hour)}},
		{name: "first sight of a renewal in the future: now",
			written: future, want: renewal{Written: future, Seen: now}},
		{name: "the same renewal again: when it was first seen",
			prev: prev, written: prev.Written, want: *prev},
		{name: "a new renewal: now, whatever the agent wrote",
			prev: prev, written: now.Add(-10 * time.Minute), want: renewal{Written: now.Add(-10 * time.Minute), Seen: now}},
		{name: "a new renewal in the future: now",
			prev: prev, written: future, want: renewal{Written: future, Seen: now}},
		{name: "the future renewal seen again later: still when first seen",
			prev: &renewal{Written: future, Seen: now.Add(-time.Hour)}, written: future, want: renewal{Written: future, Seen: now.Add(-time.Hour)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := observe(tc.prev, tc.written, now); !got.Written.Equal(tc.want.Written) || !got.Seen.Equal(tc.want.Seen) {
				t.Errorf("observe = %+v, want %+v", got, tc.want)
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
	var r renewals
	r.observe("edge-1", start.Add(-time.Second), start) // an honest renewal
	seen := r.observe("edge-1", future, start.Add(5*time.Second))
	if !seen.Equal(start.Add(5 * time.Second)) {
		t.Fatalf("the 2099 renewal seen at %s, want when the hub read it", seen)
	}
	for _, tc := range []struct {
		at   time.Duration
		want string
	}{{5 * time.Second, "Available"}, {34 * time.Second, "Available"}, {35 * time.Second, "Offline"}, {time.Hour, "Offline"}} {
		now := start.Add(tc.at)
		hb := &heartbeat{Seen: r.observe("edge-1", future, now), Duration: grace}
		if got := availability(hb, now, 0).Availability; string(got) != tc.want {
			t.Errorf("at +%s: %s, want %s", tc.at, got, tc.want)
		}
	}
	r.forget("edge-1")
	if len(r.seen) != 0 {
		t.Errorf("forget left %v", r.seen)
	}
}
