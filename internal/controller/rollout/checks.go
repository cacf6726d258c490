package rollout

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/measure"
	"github.com/flotilla-dev/flotilla/internal/rollout"
	"github.com/flotilla-dev/flotilla/internal/verify"
)

// Verification checks on the hub (issue 17). The hub's metric checks are
// measured here, inside the reconcile that plans: Plan lists those due
// (Decision.Measure), measureChecks takes them, and Plan runs again with the
// measurements, so they reach the status in the same optimistically locked
// write as the rest of the plan. Why not a controller of their own: the
// results decide admissions (a failed check fails a cluster, an
// inconclusive one holds the wave), status.waves is one list that a merge
// patch replaces whole, and two writers of it would only conflict; one
// writer that plans from what it measured keeps every decision derived
// from one status.

// measureParallel bounds the per-cluster queries of one check in flight.
const measureParallel = 8

// maxMeasureTime bounds one check's measurement; a query that takes longer
// is Inconclusive.
const maxMeasureTime = 20 * time.Second

// measureChecks takes the measurements of the due hub checks.
func (r *Reconciler) measureChecks(ctx context.Context, ro *fleetv1alpha1.Rollout, tasks []rollout.CheckTask, now time.Time) []rollout.Measurement {
	var out []rollout.Measurement
	for _, t := range tasks {
		out = append(out, r.measureCheck(ctx, ro, t, now)...)
	}
	return out
}

