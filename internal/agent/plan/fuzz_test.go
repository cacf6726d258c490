package plan_test

import (
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/agent/plan"
)

// FuzzLook checks Begin and End's invariants over arbitrary looks: nothing
// is pruned without the hub's confirmation nor while the hub's watch may
// still have the Work, nothing is reported without the hub, a scheduled
// look is in the future and within the resync (or the backoff's cap).
func FuzzLook(f *testing.F) {
	f.Add(uint16(0), uint8(0), int64(0), int64(1), int64(1), "a", "a", "", "x", uint8(0), 0.5)
	f.Add(uint16(0xffff), uint8(3), int64(5), int64(2), int64(1), "a", "b", "e", "", uint8(7), 0.0)
	f.Fuzz(func(t *testing.T, flags uint16, confirm uint8, attempt, gen, lastGen int64, spec, applied, exc, judged string, outcome uint8, jitter float64) {
		if jitter < 0 || jitter >= 1 || jitter != jitter || attempt < 0 || attempt > 1000 {
			return
		}
		bit := func(i int) bool { return flags&(1<<i) != 0 }
		now := epoch.Add(time.Hour)
		s := plan.State{AppliedHash: applied, ExceptionsHash: judged, Attempt: int(attempt)}
		if bit(0) {
			s.NextCheck = now.Add(time.Duration(attempt%30) * time.Second) // within the backoff, as End leaves it
		}
		if bit(1) {
			s.StatusHeldUntil = now.Add(time.Second)
		}
		l := plan.Look{Now: now, Resync: 20 * time.Second, Jitter: jitter,
			Known: bit(2), OnHub: bit(3), InformerSynced: bit(5), WatchDue: bit(6),
			Desired: plan.Identity{UID: "u", Generation: gen, SpecHash: spec, ExceptionsHash: exc}}
		l.Deleting = l.OnHub && bit(4)
		if bit(7) {
			l.Last = &plan.Pass{Generation: lastGen, Complete: bit(8), Settled: bit(9)}
		}
		if bit(10) {
			l.Recorded = &plan.Identity{UID: "u", Generation: lastGen, SpecHash: applied}
		}
		if bit(11) {
			l.Exceptions = []fleetv1alpha1.WorkDriftException{{Name: "e", ExpiresAt: metaTime(now.Add(time.Duration(gen%100) * time.Second))}}
		}
		l.Deletion = []plan.Confirmation{plan.NotAsked, plan.Confirmed, plan.NotConfirmed, plan.Unreachable}[confirm%4]
		if !l.Known {
			l.Last, l.Recorded = nil, nil
		}
		start := plan.Begin(s, l)
		if err := checkStart(l, start); err != nil {
			t.Fatal(err)
		}
		if (start.Action == plan.Retry || start.Action == plan.Check || start.Action == plan.Idle) && l.Last == nil {
			t.Fatalf("%s without a pass", start.Action)
		}
		if start.Action == plan.Apply && l.Last != nil && s.AppliedHash == spec {
			t.Fatalf("applies again the spec it applied (use Retry or Check)")
		}
		o := plan.Outcome{Applied: outcome&1 != 0 || start.Action == plan.Apply || start.Action == plan.Retry,
			PruneDone: outcome&2 != 0, QueueIdle: outcome&4 != 0}
		switch start.Action {
		case plan.Apply, plan.Retry, plan.Check, plan.Idle:
			o.Pass = &plan.Pass{Generation: gen, Complete: outcome&8 != 0, Settled: outcome&16 != 0}
		default:
			o.Applied = false
		}
		end := plan.End(start, l, o)
		if err := checkEnd(l, start, o, end); err != nil {
			t.Fatal(err)
		}
		if end.HoldFor > 0 && (o.Pass == nil || o.Pass.Settled) {
			t.Fatalf("holds the status of a settled Work")
		}
	})
}

// FuzzObjects checks that no apply decision touches an object that is not
// the Work's and no prune decision deletes one whose UID is not recorded.
func FuzzObjects(f *testing.F) {
	f.Add(uint16(0), "u1", "u1", "w", "w")
	f.Add(uint16(0xffff), "", "u2", "other", "w")
	f.Fuzz(func(t *testing.T, flags uint16, recorded, uid, label, workLabel string) {
		bit := func(i int) bool { return flags&(1<<i) != 0 }
		var live *plan.Live
		if bit(0) {
			live = &plan.Live{UID: types.UID(uid), WorkLabel: label, ReconcileDisabled: bit(1), PruneDisabled: bit(2), Deleting: bit(3)}
		}
		adoption := never
		if bit(4) {
			adoption = ifUnowned
		}
		policy := correct
		if bit(5) {
			policy = report
		}
		al := plan.ApplyLook{ManifestReconcileDisabled: bit(6), WorkLabel: workLabel, RecordedUID: types.UID(recorded),
			Adoption: adoption, InSync: bit(7), Policy: policy, Read: bit(8), Live: live}
		checkApply(t, al, plan.ApplyObject(al))

		pl := plan.PruneLook{Orphan: bit(9), RecordedUID: types.UID(recorded), WorkLabel: workLabel, Container: bit(10),
			Read: bit(8), Live: live, ForeignChecked: bit(11)}
		if bit(12) {
			pl.Foreign = []string{"x"}
		}
		s, _ := plan.PruneObject(pl)
		checkPrune(t, pl, s)

		cl := plan.CheckLook{Applied: plan.Applied{Result: fleetv1alpha1.ApplyResultApplied, UID: types.UID(recorded), Healthy: bit(13)},
			Policy: policy, CanJudge: bit(14), Desired: bit(15), Read: bit(8), Live: live, Judged: bit(2), Drift: bit(3)}
		if step := plan.CheckObject(cl); step == plan.Correct && (live == nil || live.UID != types.UID(recorded) || policy == report) {
			t.Fatalf("corrects an object that is not the one applied, or under Report: %+v", cl)
		}
	})
}
