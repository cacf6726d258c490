// Package plan decides what the agent does: with one Work at each look
// (Begin, then End once the chosen action ran), and with one object of
// it while it applies, checks or prunes (Claim, ApplyObject, CheckObject,
// PruneObject). It is pure: no client, no I/O, time and jitter passed in.
// The agent observes (the hub's Work, its local record, the live objects),
// asks here, executes what it is told (apply, prune, write status) and, when
// the decision needs one more observation (read the live object, ask the hub
// whether a Work is really gone), observes and asks again.
package plan

import (
	"time"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/drift"
)

// Re-check timing.
const (
	// MinRecheck and MaxRecheck bound the backoff of the looks at a Work
	// that has not settled.
	MinRecheck = time.Second
	MaxRecheck = 30 * time.Second
	// StatusHold bounds how long a fresh apply's status may wait for its
	// first re-check (MinRecheck plus its jitter): at 10,000 clusters the
	// agents' status writes are a third of a rollout's load on the API
	// server.
	StatusHold = 2 * MinRecheck
	// ExpiryMargin is how long after an exception's expiresAt the agent
	// looks again, so that the look sees it expired.
	ExpiryMargin = 10 * time.Millisecond
)

// Action is what one look does with a Work.
type Action string

const (
	// Nothing: the agent does not know the Work and the hub does not have
	// it (never heard of, or already forgotten).
	Nothing Action = "Nothing"
	// ConfirmDeletion: the Work is gone from (or being deleted on) the
	// hub's watch; ask the hub itself before pruning anything, then decide
	// again with Look.Deletion set.
	ConfirmDeletion Action = "ConfirmDeletion"
	// Wait: the hub does not confirm the deletion (yet); prune nothing and
	// look again after Start.LookAfter.
	Wait Action = "Wait"
	// PruneDeleting: the hub is deleting the Work (a finalizer holds it):
	// prune its inventory and report what pruning did.
	PruneDeleting Action = "PruneDeleting"
	// PruneDeleted: the hub no longer has the Work: prune its inventory,
	// then forget it.
	PruneDeleted Action = "PruneDeleted"
	// Apply: a spec this process has not applied yet: apply it in full.
	Apply Action = "Apply"
	// Retry: the last pass left something unapplied and the Work is due:
	// apply the same spec again.
	Retry Action = "Retry"
	// Check: the Work is due: look at its live objects (health, drift;
	// correct drift under the Correct policy). A check that finds an object
	// deleted or replaced applies in full instead (Outcome.Applied).
	Check Action = "Check"
	// Idle: not due; only schedule the next look and report.
	Idle Action = "Idle"
)

// Confirmation is the hub's answer when asked whether a Work is gone.
type Confirmation string

const (
	// NotAsked: the hub has not been asked.
	NotAsked Confirmation = ""
	// Confirmed: the hub says the Work is gone or being deleted.
	Confirmed Confirmation = "Confirmed"
	// NotConfirmed: the hub still has the Work (its watch is behind).
	NotConfirmed Confirmation = "NotConfirmed"
	// Unreachable: the hub could not be asked (or refused): perhaps the
	// cluster is being unjoined and the agent's access revoked.
	Unreachable Confirmation = "Unreachable"
)

// State is what the agent remembers about one Work between looks, as far as
// decisions depend on it.
type State struct {
	// AppliedHash is the spec hash of the last apply pass in this process.
	AppliedHash string
	// ExceptionsHash identifies the DriftExceptions that pass or a later
	// check judged with.
	ExceptionsHash string
	// Attempt counts unsettled looks since the last change, for backoff.
	Attempt int
	// NextCheck is when the Work is due for another look at the member.
	NextCheck time.Time
	// StatusHeldUntil holds back the status of a new spec, applied in full
	// but still converging, until it settles or its first re-check,
	// whichever is first: most workloads are ready by then, and one write
	// (Ready) replaces two (InProgress, then Ready).
	StatusHeldUntil time.Time
}

// Identity identifies a desired state of a Work.
type Identity struct {
	UID        string
	Generation int64
	// SpecHash covers the spec but its DriftExceptions: a change re-applies.
	SpecHash string
	// ExceptionsHash covers the DriftExceptions: a change judges drift again.
	ExceptionsHash string
}

// Pass summarises the last apply pass (and the checks since).
type Pass struct {
	// Generation is the Work generation the pass reports as observed.
	Generation int64
	// Complete: every manifest is on the member as desired (applied or
	// deliberately skipped).
	Complete bool
	// Settled: nothing converges and nothing failed that retrying fixes.
	Settled bool
}

