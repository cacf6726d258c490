package v1alpha1

import (
	"cmp"
	"slices"
	"time"
)

// A FleetFreeze's activity is decided here, and only here: the Rollout
// controller (which enforces it), the FleetFreeze controller (which reports
// it) and the fleet view (CLI, dashboard, metrics) all ask these methods.

// EffectiveAction is spec.action, Halt when unset.
func (f *FleetFreeze) EffectiveAction() FreezeAction {
	if f.Spec.Action == "" {
		return FreezeHalt
	}
	return f.Spec.Action
}

// RollsBack reports whether the freeze rolls back every rollout in flight
// (action Rollback), besides holding them.
func (f *FleetFreeze) RollsBack() bool { return f.EffectiveAction() == FreezeRollback }

// ActiveAt reports whether the freeze is in force at now: it is not being
// deleted and now is before spec.until (when set).
func (f *FleetFreeze) ActiveAt(now time.Time) bool {
	if !f.DeletionTimestamp.IsZero() {
		return false
	}
	return f.Spec.Until == nil || now.Before(f.Spec.Until.Time)
}

// LiftsAt is when the freeze lifts by itself: spec.until, or the zero time
// when it holds until it is deleted.
func (f *FleetFreeze) LiftsAt() time.Time {
	if f.Spec.Until == nil {
		return time.Time{}
	}
	return f.Spec.Until.Time
}

// ActiveFreezes returns the freezes in force at now, the one that decides
// first (one that rolls back before one that halts, then by name), and when
// the first of them lifts by itself (zero when none does, or none is active).
func ActiveFreezes(freezes []FleetFreeze, now time.Time) (active []FleetFreeze, lifts time.Time) {
	for i := range freezes {
		f := &freezes[i]
		if !f.ActiveAt(now) {
			continue
		}
		active = append(active, *f)
		if l := f.LiftsAt(); !l.IsZero() && (lifts.IsZero() || l.Before(lifts)) {
			lifts = l
		}
	}
	slices.SortFunc(active, func(a, b FleetFreeze) int {
		if ra, rb := a.RollsBack(), b.RollsBack(); ra != rb {
			if ra {
				return -1
			}
			return 1
		}
		return cmp.Compare(a.Name, b.Name)
	})
	return active, lifts
}

// HeldBy names the FleetFreeze that holds the Rollout now; empty when none does.
func (s *RolloutStatus) HeldBy() string {
	if s.Freeze == nil {
		return ""
	}
	return s.Freeze.HeldBy
}

// RolledBackBy names the FleetFreeze that rolled the Rollout back; empty when none did.
func (s *RolloutStatus) RolledBackBy() string {
	if s.Freeze == nil {
		return ""
	}
	return s.Freeze.RolledBackBy
}
