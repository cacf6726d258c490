package plan

import (
	"testing"
	"time"
)

// A verification check due before the next re-check brings the next look
// forward; one due later leaves it.
func TestEndLooksWhenACheckIsDue(t *testing.T) {
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	settled := &Pass{Generation: 1, Complete: true, Settled: true}
	for _, tc := range []struct {
		name      string
		checksDue time.Duration
		want      time.Duration
	}{
		{"no checks", -1, 5 * time.Minute},
		{"a check due in 30 s", 30 * time.Second, 30 * time.Second},
		{"a check overdue", -time.Second, 0},
		{"a check due after the resync", 10 * time.Minute, 5 * time.Minute},
	} {
		l := Look{Now: now, Resync: 5 * time.Minute, Jitter: 0.5, Known: true, OnHub: true, InformerSynced: true,
			Desired: Identity{UID: "u", Generation: 1, SpecHash: "h"}, Last: settled}
		if tc.checksDue != -1 {
			l.ChecksDue = now.Add(tc.checksDue)
		}
		start := Begin(State{AppliedHash: "h", NextCheck: now.Add(5 * time.Minute)}, l)
		if start.Action != Idle {
			t.Fatalf("%s: %s", tc.name, start.Action)
		}
		end := End(start, l, Outcome{Pass: settled})
		if !end.Again || end.LookAfter != tc.want || !end.Report {
			t.Errorf("%s: again %v after %s, report %v; want after %s", tc.name, end.Again, end.LookAfter, end.Report, tc.want)
		}
		if !end.State.NextCheck.Equal(now.Add(5 * time.Minute)) {
			t.Errorf("%s: the member's re-check moved to %s", tc.name, end.State.NextCheck)
		}
	}
}
