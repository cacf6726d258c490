package rollout

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/verify"
)

// WorkChecksFor is what the hub copies onto a cluster's Work
// (spec.checks) for its agent to measure: the agent-placed checks of the
// cluster's wave (ResolveChecks, less those a person skipped), each with
// its run (a re-run starts a new one) and a metric query rendered for the
// cluster — while the governing Rollout r has the cluster admitted to its
// target and the wave is at work. Otherwise none: the agent stops
// measuring. A query that cannot be rendered for this cluster (a label it
// lacks) leaves its check out and is reported in the error; the others
// are returned. Pure: the instance controller calls it with the Rollout
// it renders from, the Rollout's resolved strategy and its Promise.
func WorkChecksFor(r *fleetv1alpha1.Rollout, strategy fleetv1alpha1.RolloutStrategySpec, promiseChecks []fleetv1alpha1.Check,
	skip []string, cluster string, labels map[string]string) ([]fleetv1alpha1.WorkCheck, error) {
	if r == nil || r.Status.Phase.IsTerminal() || rollingBack(r.Status.Phase) {
		return nil, nil
	}
	if rev, ok := Admitted(r, cluster); !ok || rev != r.Spec.TargetRevision {
		return nil, nil
	}
	i := slices.IndexFunc(r.Status.Waves, func(w fleetv1alpha1.WaveStatus) bool { return slices.Contains(w.Clusters, cluster) })
	if i < 0 {
		return nil, nil
	}
	ws := &r.Status.Waves[i]
	if ws.StartedAt == nil || (ws.Phase != fleetv1alpha1.WavePhaseProgressing && ws.Phase != fleetv1alpha1.WavePhaseBaking) {
		return nil, nil
	}
	if labels == nil {
		labels = map[string]string{}
	}
	var out []fleetv1alpha1.WorkCheck
	var errs []error
	for _, c := range ResolveChecks(strategy, ws.Name, promiseChecks, skip) {
		if OnHub(c) {
			continue
		}
		var run int32
		if j := slices.IndexFunc(ws.Checks, func(s fleetv1alpha1.WaveCheckStatus) bool { return s.Name == c.Name }); j >= 0 {
			if ws.Checks[j].Skipped != nil {
				continue
			}
			run = ws.Checks[j].Run
		}
		c = *c.DeepCopy()
		if c.Metric != nil {
			vars := QueryVarsOf(r)
			vars.Cluster, vars.Labels, vars.Clusters, vars.Wave = cluster, labels, []string{cluster}, ws.Name
			q, err := verify.RenderQuery(c.Metric.Query, vars)
			if err != nil {
				errs = append(errs, fmt.Errorf("check %s: %w", c.Name, err))
				continue
			}
			c.Metric.Query = q
		}
		out = append(out, fleetv1alpha1.WorkCheck{Check: c, Rollout: r.Name, Wave: ws.Name, Run: run})
	}
	slices.SortFunc(out, func(a, b fleetv1alpha1.WorkCheck) int { return strings.Compare(a.Name, b.Name) })
	return out, errors.Join(errs...)
}

// QueryVarsOf is what every metric query of r's checks sees, whatever the
// cluster or wave: its revisions and, for an instance's own change, the
// instance (its namespace is the Rollout's).
func QueryVarsOf(r *fleetv1alpha1.Rollout) verify.QueryVars {
	v := verify.QueryVars{Revision: r.Spec.TargetRevision, FromRevision: r.Spec.FromRevision}
	if in := r.Spec.Subject.Instance; in != nil {
		v.Namespace, v.Instance = r.Namespace, in.Name
	}
	return v
}

// ChecksMoved lists the clusters whose Works' checks (WorkChecksFor) may
// differ between prev and next (prev nil: a Rollout seen first), beyond
// new admissions (NewAdmissions): every cluster of a wave that starts or
// stops being at work (its phase; the Rollout ending or rolling back), and
// of a wave at work whose checks were re-run (a new run), skipped, or
// added or taken away. Pure; the instance controller's Rollout watch
// re-plans only those clusters' Works.
func ChecksMoved(prev, next *fleetv1alpha1.Rollout) []string {
	var out []string
	seen := map[string]bool{}
	add := func(w fleetv1alpha1.WaveStatus) {
		for _, c := range w.Clusters {
			if !seen[c] {
				seen[c] = true
				out = append(out, c)
			}
		}
	}
	for _, w := range next.Status.Waves {
		at := checksAtWork(next, w)
		var was *fleetv1alpha1.WaveStatus
		if prev != nil {
			if i := slices.IndexFunc(prev.Status.Waves, func(p fleetv1alpha1.WaveStatus) bool { return p.Name == w.Name }); i >= 0 {
				was = &prev.Status.Waves[i]
			}
		}
		switch {
		case was == nil:
			if at {
				add(w)
			}
		case at != checksAtWork(prev, *was):
			add(w)
		case at && !sameCheckRuns(was.Checks, w.Checks):
			add(w)
		}
	}
	if prev != nil {
		// A wave gone from the status (a new layout) takes its checks along.
		for _, w := range prev.Status.Waves {
			if checksAtWork(prev, w) && !slices.ContainsFunc(next.Status.Waves, func(n fleetv1alpha1.WaveStatus) bool { return n.Name == w.Name }) {
				add(w)
			}
		}
	}
	return out
}

// checksAtWork reports whether WorkChecksFor copies checks for wave w of r
// (given its clusters are admitted to the target).
func checksAtWork(r *fleetv1alpha1.Rollout, w fleetv1alpha1.WaveStatus) bool {
	return !r.Status.Phase.IsTerminal() && !rollingBack(r.Status.Phase) && w.StartedAt != nil &&
		(w.Phase == fleetv1alpha1.WavePhaseProgressing || w.Phase == fleetv1alpha1.WavePhaseBaking)
}

// sameCheckRuns reports whether a and b name the same checks at the same
// runs, skipped alike: all of a wave's check status that WorkChecksFor reads.
func sameCheckRuns(a, b []fleetv1alpha1.WaveCheckStatus) bool {
	return slices.EqualFunc(a, b, func(x, y fleetv1alpha1.WaveCheckStatus) bool {
		return x.Name == y.Name && x.Run == y.Run && (x.Skipped == nil) == (y.Skipped == nil)
	})
}
