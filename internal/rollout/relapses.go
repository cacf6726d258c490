package rollout

import (
	"fmt"
	"strings"
	"time"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// bindRelapses reads, in each wave, how often each cluster left Healthy on
// the target after it had turned healthy there in the wave (a relapse:
// what restarts its progress deadline and the wave's bake), from the marks
// the last plan wrote (wave.relapses). A cluster that relapsed more than
// MaxRelapses times is flapping: judge fails it, for good in this wave.
// Without the bound, a team whose instance is all a Promise runs on a
// cluster could hold the platform's wave for as long as it makes its
// readiness flap. The marks are in the status, so a hub that restarts, or
// a new leader, keeps the count.
func (p *planner) bindRelapses() {
	for _, w := range p.waves {
		if len(w.st.Relapses) != len(w.st.Clusters) {
			// Not at work at the last plan (storeRelapses starts the
			// marks), or marks it cannot read.
			w.st.Relapses = ""
			continue
		}
		for i, name := range w.st.Clusters {
			if n, _, _ := readRelapses(w.st.Relapses[i]); n > fleetv1alpha1.MaxRelapses {
				w.markFlapping(name)
			}
		}
	}
}

// countRelapses counts the relapses seen in this plan, in the waves that
// count them (after bindChecks: a cluster a check failed is out of the
// bake).
func (p *planner) countRelapses() {
	if p.st.Phase.IsTerminal() || p.st.Phase == fleetv1alpha1.RolloutPhaseRollingBack {
		return
	}
	for _, w := range p.waves {
		if !counted(w) || w.st.Relapses == "" {
			continue
		}
		bakeFrom := p.bakeFrom(w)
		var restart time.Time
		marks := []byte(w.st.Relapses)
		w.relapsed = map[string]bool{}
		relapsedNow := false // some cluster is not healthy since a relapse
		for i, name := range w.st.Clusters {
			var recovered time.Time
			_, wasHealthy, _ := readRelapses(marks[i])
			marks[i], recovered = p.nextRelapseMark(w, i, marks[i], bakeFrom)
			n, healthy, seen := readRelapses(marks[i])
			if wasHealthy && !healthy {
				w.st.LastRelapseAt = ptr(stamp(p.now))
			}
			if !healthy {
				w.relapsed[name] = seen
				relapsedNow = relapsedNow || seen
			}
			if n > fleetv1alpha1.MaxRelapses {
				w.markFlapping(name)
			} else if recovered.After(restart) {
				restart = recovered
			}
		}
		w.st.Relapses = string(marks)
		if w.st.LastRelapseAt == nil && relapsedNow {
			// Relapses counted by a hub that did not date them: from
			// now on, as far as this hub knows.
			w.st.LastRelapseAt = ptr(stamp(p.now))
		}
		if !restart.IsZero() {
			// The bake restarts from the latest recovery (bake would
			// say so too); moved here, so that planning again does not
			// count the same recovery twice, even where bake does not run.
			w.st.BakeStartedAt = ptr(stamp(restart))
			p.event(EventNormal, ReasonBakeReset, fmt.Sprintf("wave %s: bake restarted, a cluster became healthy again at %s",
				w.st.Name, restart.UTC().Format(time.RFC3339)))
		}
	}
}

// bakeFrom is when the bake the last plan counted started, for the
// recoveries it did not see (zero when there is none: the wave is not
// baking, has no bake time, or kept when it was first seen complete).
func (p *planner) bakeFrom(w *wave) time.Time {
	if w.cfg.bakeTime <= 0 || w.st.Phase != fleetv1alpha1.WavePhaseBaking || w.st.BakeStartedAt == nil {
		return time.Time{}
	}
	return w.st.BakeStartedAt.Time
}

// markFlapping records that a cluster of w relapsed too often.
func (w *wave) markFlapping(name string) {
	if w.flapping == nil {
		w.flapping = map[string]bool{}
	}
	w.flapping[name] = true
}

// counted reports whether the relapses of w's clusters count: it started
// and has not completed (a wave Failed by its budget counts on, as a
// resume may take it up again).
func counted(w *wave) bool { return w.started() && !w.done() }

// storeRelapses starts the marks of the waves at work that have none (they
// started in this plan): which clusters are healthy on the target already.
// Started here rather than in bindRelapses, so that planning again from the
// status written gives the same status.
func (p *planner) storeRelapses() {
	if p.st.Phase.IsTerminal() || p.st.Phase == fleetv1alpha1.RolloutPhaseRollingBack {
		return
	}
	for _, w := range p.waves {
		if !counted(w) || len(w.st.Relapses) == len(w.st.Clusters) {
			continue
		}
		marks := []byte(strings.Repeat(string(rune(relapseNone)), len(w.st.Clusters)))
		for i := range marks {
			if p.healthyOnTarget(w.obs[i]) {
				marks[i] = relapseMark(0, true)
			}
		}
		w.st.Relapses = string(marks)
	}
}

// healthyOnTarget reports whether a cluster is online and healthy on the
// target as its agent reports it (judge aside: a flapping cluster may be).
// Going offline is leaving Healthy: nobody sees its health while it is away,
// and its return restarts the bake as a recovery does, so an agent that
// goes away just past its grace once per bake is counted as flapping.
func (p *planner) healthyOnTarget(o *ClusterObservation) bool {
	target := p.in.Spec.TargetRevision
	return o != nil && o.Online && o.Revision == target && o.AppliedRevision == target && o.Health == HealthHealthy
}

// nextRelapseMark is the next mark of cluster i of w, whose last mark is
// prev, and when it recovered if it relapsed and recovered unseen. A relapse
// is counted when a cluster healthy at the last look is not healthy now,
// and when it is healthy again since a later time than bakeFrom, the bake
// the last plan counted: it left Healthy (or went offline) and came back
// between two plans, and the bake restarts all the same. (A cluster a check
// failed is out of the bake.)
func (p *planner) nextRelapseMark(w *wave, i int, prev byte, bakeFrom time.Time) (byte, time.Time) {
	o := w.obs[i]
	n, wasHealthy, seen := readRelapses(prev)
	if o == nil || n > fleetv1alpha1.MaxRelapses {
		// Gone, or failed as flapping already: nothing more to count.
		return prev, time.Time{}
	}
	healthy := p.healthyOnTarget(o)
	var recovered time.Time
	_, checkFailed := w.checkFailed[o.Name]
	switch since := p.healthySince(o, w); {
	case !seen && !healthy:
		return relapseNone, time.Time{}
	case !seen:
		return relapseMark(0, true), time.Time{}
	case wasHealthy && !healthy:
		n++
	case wasHealthy && !bakeFrom.IsZero() && !checkFailed && stamp(since).After(bakeFrom):
		n++
		recovered = since
	}
	if n > fleetv1alpha1.MaxRelapses {
		p.event(EventWarning, fleetv1alpha1.ReasonFlapping, fmt.Sprintf(
			"wave %s: cluster %s left Healthy %d times in the wave, more than the %d allowed: it fails as Flapping (%s)",
			w.st.Name, o.Name, n, fleetv1alpha1.MaxRelapses, hubView(o)))
	}
	return relapseMark(n, healthy), recovered
}

// flappingFailure is the failure of a cluster that relapsed more than
// MaxRelapses times in its wave, dated from its last change of health.
func (p *planner) flappingFailure(o *ClusterObservation, w *wave) verdict {
	msg := fmt.Sprintf("left Healthy (going offline counts) more than %d times in wave %s (each time restarting its progress deadline and the wave's bake); %s",
		fleetv1alpha1.MaxRelapses, w.st.Name, hubView(o))
	return p.failed(o, w, fleetv1alpha1.ReasonFlapping, msg, p.since(o, w))
}

// hubView says how the hub sees a cluster now: what its agent reports, or,
// offline, since when and what it last reported.
func hubView(o *ClusterObservation) string {
	if o.Online {
		return "its agent now reports " + agentReport(o)
	}
	since := ""
	if !o.LastSeen.IsZero() {
		since = " since " + o.LastSeen.UTC().Format(time.RFC3339)
	}
	return "the cluster is offline" + since + "; its agent last reported " + agentReport(o)
}

// agentReport says what a cluster's agent reports of its health.
func agentReport(o *ClusterObservation) string {
	s := string(o.Health)
	if o.Health == "" {
		s = string(HealthUnknown)
	}
	if o.Reason != "" && o.Reason != s {
		s += " (" + o.Reason + ")"
	}
	if o.Message != "" {
		s += ": " + o.Message
	}
	return s
}

// relapseNone marks a cluster not healthy on the target yet in its wave.
const relapseNone = '.'

// relapseMark encodes n relapses (at most 9) and whether the cluster is
// healthy: a digit when it is, a letter from "a" when it is not.
func relapseMark(n int, healthy bool) byte {
	n = min(n, 9)
	if healthy {
		return byte('0' + n)
	}
	return byte('a' + n)
}

// readRelapses decodes a mark: the relapses counted, whether the cluster
// was healthy at the last look, and whether it has been healthy on the
// target in the wave at all (false for "." and for a mark it cannot read).
func readRelapses(c byte) (n int, healthy, seen bool) {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0'), true, true
	case c >= 'a' && c <= 'j':
		return int(c - 'a'), false, true
	}
	return 0, false, false
}
