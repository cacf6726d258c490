package rollout

import (
	"fmt"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// wave is one frozen wave of the run: its status (in the next status, edited
// in place) and its settings resolved for its size.
type wave struct {
	st  *fleetv1alpha1.WaveStatus
	cfg waveConfig
	// obs[i] observes st.Clusters[i] (nil if the cluster is gone); an
	// admission replaces it with a copy as the cluster will look once
	// admitted.
	obs []*ClusterObservation
	// checks are the wave's verification checks while it is at work;
	// checkFailed names the clusters one of them failed.
	checks      []*waveCheck
	checkFailed map[string]checkFailure
	// flapping names the clusters that relapsed more than MaxRelapses
	// times in the wave (bindRelapses).
	flapping map[string]bool
	// relapsed says, of each cluster not healthy on the target at this
	// look in a wave whose relapses count, whether it had been healthy on
	// it in the wave (countRelapses): its progress deadline counts from
	// its admission if not, from no later than st.LastRelapseAt if so.
	relapsed map[string]bool
	// unmatched, if set, says why the wave waits for an approval its
	// strategy does not ask for: the waves before it matched no Cluster of
	// the hub (gateAfterUnmatched), or the wave before it completed with
	// none of its clusters healthy on the target (gateAfterNothingShown).
	unmatched string
}

// waveConfig is a wave's policy with counts and percentages resolved.
type waveConfig struct {
	maxConcurrency   int
	maxFailures      int
	bakeTime         time.Duration
	progressDeadline time.Duration
	approval         bool
}

// done reports whether the wave needs no more attention.
func (w *wave) done() bool {
	return completed(w.st.Phase) || w.st.Phase == fleetv1alpha1.WavePhaseSkipped
}

// completed reports whether a wave phase is a completed wave's: Succeeded,
// or SucceededWithFailures.
func completed(phase fleetv1alpha1.WavePhase) bool {
	return phase == fleetv1alpha1.WavePhaseSucceeded || phase == fleetv1alpha1.WavePhaseSucceededWithFailures
}

// live reports whether a wave phase says the wave is at work: it must not
// outlive the rollout's normal progress.
func live(phase fleetv1alpha1.WavePhase) bool {
	switch phase {
	case fleetv1alpha1.WavePhaseProgressing, fleetv1alpha1.WavePhaseBaking, fleetv1alpha1.WavePhaseWaitingForApproval:
		return true
	}
	return false
}

// started reports whether the wave began admitting.
func (w *wave) started() bool { return w.st.StartedAt != nil }

// freezeWaves assigns every candidate cluster to a wave: the first strategy
// wave whose selector matches, else the implicit last wave (in Immediate
// mode, the single immediate wave). Every strategy wave is listed, empty ones
// already Skipped; the implicit wave only when some cluster falls into it.
func freezeWaves(in Input) ([]fleetv1alpha1.WaveStatus, error) {
	names := make([]string, len(in.Clusters))
	byName := make(map[string]map[string]string, len(in.Clusters))
	for i, c := range in.Clusters {
		names[i] = c.Name
		byName[c.Name] = c.Labels
	}
	slices.Sort(names)

	var waves []fleetv1alpha1.WaveStatus
	if mode(in.Spec) == fleetv1alpha1.UpdateModeImmediate {
		waves = []fleetv1alpha1.WaveStatus{{Name: ImmediateWaveName, Clusters: names}}
	} else {
		var err error
		if waves, err = assignWaves(in.Strategy.Waves, names, byName); err != nil {
			return nil, err
		}
	}
	unmatched := unmatchedSelectors(in)
	for i := range waves {
		w := &waves[i]
		if len(w.Clusters) > maxWaveClusters {
			return nil, fmt.Errorf("wave %s has %d clusters, more than the %d a Rollout status can hold",
				w.Name, len(w.Clusters), maxWaveClusters)
		}
		w.Phase = fleetv1alpha1.WavePhasePending
		if len(w.Clusters) == 0 {
			w.Phase = fleetv1alpha1.WavePhaseSkipped
			w.UnmatchedSelector = unmatched[w.Name]
		}
	}
	if n := targetSetStatusBytes(in, waves); n > maxTargetSetStatusBytes {
		return nil, fmt.Errorf("the target set's %d clusters would take up to %d bytes of the Rollout's status as its waves run "+
			"(each cluster's name, and a character per decision, relapse count and check), more than the %d it may under the 1.5 MiB etcd stores in one object: "+
			"give the change fewer checks, or place the Promise on fewer clusters", len(in.Clusters), n, maxTargetSetStatusBytes)
	}
	return waves, nil
}

// targetSetStatusBytes is the most the target set costs the Rollout's status
// as its waves run: each cluster's name in its wave (quoted, and a comma),
// its character in admitted and in relapses, and its mark of each check. A
// switch to Immediate may carry the checks of every wave into one, so each
// cluster counts every check of the run, up to the maxWaveChecks a wave keeps.
func targetSetStatusBytes(in Input, waves []fleetv1alpha1.WaveStatus) int {
	checks := map[string]bool{}
	for _, w := range waves {
		for _, c := range ResolveChecks(in.Strategy, w.Name, in.PromiseChecks, nil) {
			checks[c.Name] = true
		}
	}
	perCluster := len(`"",`) + len("T0") + min(len(checks), maxWaveChecks)
	n := 0
	for _, w := range waves {
		for _, c := range w.Clusters {
			n += len(c) + perCluster
		}
	}
	return n
}

// unmatchedSelectors are the selectors, by wave name, of the strategy waves
// the controller found to match no Cluster of the hub (Input.UnmatchedWaves),
// as text. None in Immediate mode: the emergency lane has no waves to skip.
func unmatchedSelectors(in Input) map[string]string {
	if mode(in.Spec) == fleetv1alpha1.UpdateModeImmediate {
		return nil
	}
	out := map[string]string{}
	for _, w := range in.Strategy.Waves {
		if w.Selector == nil || !slices.Contains(in.UnmatchedWaves, w.Name) {
			continue
		}
		// assignWaves refused a selector that does not parse.
		if sel, err := metav1.LabelSelectorAsSelector(w.Selector.LabelSelector()); err == nil {
			out[w.Name] = fleetv1alpha1.ClipMessage(sel.String(), maxSelectorText)
		}
	}
	return out
}

// maxSelectorText bounds WaveStatus.unmatchedSelector, as the API does.
const maxSelectorText = 1024

// WavesMatchingNoCluster names the strategy waves whose selector matches
// none of the labels given (every Cluster of the hub's): a typo, most
// likely, which would otherwise skip the wave in every Rollout. A wave
// without a selector, or with one that cannot be parsed (Plan refuses the
// strategy), is never named.
func WavesMatchingNoCluster(s fleetv1alpha1.RolloutStrategySpec, clusterLabels []map[string]string) []string {
	var out []string
	for _, w := range s.Waves {
		if w.Selector == nil {
			continue
		}
		sel, err := metav1.LabelSelectorAsSelector(w.Selector.LabelSelector())
		if err != nil {
			continue
		}
		if !slices.ContainsFunc(clusterLabels, func(l map[string]string) bool { return sel.Matches(labels.Set(l)) }) {
			out = append(out, w.Name)
		}
	}
	return out
}

// gateAfterUnmatched makes the first wave with clusters after waves that
// matched no Cluster of the hub (unmatchedSelector) wait for an approval:
// the Rollout goes on without their gate only if a person says so. The
// marks are frozen in the status at the start, so a restarted hub holds the
// same wave; an unmatched wave with no wave of clusters after it holds
// nothing.
func (p *planner) gateAfterUnmatched() {
	var skipped []*fleetv1alpha1.WaveStatus
	for _, w := range p.waves {
		if len(w.st.Clusters) == 0 {
			if w.st.UnmatchedSelector != "" {
				skipped = append(skipped, w.st)
			}
			continue
		}
		if len(skipped) > 0 {
			w.cfg.approval = true
			w.unmatched = unmatchedMessage(skipped, w.st.Name)
		}
		skipped = nil
	}
}

// unmatchedMessage says why wave next waits: "wave canary matches no
// cluster of the fleet (selector ring=canray); approve wave general to go
// on without it".
func unmatchedMessage(skipped []*fleetv1alpha1.WaveStatus, next string) string {
	parts := make([]string, len(skipped))
	for i, w := range skipped {
		parts[i] = fmt.Sprintf("wave %s matches no cluster of the fleet (selector %s)", w.Name, w.UnmatchedSelector)
	}
	it := "it"
	if len(skipped) > 1 {
		it = "them"
	}
	return fmt.Sprintf("%s; approve wave %s to go on without %s", strings.Join(parts, "; "), next, it)
}

// assignWaves puts each cluster (names sorted) in the first wave whose
// selector matches its labels; a wave without a selector takes every cluster
// left.
func assignWaves(specs []fleetv1alpha1.Wave, names []string, labelsOf map[string]map[string]string) ([]fleetv1alpha1.WaveStatus, error) {
	selectors := make([]labels.Selector, len(specs))
	for i, w := range specs {
		if w.Selector == nil {
			selectors[i] = labels.Everything()
			continue
		}
		sel, err := metav1.LabelSelectorAsSelector(w.Selector.LabelSelector())
		if err != nil {
			return nil, fmt.Errorf("invalid strategy: wave %s: selector: %w", w.Name, err)
		}
		selectors[i] = sel
	}
	waves := make([]fleetv1alpha1.WaveStatus, len(specs), len(specs)+1)
	for i, w := range specs {
		waves[i].Name = w.Name
	}
	var rest []string
	for _, name := range names {
		set := labels.Set(labelsOf[name])
		i := slices.IndexFunc(selectors, func(s labels.Selector) bool { return s.Matches(set) })
		if i < 0 {
			rest = append(rest, name)
			continue
		}
		waves[i].Clusters = append(waves[i].Clusters, name)
	}
	if len(rest) > 0 {
		waves = append(waves, fleetv1alpha1.WaveStatus{Name: fleetv1alpha1.ImplicitWaveName, Clusters: rest})
	}
	return waves, nil
}

// configFor resolves the policy of a frozen wave. The immediate wave uses
// the strategy's immediate policy; the implicit last wave, and a frozen wave
// the strategy no longer has, use the settings of the strategy's last wave.
func configFor(s fleetv1alpha1.RolloutStrategySpec, st *fleetv1alpha1.WaveStatus) (waveConfig, error) {
	size := len(st.Clusters)
	if st.Name == ImmediateWaveName {
		return immediateConfig(s.Immediate, size)
	}
	spec := s.Waves[len(s.Waves)-1]
	if i := slices.IndexFunc(s.Waves, func(w fleetv1alpha1.Wave) bool { return w.Name == st.Name }); i >= 0 {
		spec = s.Waves[i]
	}
	conc, err := concurrencyLimit(spec.MaxConcurrency, size)
	if err != nil {
		return waveConfig{}, err
	}
	fails, err := failureBudget(spec.MaxFailures, defaultMaxFailures, size)
	if err != nil {
		return waveConfig{}, err
	}
	return waveConfig{
		maxConcurrency:   conc,
		maxFailures:      fails,
		bakeTime:         duration(spec.BakeTime, 0),
		progressDeadline: duration(spec.ProgressDeadline, defaultProgressDeadline),
		approval:         spec.Approval == fleetv1alpha1.ApprovalRequired,
	}, nil
}

// immediateConfig is the policy of the immediate wave: no bake, no approval.
func immediateConfig(p *fleetv1alpha1.ImmediatePolicy, size int) (waveConfig, error) {
	if p == nil {
		p = &fleetv1alpha1.ImmediatePolicy{}
	}
	conc, err := concurrencyLimit(p.MaxConcurrency, size)
	if err != nil {
		return waveConfig{}, err
	}
	fails, err := failureBudget(p.MaxFailures, defaultImmediateMaxFailures, size)
	if err != nil {
		return waveConfig{}, err
	}
	return waveConfig{
		maxConcurrency:   conc,
		maxFailures:      fails,
		progressDeadline: duration(p.ProgressDeadline, defaultProgressDeadline),
	}, nil
}

// isImmediateLayout reports whether the frozen waves are the single immediate wave.
func isImmediateLayout(waves []fleetv1alpha1.WaveStatus) bool {
	return len(waves) == 1 && waves[0].Name == ImmediateWaveName
}

// mergeForImmediate turns a wave layout into the single immediate wave,
// keeping the frozen target set, when the mode is switched to Immediate
// after the start (at now). The run goes on: the wave started when the
// first of the merged ones did, since a cluster's progress deadline counts
// from no earlier than its wave's start, and a cluster that failed by it
// before the switch would otherwise read as converging again, its failure
// out of the immediate budget.
func mergeForImmediate(waves []fleetv1alpha1.WaveStatus, now time.Time) []fleetv1alpha1.WaveStatus {
	var names []string
	var started *metav1.Time
	for _, w := range waves {
		names = append(names, w.Clusters...)
		if w.StartedAt != nil && (started == nil || w.StartedAt.Before(started)) {
			started = w.StartedAt.DeepCopy()
		}
	}
	slices.Sort(names)
	names = slices.Compact(names)
	phase := fleetv1alpha1.WavePhasePending
	switch {
	case len(names) == 0:
		phase, started = fleetv1alpha1.WavePhaseSkipped, nil
	case started != nil:
		phase = fleetv1alpha1.WavePhaseProgressing
	}
	return []fleetv1alpha1.WaveStatus{{Name: ImmediateWaveName, Phase: phase, Clusters: names, StartedAt: started,
		Relapses: mergeRelapses(waves, names), Checks: mergeCheckFailures(waves, names, now)}}
}

// mergeCheckFailures carries into the merged wave (names) the clusters a
// per-cluster check had failed in the waves it merges, one entry per check
// name: the Immediate wave runs no checks, and a failure it forgot would
// read healthy there. Only failures go: the other states are measurements
// the emergency lane does not wait for, and a check a person skipped
// failed nothing. An agent-placed check of the wave at work at the switch
// (now) is carried too, failed or not, with its run and its window (from
// the wave's start to now, in since and lastMeasuredAt): its agents
// measure on their own, and a failure measured in the window may reach the
// hub only after the switch (carryLateFailures). Empty when no merged wave
// had a failure or such a check.
func mergeCheckFailures(waves []fleetv1alpha1.WaveStatus, names []string, now time.Time) []fleetv1alpha1.WaveCheckStatus {
	index := make(map[string]int, len(names))
	for i, c := range names {
		index[c] = i
	}
	var out []fleetv1alpha1.WaveCheckStatus
	for _, w := range waves {
		atWork := w.StartedAt != nil && (w.Phase == fleetv1alpha1.WavePhaseProgressing || w.Phase == fleetv1alpha1.WavePhaseBaking)
		for _, st := range w.Checks {
			failed := len(st.Marks) == len(w.Clusters) && strings.ContainsRune(st.Marks, fleetv1alpha1.CheckMarkFailed)
			measuring := atWork && st.Placement == fleetv1alpha1.CheckOnAgent
			if st.Skipped != nil || st.Scope == fleetv1alpha1.CheckWholeWave || !failed && !measuring {
				continue
			}
			i := slices.IndexFunc(out, func(c fleetv1alpha1.WaveCheckStatus) bool { return c.Name == st.Name })
			if i < 0 {
				if len(out) == maxWaveChecks {
					continue
				}
				out = append(out, fleetv1alpha1.WaveCheckStatus{Name: st.Name, Scope: st.Scope, Placement: st.Placement, When: st.When,
					Verdict: fleetv1alpha1.CheckPending, Marks: strings.Repeat(string(rune(fleetv1alpha1.CheckMarkNone)), len(names))})
				i = len(out) - 1
			}
			carried := &out[i]
			if measuring {
				carried.Run, carried.Since, carried.LastMeasuredAt = st.Run, w.StartedAt.DeepCopy(), ptr(stamp(now))
				if carried.Verdict == fleetv1alpha1.CheckPending {
					carried.Message = fleetv1alpha1.ClipMessage(fmt.Sprintf("measured in wave %s until the switch to Immediate: "+
						"a failure of run %d measured by then counts when its agent reports it", w.Name, st.Run), 1024)
				}
			}
			if !failed {
				continue
			}
			if carried.Verdict == fleetv1alpha1.CheckPending {
				carried.Verdict = fleetv1alpha1.CheckFailed
				carried.Message = fleetv1alpha1.ClipMessage("failed before the switch to Immediate, in wave "+w.Name+": "+st.Message, 1024)
			}
			marks := []byte(carried.Marks)
			for j, mark := range []byte(st.Marks) {
				k, ok := index[w.Clusters[j]]
				if mark != fleetv1alpha1.CheckMarkFailed || !ok || marks[k] == fleetv1alpha1.CheckMarkFailed {
					continue
				}
				marks[k] = fleetv1alpha1.CheckMarkFailed
				carried.Counts.Failed++
				if d := slices.IndexFunc(st.Clusters, func(c fleetv1alpha1.ClusterCheckState) bool { return c.Cluster == w.Clusters[j] }); d >= 0 &&
					len(carried.Clusters) < fleetv1alpha1.MaxCheckDetails {
					carried.Clusters = append(carried.Clusters, st.Clusters[d])
				}
			}
			carried.Marks = string(marks)
		}
	}
	for i := range out {
		slices.SortFunc(out[i].Clusters, func(a, b fleetv1alpha1.ClusterCheckState) int { return strings.Compare(a.Cluster, b.Cluster) })
	}
	return out
}

// maxWaveChecks bounds a wave's checks, as the API does.
const maxWaveChecks = 16

// mergeRelapses carries each cluster's relapse count into the merged wave
// (names): a cluster that flapped out (Flapping) stays failed, and one
// that relapsed keeps its count. Empty when no merged wave counted any.
func mergeRelapses(waves []fleetv1alpha1.WaveStatus, names []string) string {
	marks := map[string]byte{}
	for _, w := range waves {
		if len(w.Relapses) != len(w.Clusters) {
			continue
		}
		for i, c := range w.Clusters {
			marks[c] = w.Relapses[i]
		}
	}
	if len(marks) == 0 {
		return ""
	}
	out := []byte(strings.Repeat(string(rune(relapseNone)), len(names)))
	for i, c := range names {
		if m, ok := marks[c]; ok {
			out[i] = m
		}
	}
	return string(out)
}

// describeWaves summarises a layout: "pilot (1), canary (2), remaining (9)".
func describeWaves(waves []fleetv1alpha1.WaveStatus) string {
	parts := make([]string, len(waves))
	for i, w := range waves {
		parts[i] = fmt.Sprintf("%s (%d)", w.Name, len(w.Clusters))
	}
	return strings.Join(parts, ", ")
}

// mode is the update mode, Progressive when unset.
func mode(s fleetv1alpha1.RolloutSpec) fleetv1alpha1.UpdateMode {
	if s.UpdatePolicy.Mode == "" {
		return fleetv1alpha1.UpdateModeProgressive
	}
	return s.UpdatePolicy.Mode
}
