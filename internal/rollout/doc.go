// Package rollout is the pure rollout engine: given a Rollout, its resolved
// strategy and what the controller observes of the target clusters, Plan
// decides the next status, which clusters to admit to which revision, and
// when to look again.
//
// It does no I/O, reads no clock and keeps no state: everything it needs is
// in Input, and everything it remembers is in the status it returns. The
// Rollout controller observes, calls Plan and writes the status, whose
// waves record which cluster is admitted to which revision
// (status.waves[].admitted); the instance controller renders each Work from
// that record alone (RevisionFor). Because Plan re-derives its admissions
// from the observed revisions every time, a crash between any two of those
// steps heals on the next reconcile: the same input gives the same decision.
//
// The rules (waves, budgets, bake, approvals, offline policies, update modes,
// pause, abort, rollback, freeze, supersede) are described for users in
// docs/rollouts.md; the tests in this package check each of them, and the
// sequence simulator (package simulate, traces under testdata/sequences)
// drives Plan over a fake fleet step by step.
package rollout