// Look is what the agent observed about one Work.
type Look struct {
	Now time.Time
	// Resync is the interval between looks at a settled Work.
	Resync time.Duration
	// Jitter, in [0,1), spreads the looks of many Works and agents.
	Jitter float64

	// Known: the agent has state for the Work (from its store or an
	// earlier look).
	Known bool
	// OnHub: the hub's Work watch has the Work; Deleting: with a deletion
	// timestamp. InformerSynced: that watch has listed everything once (a
	// Work missing from an unsynced watch says nothing).
	OnHub, Deleting, InformerSynced bool
	// Deletion is the hub's answer when asked (ConfirmDeletion).
	Deletion Confirmation

	// Desired is the hub's Work, or the local record's when the hub has not
	// been seen: the agent keeps the member as it was.
	Desired Identity
	// Exceptions are the desired Work's DriftExceptions.
	Exceptions []fleetv1alpha1.WorkDriftException
	// Recorded is the Work the local record holds; nil when none.
	Recorded *Identity
	// Last is the last pass in this process; nil when none.
	Last *Pass
	// WatchDue: a drift watch event asked for a look at the Work.
	WatchDue bool
	// ChecksDue is when one of the Work's verification checks is due next
	// (internal/agent/checks; set after the action, for End); zero when none.
	ChecksDue time.Time
}

// Start is what a look does first.
type Start struct {
	Action Action
	// State is the state to keep while the action runs; End takes it.
	State State
	// SaveRecord: the desired Work differs from the local record: save it
	// (before anything is applied).
	SaveRecord bool
	// ObserveGeneration: the desired spec is the one applied (an edit
	// reverted, or only DriftExceptions changed): the last pass counts for
	// the desired generation.
	ObserveGeneration bool
	// Rejudge: the DriftExceptions changed: judge drift again now (and
	// correct what they no longer accept) rather than apply again.
	Rejudge bool
	// LookAfter is when to look again, for Wait.
	LookAfter time.Duration
}

// Begin decides what a look at a Work does. Prune only when the hub itself
// confirms a deletion: a Work that vanishes because the cluster is being
// unjoined (its namespace deleted after the agent's access was revoked)
// must not take the member's workloads with it. A Work missing from an
// unsynced watch is never pruned: the agent keeps the member as its local
// record says.
func Begin(s State, l Look) Start {
	deleted := !l.OnHub && l.InformerSynced && l.Known
	if l.Deleting || deleted {
		switch l.Deletion {
		case NotAsked:
			return Start{Action: ConfirmDeletion, State: s}
		case Unreachable:
			return Start{Action: Wait, State: s, LookAfter: RecheckAfter(true, 0, l.Resync, l.Jitter)}
		case NotConfirmed:
			return Start{Action: Wait, State: s, LookAfter: MinRecheck} // the watch is behind
		case Confirmed:
			if l.Deleting {
				return Start{Action: PruneDeleting, State: s}
			}
			return Start{Action: PruneDeleted, State: s}
		}
	}
	if !l.OnHub && !l.Known {
		return Start{Action: Nothing, State: s}
	}
	st := Start{State: s}
	if l.WatchDue {
		st.State.NextCheck = time.Time{} // a watch event: look now
	}
	r := l.Recorded
	st.SaveRecord = r == nil || r.UID != l.Desired.UID || r.Generation != l.Desired.Generation || r.SpecHash != l.Desired.SpecHash
	sameSpec := l.Desired.SpecHash == s.AppliedHash && l.Last != nil
	if sameSpec && l.Last.Generation != l.Desired.Generation {
		st.ObserveGeneration = true
	}
	if sameSpec && l.Desired.ExceptionsHash != s.ExceptionsHash {
		st.Rejudge = true
		st.State.ExceptionsHash = l.Desired.ExceptionsHash
		st.State.NextCheck = time.Time{}
	}
	due := !l.Now.Before(st.State.NextCheck)
	switch {
	case !sameSpec:
		st.Action = Apply
		st.State.Attempt = 0
	case due && !l.Last.Complete:
		st.Action = Retry
	case due:
		st.Action = Check
	default:
		st.Action = Idle
	}
	return st
}

