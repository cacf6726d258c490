package cluster

import (
	"testing"
	"time"
)

// A cluster's first version is recorded at once, and a change at most once
// per resolution; a version reported meanwhile waits for the rest of it.
func TestVersionToRecord(t *testing.T) {
	now := time.Date(2031, 1, 2, 3, 4, 5, 0, time.UTC)
	const every = 5 * time.Minute
	for _, c := range []struct {
		name               string
		recorded, reported string
		lastChange         time.Time
		want               string
		wait               time.Duration
	}{
		{"first version", "", "v1.36.3", now.Add(-time.Second), "v1.36.3", 0},
		{"unchanged", "v1.36.3", "v1.36.3", now.Add(-time.Second), "v1.36.3", 0},
		{"changed long ago", "v1.36.3", "v1.37.0", now.Add(-every), "v1.37.0", 0},
		{"changed a minute ago", "v1.36.3", "v1.37.0", now.Add(-time.Minute), "v1.36.3", 4 * time.Minute},
		{"not changed since the hub started", "v1.36.3", "v1.37.0", time.Time{}, "v1.37.0", 0},
	} {
		got, wait := versionToRecord(c.recorded, c.reported, c.lastChange, now, every)
		if got != c.want || wait != c.wait {
			t.Errorf("%s: got %q, wait %s; want %q, wait %s", c.name, got, wait, c.want, c.wait)
		}
	}
}
