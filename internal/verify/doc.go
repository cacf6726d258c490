// Package verify judges verification checks: the metric queries, HTTP checks
// and test Jobs a wave must pass before the next one starts (issue 17). It is
// PURE: it compiles and evaluates a check's CEL condition over one result,
// renders a metric query's template, and folds measurements into a compact
// State whose verdict the Rollout engine reads. Taking a measurement (asking
// Prometheus, calling an endpoint, running a Job) is the caller's I/O.
//
// The rules a guardrail needs:
//   - a measurement that could not be taken or judged (the endpoint is down,
//     the query returns no data, the condition errors) is Inconclusive, never
//     Passed;
//   - a check passes a window only with a passing measurement taken at or
//     after the window's end, so "passed for the bake time" means measured
//     through it;
//   - Failed and Inconclusive verdicts stick: only a person's re-run (a new
//     State) clears them.
package verify