// Outcome is what the action did, as End needs it.
type Outcome struct {
	// Applied: an apply pass ran (Apply, Retry, or a Check that found an
	// object deleted or replaced).
	Applied bool
	// Pass is the last pass after the action (nil for the prune actions).
	Pass *Pass
	// PruneDone: a prune action left nothing to retry.
	PruneDone bool
	// QueueIdle: no other Work waits for a worker.
	QueueIdle bool
}

// Finish is what a look does last.
type Finish struct {
	State State
	// Again: look at the Work again after LookAfter.
	Again     bool
	LookAfter time.Duration
	// Rescheduled: the look judged the Work (it was due); Converging then
	// says whether it waits for its objects to become healthy (a status
	// update of one of them asks for a look at once).
	Rescheduled, Converging bool
	// Report: write the Work's status now. Otherwise it waits: for the hub
	// (not seen yet), or for the status hold to end (HoldFor; a look when
	// it settles comes first).
	Report  bool
	HoldFor time.Duration
	// Forget: the Work is pruned and gone from the hub: remove its record
	// and state.
	Forget bool
}

// End decides, once the action of Begin ran, when to look at the Work
// again and whether to report its status now.
func End(start Start, l Look, o Outcome) Finish {
	s := start.State
	switch start.Action {
	case Nothing, ConfirmDeletion:
		return Finish{State: s}
	case Wait:
		return Finish{State: s, Again: true, LookAfter: start.LookAfter}
	case PruneDeleting, PruneDeleted:
		f := Finish{State: s, Report: start.Action == PruneDeleting}
		switch {
		case !o.PruneDone:
			f.Again, f.LookAfter = true, RecheckAfter(false, s.Attempt, l.Resync, l.Jitter)
			f.State.Attempt++
		case start.Action == PruneDeleted:
			f.Forget = true
		}
		return f
	}
	if o.Applied {
		s.AppliedHash, s.ExceptionsHash = l.Desired.SpecHash, l.Desired.ExceptionsHash
		s.NextCheck = time.Time{} // judge it now
	}
	f := Finish{Again: true}
	settled := o.Pass != nil && o.Pass.Settled
	if !l.Now.Before(s.NextCheck) {
		if settled {
			s.Attempt = 0
		}
		f.Rescheduled, f.Converging = true, !settled
		s.NextCheck = l.Now.Add(RecheckAfter(settled, s.Attempt, l.Resync, l.Jitter))
		if !settled {
			s.Attempt++
		}
	}
	if exp := drift.NextExpiry(l.Exceptions, l.Now); !exp.IsZero() && exp.Before(s.NextCheck) {
		// Judge again as an exception expires, hub or not: its drift turns
		// unexplained and the policy applies.
		s.NextCheck = exp.Add(ExpiryMargin)
	}
	f.LookAfter = s.NextCheck.Sub(l.Now)
	if !l.ChecksDue.IsZero() && l.ChecksDue.Before(s.NextCheck) {
		// A check is due first: look then (Begin finds the Work idle, the
		// checks are measured, the status reports them).
		f.LookAfter = max(l.ChecksDue.Sub(l.Now), 0)
	}
	f.State = s
	if !l.OnHub {
		return f // status waits for the hub
	}
	// No hold while other Works wait for a worker: the re-check would wait
	// behind them, and the Work's report with it.
	complete := o.Pass != nil && o.Pass.Complete
	if start.Action == Apply && complete && !settled && f.LookAfter <= StatusHold && o.QueueIdle {
		f.State.StatusHeldUntil = s.NextCheck
	}
	if l.Now.Before(f.State.StatusHeldUntil) && !settled {
		// Reported when it settles (a look the drift watch asks for when an
		// object's status changes) or at the hold's end, whichever is first.
		f.HoldFor = f.State.StatusHeldUntil.Sub(l.Now)
		return f
	}
	f.Report = true
	return f
}

// RecheckAfter is the delay before the next look at a Work: backing off
// from MinRecheck to MaxRecheck while it is unsettled (attempt counts the
// unsettled looks so far), the resync interval once settled; jittered (by
// jitter in [0,1)) so that many Works (and many agents) do not move in step.
func RecheckAfter(settled bool, attempt int, resync time.Duration, jitter float64) time.Duration {
	if settled {
		// ±10% around the resync interval.
		return time.Duration(float64(resync) * (0.9 + 0.2*jitter))
	}
	d := MinRecheck
	for i := 0; i < attempt && d < MaxRecheck; i++ {
		d *= 2
	}
	d = min(d, MaxRecheck)
	// Up to +25%, never below the minimum.
	return time.Duration(float64(d) * (1 + 0.25*jitter))
}
