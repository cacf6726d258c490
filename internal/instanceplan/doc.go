// Package instanceplan decides, for one instance of a Promise (or the
// Promise's fleet resources), which Works the hub writes and what the
// instance's status says. It is PURE: no client, no I/O; the time is passed
// in. The instance controller observes, asks this package, and carries out
// the answer:
//
//	observe  the Promise's latest revision, the placement, the subject's
//	         Works, the Rollouts that govern it, the current spec's instance
//	         revision
//	Route    → Routing: what to do (WaitForRevision, Hold, Render), and for
//	         Render one Target per placed cluster: the PromiseRevision
//	         (rollout.RevisionFor over the governing Rollout), the instance
//	         revision, the Rollout that admitted it; whether an instance
//	         change needs its Rollout started
//	execute  load each Target's revision and chart, render it (package
//	         render, metered and memoised by the controller)
//	Finish   → Plan: each Work as it should be, and whether that is a create,
//	         an update or nothing; the Works to delete; the failed renders
//	execute  write and delete
//	Status   the instance's status from the Report of what was done
//
// The rules it keeps, checked by FuzzPlan: a Work is written only for a
// placed cluster, at the revisions Rollouts gives it; only the subject's
// own, hub-written Works are ever updated or deleted; nothing is written or
// deleted while the Promise has no revision or the placement is refused
// (tenancy); a failed render leaves its Work as it was; the DriftExceptions
// a Work carries come from the instance's namespace or the platform's.
package instanceplan
