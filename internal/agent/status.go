package agent

import (
	"math/rand/v2"
	"time"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/agent/plan"
)

// Bounds from the Work API.
const (
	maxStatusResources = plan.MaxStatusResources
	maxMessageLength   = plan.MaxMessageLength
)

// passRecord is the last apply of a Work with the health seen since.
type passRecord struct {
	generation       int64
	revision         string
	instanceRevision string
	// manifests are those the pass applied: what drift it (or a check
	// since) accepted was judged against.
	manifests []fleetv1alpha1.Manifest
	at        time.Time
	pass      *applyPass
	// corrected are the drift corrections made since status was last
	// written (by this pass or by checks since).
	corrected []resourceResult
	// driftJudged says drift is judged on this member (it can dry-run).
	driftJudged bool
}

// report is the pass as plan.Status reports it.
func (rec *passRecord) report() plan.Report {
	return plan.Report{Generation: rec.generation, Revision: rec.revision, InstanceRevision: rec.instanceRevision,
		At: rec.at, Resources: outcomes(rec.pass.resources), Pruned: outcomes(rec.pass.pruned),
		Corrected: outcomes(rec.corrected), DriftJudged: rec.driftJudged}
}

// outcome is what status reports of a result.
func (r resourceResult) outcome() plan.Resource {
	return plan.Resource{Group: r.ref.Group, Version: r.ref.Version, Kind: r.ref.Kind, Namespace: r.ref.Namespace,
		Name: r.ref.Name, Result: r.result, Health: r.health, Message: r.message, Permanent: r.permanent, Unmanaged: r.unmanaged,
		Drift: r.drift, Corrected: r.corrected, Accepted: r.accepted, Exception: r.exception, Cause: r.cause}
}

func outcomes(rs []resourceResult) []plan.Resource {
	if rs == nil {
		return nil
	}
	out := make([]plan.Resource, len(rs))
	for i, r := range rs {
		out[i] = r.outcome()
	}
	return out
}

// computeStatus returns the Work status for the last pass (plan.Status).
func computeStatus(prev fleetv1alpha1.WorkStatus, rec *passRecord, now time.Time) fleetv1alpha1.WorkStatus {
	return plan.Status(prev, rec.report(), now)
}

// deletingStatus is the status of a Work being deleted (plan.DeletingStatus).
func deletingStatus(prev fleetv1alpha1.WorkStatus, generation int64, pruned []resourceResult, now time.Time) fleetv1alpha1.WorkStatus {
	return plan.DeletingStatus(prev, generation, outcomes(pruned), now)
}

// settled reports whether the last pass needs no quick re-check (plan.Settled).
func settled(pass *applyPass) bool {
	return plan.Settled(outcomes(pass.resources), outcomes(pass.pruned))
}

// recheckAfter is plan.RecheckAfter with jitter drawn from rnd.
func recheckAfter(isSettled bool, attempt int, resync time.Duration, rnd func() float64) time.Duration {
	return plan.RecheckAfter(isSettled, attempt, resync, rnd())
}

func jitterRand() float64 { return rand.Float64() } //nolint:gosec // jitter, not security

func truncate(s string) string { return plan.Truncate(s) }
