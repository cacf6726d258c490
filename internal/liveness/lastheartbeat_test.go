package liveness

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestLastHeartbeat(t *testing.T) {
	recorded := metav1.NewTime(time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC))
	const resolution = time.Minute
	for _, tc := range []struct {
		name       string
		recorded   *metav1.Time
		renew      time.Time
		changed    bool
		wantRenews bool
	}{
		{name: "nothing recorded yet", renew: recorded.Add(time.Second), wantRenews: true},
		{name: "within the resolution: kept", recorded: &recorded, renew: recorded.Add(59 * time.Second)},
		{name: "a resolution behind: moves", recorded: &recorded, renew: recorded.Add(time.Minute), wantRenews: true},
		{name: "availability changed: moves at once", recorded: &recorded, renew: recorded.Add(time.Second), changed: true, wantRenews: true},
		{name: "a renewal before the recorded one: moves back", recorded: &recorded, renew: recorded.Add(-time.Second), wantRenews: true},
		{name: "the same second, finer: kept", recorded: &recorded, renew: recorded.Add(400 * time.Millisecond)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := LastHeartbeat(tc.recorded, tc.renew, tc.changed, resolution)
			want := tc.recorded
			if tc.wantRenews {
				want = &metav1.Time{Time: tc.renew.Truncate(time.Second)}
			}
			if !got.Equal(want) {
				t.Errorf("LastHeartbeat = %v, want %v", got, want)
			}
		})
	}
}