// measureCheck measures one hub metric check of a wave at now.
func (r *Reconciler) measureCheck(ctx context.Context, ro *fleetv1alpha1.Rollout, t rollout.CheckTask, now time.Time) []rollout.Measurement {
	c := t.Check
	log := ctrl.LoggerFrom(ctx).WithValues("wave", t.Wave, "check", c.Name)
	names := make([]string, len(t.Clusters))
	for i, tc := range t.Clusters {
		names[i] = tc.Name
	}
	each := func(m verify.Measurement) []rollout.Measurement {
		if c.Scope == fleetv1alpha1.CheckWholeWave {
			return []rollout.Measurement{{Wave: t.Wave, Check: c.Name, Measurement: m}}
		}
		out := make([]rollout.Measurement, len(names))
		for i, n := range names {
			out[i] = rollout.Measurement{Wave: t.Wave, Check: c.Name, Cluster: n, Measurement: m}
		}
		return out
	}
	inconclusive := func(err error) []rollout.Measurement {
		return each(verify.Measurement{At: now, Outcome: verify.Inconclusive, Message: err.Error()})
	}
	if c.Metric == nil {
		return nil
	}
	cond, err := verify.Compile(verify.KindMetric, c.Condition)
	if err != nil {
		return inconclusive(err)
	}
	creds, err := r.credentials(ctx, c.Metric.CredentialsRef)
	if err != nil {
		return inconclusive(err)
	}
	prom := &measure.Prometheus{URL: c.Metric.Address, Credentials: creds, Client: r.checkClient()}
	timeout := maxMeasureTime
	if c.Interval != nil && c.Interval.Duration < timeout {
		timeout = max(c.Interval.Duration, time.Second)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	vars := rollout.QueryVarsOf(ro)
	vars.Clusters, vars.Wave = names, t.Wave

	var out []rollout.Measurement
	switch {
	case c.Scope == fleetv1alpha1.CheckWholeWave || c.Metric.ClusterLabel != "":
		q, err := verify.RenderQuery(c.Metric.Query, vars)
		if err != nil {
			return inconclusive(err)
		}
		if c.Scope == fleetv1alpha1.CheckWholeWave {
			out = each(measure.MetricWave(ctx, prom, cond, q, c.Metric.ClusterLabel, t.Judged, now))
			break
		}
		out = make([]rollout.Measurement, len(names))
		for i, m := range measure.MetricByCluster(ctx, prom, cond, q, c.Metric.ClusterLabel, names, now) {
			out[i] = rollout.Measurement{Wave: t.Wave, Check: c.Name, Cluster: names[i], Measurement: m}
		}
	default:
		queries := make([]string, len(t.Clusters))
		rendered := make([]error, len(t.Clusters))
		for i, tc := range t.Clusters {
			v := vars
			v.Cluster, v.Labels = tc.Name, tc.Labels
			if v.Labels == nil {
				v.Labels = map[string]string{}
			}
			queries[i], rendered[i] = verify.RenderQuery(c.Metric.Query, v)
		}
		ms := measure.MetricEach(ctx, prom, cond, queries, names, now, measureParallel)
		out = make([]rollout.Measurement, len(names))
		for i, m := range ms {
			if rendered[i] != nil {
				m = verify.Measurement{At: now, Outcome: verify.Inconclusive, Message: rendered[i].Error()}
			}
			out[i] = rollout.Measurement{Wave: t.Wave, Check: c.Name, Cluster: names[i], Measurement: m}
		}
	}
	log.V(1).Info("measured", "clusters", len(names), "measurements", len(out))
	return out
}

// checkClient is the HTTP client of the hub's queries.
func (r *Reconciler) checkClient() *http.Client {
	if r.CheckHTTPClient != nil {
		return r.CheckHTTPClient
	}
	return &http.Client{Timeout: maxMeasureTime}
}

// credentials reads a check's Secret (on the hub; flotilla-system unless it
// names another namespace): a bearer token, or a user name and password.
// Its content never reaches an error, a log or the status.
func (r *Reconciler) credentials(ctx context.Context, ref *fleetv1alpha1.SecretReference) (measure.Credentials, error) {
	if ref == nil {
		return measure.Credentials{}, nil
	}
	ns := ref.Namespace
	if ns == "" {
		ns = fleetv1alpha1.PlatformNamespace
	}
	reader := r.APIReader
	if reader == nil {
		reader = r.Client
	}
	s := &corev1.Secret{}
	if err := reader.Get(ctx, types.NamespacedName{Namespace: ns, Name: ref.Name}, s); err != nil {
		return measure.Credentials{}, fmt.Errorf("reading the check's credentials (Secret %s/%s): %w", ns, ref.Name, client.IgnoreNotFound(err))
	}
	creds := measure.Credentials{BearerToken: string(s.Data["token"]), Username: string(s.Data["username"]), Password: string(s.Data["password"])}
	if creds == (measure.Credentials{}) {
		return creds, fmt.Errorf("the check's credentials (Secret %s/%s) hold neither token nor username and password", ns, ref.Name)
	}
	return creds, nil
}

// agentChecks are the agents' reports of a cluster's checks of Rollout ro
// on the target: per check, the worst of the moved Works' states measured
// on the revision they render (a Work the agent measured on another
// revision says nothing about the target). Only ro's own: a Work may carry
// a check of the same name for another Rollout (the Promise's and the
// instance's own), measured apart.
func agentChecks(works []*fleetv1alpha1.Work, ro, target string, revisionOf func(*fleetv1alpha1.Work) (rendered, applied string)) []rollout.AgentCheck {
	byName := map[string]rollout.AgentCheck{}
	for _, w := range works {
		if rendered, _ := revisionOf(w); rendered != target {
			continue
		}
		for _, cs := range w.Status.Checks {
			if cs.Rollout != ro || (cs.Revision != "" && cs.Revision != w.Spec.Revision) {
				continue
			}
			ac := rollout.AgentCheck{Name: cs.Name, Run: cs.Run, State: fromWorkState(cs.CheckState)}
			if prev, ok := byName[cs.Name]; !ok || worseCheck(ac, prev) {
				byName[cs.Name] = ac
			}
		}
	}
	out := make([]rollout.AgentCheck, 0, len(byName))
	for _, ac := range byName {
		out = append(out, ac)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// worseCheck orders two reports of one check: an older run, then more
// failures, more inconclusive in a row, fewer measurements.
func worseCheck(a, b rollout.AgentCheck) bool {
	switch {
	case a.Run != b.Run:
		return a.Run < b.Run
	case a.State.Failures != b.State.Failures:
		return a.State.Failures > b.State.Failures
	case a.State.InconclusiveRun != b.State.InconclusiveRun:
		return a.State.InconclusiveRun > b.State.InconclusiveRun
	}
	return a.State.Measurements < b.State.Measurements
}

func fromWorkState(s fleetv1alpha1.CheckState) verify.State {
	m := func(x *fleetv1alpha1.CheckMeasurement) *verify.Measurement {
		if x == nil {
			return nil
		}
		return &verify.Measurement{At: x.Time.Time, Outcome: verify.Outcome(x.Outcome), Value: x.Value, Message: x.Message}
	}
	return verify.State{Since: s.Since.Time, Measurements: s.Measurements, Failures: s.Failures, Inconclusives: s.Inconclusives,
		InconclusiveRun: s.InconclusiveRun, Last: m(s.Last), Decisive: m(s.Decisive)}
}
