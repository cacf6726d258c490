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
		offset  time.Duration
		want    Renewal
	}{
		{name: "never renewed", written: time.Time{}, want: Renewal{}},
		{name: "first sight of a past renewal: the agent's time",
			written: now.Add(-time.Hour), want: Renewal{Written: now.Add(-time.Hour), Seen: now.Add(-time.Hour)}},
		{name: "first sight, by an agent whose clock a hub measured 2m behind: the agent's time plus the offset",
			written: now.Add(-2*time.Minute - 5*time.Second), offset: 2 * time.Minute,
			want: Renewal{Written: now.Add(-2*time.Minute - 5*time.Second), Seen: now.Add(-5 * time.Second)}},
		{name: "first sight, offset past now: now",
			written: now.Add(-time.Minute), offset: time.Hour, want: Renewal{Written: now.Add(-time.Minute), Seen: now}},
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
			if got := Observe(tc.prev, tc.written, now, tc.offset); !got.Written.Equal(tc.want.Written) || !got.Seen.Equal(tc.want.Seen) {
				t.Errorf("Observe = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestClockOffset(t *testing.T) {
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name          string
		seen, written time.Time
		want          int64
	}{
		{"behind", now, now.Add(-2*time.Minute - 300*time.Millisecond), 120},
		{"ahead", now, now.Add(30 * time.Second), -30},
		{"no renewTime", now, time.Time{}, 0},
		{"the year 2", now, time.Date(2, 1, 1, 0, 0, 0, 0, time.UTC), int64(maxClockOffset / time.Second)},
	} {
		if got := ClockOffset(tc.seen, tc.written); got != tc.want {
			t.Errorf("%s: ClockOffset = %d, want %d", tc.name, got, tc.want)
		}
	}
	if got := Offset(1 << 62); got != maxClockOffset {
		t.Errorf("Offset(1<<62) = %s, want the bound %s", got, maxClockOffset)
	}
}

// An agent that writes renewTime 2099 once and stops is Offline one grace
// after the hub saw that write, by the hub's clock.
func TestAFarFutureRenewTimeExpiresOnTheHubsClock(t *testing.T) {
	start := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	future := time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC)
	const grace = 30 * time.Second
	var r Renewals
	r.Observe("edge-1", start.Add(-time.Second), start, 0) // an honest renewal
	seen := r.Observe("edge-1", future, start.Add(5*time.Second), 0)
	if !seen.Equal(start.Add(5 * time.Second)) {
		t.Fatalf("the 2099 renewal seen at %s, want when the hub read it", seen)
	}
	for _, tc := range []struct {
		at   time.Duration
		want string
	}{{5 * time.Second, "Available"}, {34 * time.Second, "Available"}, {35 * time.Second, "Offline"}, {time.Hour, "Offline"}} {
		now := start.Add(tc.at)
		hb := &Heartbeat{Seen: r.Observe("edge-1", future, now, 0), Duration: grace}
		if got := Judge(hb, now, Grace{}).Availability; string(got) != tc.want {
			t.Errorf("at +%s: %s, want %s", tc.at, got, tc.want)
		}
	}
	r.Forget("edge-1")
	if len(r.seen) != 0 {
		t.Errorf("Forget left %v", r.seen)
	}
}
