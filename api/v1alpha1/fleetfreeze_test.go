package v1alpha1

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestFleetFreezeActivity(t *testing.T) {
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	at := func(d time.Duration) *metav1.Time { t := metav1.NewTime(now.Add(d)); return &t }
	freeze := func(name string, action FreezeAction, until *metav1.Time) FleetFreeze {
		return FleetFreeze{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: FleetFreezeSpec{Action: action, Until: until}}
	}
	deleting := freeze("deleting", FreezeRollback, nil)
	deleting.DeletionTimestamp = at(-time.Minute)

	for _, tt := range []struct {
		name   string
		f      FleetFreeze
		active bool
	}{
		{"no until", freeze("a", "", nil), true},
		{"until ahead", freeze("a", "", at(time.Second)), true},
		{"until now", freeze("a", "", at(0)), false},
		{"until past", freeze("a", "", at(-time.Second)), false},
		{"being deleted", deleting, false},
	} {
		if got := tt.f.ActiveAt(now); got != tt.active {
			t.Errorf("%s: ActiveAt = %v, want %v", tt.name, got, tt.active)
		}
	}
	if f := freeze("a", "", nil); f.EffectiveAction() != FreezeHalt || f.RollsBack() || !f.LiftsAt().IsZero() {
		t.Errorf("an unset action is Halt and an unset until never lifts: %v %v %v", f.EffectiveAction(), f.RollsBack(), f.LiftsAt())
	}

	active, lifts := ActiveFreezes([]FleetFreeze{
		freeze("b-halt", FreezeHalt, at(2*time.Hour)),
		freeze("expired", FreezeRollback, at(-time.Hour)),
		freeze("z-rollback", FreezeRollback, at(time.Hour)),
		freeze("a-halt", "", nil),
		deleting,
	}, now)
	var names []string
	for _, f := range active {
		names = append(names, f.Name)
	}
	if want := "z-rollback a-halt b-halt"; strings.Join(names, " ") != want {
		t.Errorf("active freezes %q, want %q (Rollback first, then by name)", strings.Join(names, " "), want)
	}
	if !lifts.Equal(now.Add(time.Hour)) {
		t.Errorf("lifts at %v, want the earliest until of the active ones", lifts)
	}
	if active, lifts := ActiveFreezes(nil, now); len(active) != 0 || !lifts.IsZero() {
		t.Errorf("no freezes: %v %v", active, lifts)
	}
}
