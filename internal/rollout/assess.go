package rollout

import (
	"fmt"
	"time"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// state is where one target cluster stands in its wave.
type state int

const (
	// statePending: not admitted; online (or its wave has not started).
	statePending state = iota
	// stateConverging: admitted, not healthy yet, within its progress deadline.
	stateConverging
	// stateHealthy: healthy on the target revision (last known, if now offline).
	stateHealthy
	// stateFailed: failed, past its progress deadline, or offline and failing
	// under the offline policy.
	stateFailed
	// stateWaiting: offline under the Wait policy, within its progress deadline.
	stateWaiting
	// stateSkipped: offline under the Skip policy, or gone from the fleet.
	stateSkipped
	// stateOffline: offline in a wave that has not started; no policy applies yet.
	stateOffline
)

// verdict is the judgement of one cluster.
type verdict struct {
	state state
	// since is when a healthy cluster became healthy on the target.
	since time.Time
	// deadline is when a converging or waiting cluster will count as failed.
	deadline time.Time
	// failure explains a failed cluster.
	failure fleetv1alpha1.ClusterFailure
}

// assessment sums up one wave.
type assessment struct {
	counts   fleetv1alpha1.RolloutCounts
	failures []fleetv1alpha1.ClusterFailure
	// admittable indexes the online clusters not admitted yet, in name order.
	admittable []int
	// inFlight counts admitted clusters neither healthy nor failed: the ones
	// maxConcurrency limits.
	inFlight int
	// unfinished counts clusters that keep the wave from completing.
	unfinished int
	// healthy counts clusters healthy on the target; bakeStart is the latest
	// time one of them became healthy, and bakeUnknown says some did not say.
	healthy     int
	bakeStart   time.Time
	bakeUnknown bool
	// next is the earliest deadline still ahead.
	next time.Time
	// notHealthy counts clusters not healthy on the target (failed,
	// converging, pending, waiting, skipped or gone): a completed wave
	// with any is SucceededWithFailures, not Succeeded.
	notHealthy int
	// gone counts the clusters of the wave that left the fleet (no
	// observation): no failure, but not on the target either.
	gone int
	// unattributed lists the wave's failures that are not the rollout's.
	unattributed []fleetv1alpha1.ClusterFailure
}

// assess judges every cluster of a wave against the current observations
// (including this plan's admissions).
func (p *planner) assess(w *wave) assessment {
	var a assessment
	for i, o := range w.obs {
		v := p.judge(o, w)
		a.add(o, v, p.in.Spec.TargetRevision)
		if v.state == statePending && o != nil && o.Online {
			a.admittable = append(a.admittable, i)
		}
		if o != nil && o.Unattributed != nil {
			a.unattributed = append(a.unattributed, p.unattributed(o, w))
		}
	}
	return a
}

// unattributed reports a cluster's failure that is not the rollout's, at the
// time it began (else when the run started), so that the list does not
// change from one plan to the next while nothing changes.
func (p *planner) unattributed(o *ClusterObservation, w *wave) fleetv1alpha1.ClusterFailure {
	u := o.Unattributed
	reason, message := agentCause(u.Reason, u.Message)
	at := u.Since
	if at.IsZero() || at.After(p.now) {
		at = p.now
		if p.st.StartedAt != nil {
			at = p.st.StartedAt.Time
		}
	}
	return fleetv1alpha1.ClusterFailure{
		Cluster:  o.Name,
		Wave:     w.st.Name,
		Reason:   fleetv1alpha1.ClipMessage(reason, 128),
		Message:  fleetv1alpha1.ClipMessage(message, 1024),
		Time:     stamp(at),
		Revision: fleetv1alpha1.ClipMessage(u.Revision, 253),
	}
}

// add counts one cluster. Every cluster is counted in exactly one of
// healthy, failed, pending and offline: failed first, then offline (an
// offline cluster's health is only last known), then healthy.
func (a *assessment) add(o *ClusterObservation, v verdict, target string) {
	a.counts.Total++
	if o != nil && o.Revision == target {
		a.counts.Admitted++
	}
	switch {
	case v.state == stateFailed:
		a.counts.Failed++
	case o == nil || !o.Online:
		a.counts.Offline++
	case v.state == stateHealthy:
		a.counts.Healthy++
	default:
		a.counts.Pending++
	}

	switch {
	case o == nil:
		// A cluster gone from the fleet is no failure of the wave, but
		// not healthy on the target either: a wave whose clusters all
		// left (a team's instances, alone there, removed mid-wave) did
		// not show the change good anywhere, and must not read Succeeded
		// to whoever approves the next.
		a.gone++
		a.notHealthy++
	case v.state != stateHealthy:
		a.notHealthy++
	}
	switch v.state {
	case stateHealthy:
		a.healthy++
		if v.since.IsZero() {
			a.bakeUnknown = true
		} else if v.since.After(a.bakeStart) {
			a.bakeStart = v.since
		}
	case stateFailed:
		a.failures = append(a.failures, v.failure)
	case stateConverging:
		a.inFlight++
		a.unfinished++
	case stateWaiting:
		if o.Revision == target {
			a.inFlight++
		}
		a.unfinished++
	case statePending:
		a.unfinished++
	}
	if !v.deadline.IsZero() && (a.next.IsZero() || v.deadline.Before(a.next)) {
		a.next = v.deadline
	}
}

// judge decides one cluster's state. In order: healthy on the target; failed
// on it; offline (the offline policy, once the wave started); converging
// within or past its progress deadline; not admitted.
func (p *planner) judge(o *ClusterObservation, w *wave) verdict {
	if o == nil {
		return verdict{state: stateSkipped}
	}
	target := p.in.Spec.TargetRevision
	admitted := o.Revision == target
	if f, failed := w.checkFailed[o.Name]; failed && admitted {
		return p.failed(o, w, fleetv1alpha1.ReasonAnalysisFailed, f.message, f.at)
	}
	if w.flapping[o.Name] && admitted {
		return p.flappingFailure(o, w)
	}
	switch {
	case admitted && o.AppliedRevision == target && o.Health == HealthHealthy && !o.Online && w.started() && !w.done():
		// Healthy when last heard from: the wave at work neither bakes
		// nor completes on that (a change that cuts its member off
		// reads healthy for ever); the offline policy applies, from
		// when it went away.
		return p.judgeOfflineFrom(o, w, o.LastSeen)
	case admitted && o.AppliedRevision == target && o.Health == HealthHealthy:
		return verdict{state: stateHealthy, since: p.healthySince(o, w)}
	case admitted && o.Health == HealthFailed:
		reason, message := agentCause(o.Reason, o.Message)
		return p.failed(o, w, reason, message, p.since(o, w))
	case !o.Online && w.started():
		return p.judgeOffline(o, w)
	case !o.Online:
		return verdict{state: stateOffline}
	case admitted:
		return p.judgeConverging(o, w)
	}
	return verdict{state: statePending}
}

// hubReasons are the reasons of the hub's own judgement of a cluster: it
// was offline, past its deadline, flapping, or failed a check the hub
// placed or read.
var hubReasons = map[string]bool{
	fleetv1alpha1.ReasonProgressDeadlineExceeded: true,
	fleetv1alpha1.ReasonClusterOffline:           true,
	fleetv1alpha1.ReasonFlapping:                 true,
	fleetv1alpha1.ReasonAnalysisFailed:           true,
	fleetv1alpha1.ReasonFailureBudgetExceeded:    true,
}

// agentCause is the reason and message of a failure a cluster's agent
// reports (its Work's condition, which it writes itself). A reason of the
// hub's own judgement is the agent's word, not the hub's: it counts as
// Unhealthy, the message saying what the agent reported, so that no
// member can make the Rollout say the hub measured a check failing or saw
// a cluster offline.
func agentCause(reason, message string) (string, string) {
	switch {
	case reason == "":
		return fleetv1alpha1.ReasonUnhealthy, message
	case hubReasons[reason]:
		return fleetv1alpha1.ReasonUnhealthy, "its agent reports " + reason + ": " + message
	}
	return reason, message
}

// judgeOffline applies the offline policy to a cluster of a started wave
// that is offline and not (known to be) healthy on the target.
func (p *planner) judgeOffline(o *ClusterObservation, w *wave) verdict {
	return p.judgeOfflineFrom(o, w, time.Time{})
}

// judgeOfflineFrom is judgeOffline, the Wait policy counting its deadline
// from no earlier than seen (zero: not known), when the hub last heard
// from the cluster; never later than now.
func (p *planner) judgeOfflineFrom(o *ClusterObservation, w *wave, seen time.Time) verdict {
	ref := w.st.StartedAt.Time
	if o.Revision == p.in.Spec.TargetRevision && o.AdmittedAt.After(ref) {
		ref = o.AdmittedAt
	}
	if seen.After(ref) && !seen.After(p.now) {
		ref = seen
	}
	switch p.in.Strategy.OfflinePolicy {
	case fleetv1alpha1.OfflineSkip:
		return verdict{state: stateSkipped}
	case fleetv1alpha1.OfflineCountAsFailure:
		return p.failed(o, w, fleetv1alpha1.ReasonClusterOffline, "the cluster is offline (offlinePolicy CountAsFailure)", ref)
	}
	deadline := ref.Add(w.cfg.progressDeadline)
	if !p.now.Before(deadline) {
		msg := fmt.Sprintf("the cluster has been offline for longer than the progress deadline (%s)", w.cfg.progressDeadline)
		return p.failed(o, w, fleetv1alpha1.ReasonClusterOffline, msg, deadline)
	}
	return verdict{state: stateWaiting, deadline: deadline}
}

// judgeConverging checks an admitted, online, not yet healthy cluster
// against its progress deadline, counted from the later of its admission and
// its last change of health.
func (p *planner) judgeConverging(o *ClusterObservation, w *wave) verdict {
	from := p.deadlineFrom(o, w)
	if from.IsZero() {
		return verdict{state: stateConverging}
	}
	deadline := from.Add(w.cfg.progressDeadline)
	if !p.now.Before(deadline) {
		msg := fmt.Sprintf("not healthy within the progress deadline (%s)", w.cfg.progressDeadline)
		if o.Message != "" {
			msg += ": " + o.Message
		}
		return p.failed(o, w, fleetv1alpha1.ReasonProgressDeadlineExceeded, msg, deadline)
	}
	return verdict{state: stateConverging, deadline: deadline}
}

// failed builds a failed verdict, recorded at the time the failure began
// (never later than now), so the failure list does not change from one plan
// to the next while nothing changes.
func (p *planner) failed(o *ClusterObservation, w *wave, reason, message string, at time.Time) verdict {
	if at.IsZero() || at.After(p.now) {
		at = p.now
	}
	rev := ""
	if o.Revision == p.in.Spec.TargetRevision {
		rev = o.Revision
	}
	return verdict{state: stateFailed, failure: fleetv1alpha1.ClusterFailure{
		Revision: fleetv1alpha1.ClipMessage(rev, 253),
		Cluster:  o.Name,
		Wave:     w.st.Name,
		Reason:   fleetv1alpha1.ClipMessage(reason, 128),
		Message:  fleetv1alpha1.ClipMessage(message, 1024),
		Time:     stamp(at),
	}}
}

// since is when a cluster's current health began on its current revision:
// the latest of its admission, its last change of health and the start of
// its wave (a cluster is not judged on time spent before its wave started,
// e.g. healthy on the previous revision); zero if none is known.
//
// The change of health is the agent's word (a condition's
// lastTransitionTime it writes itself). One more than MaxClockSkew after
// now is not believed: it would hold the wave's bake, and every later wave,
// until then, or put the cluster's progress deadline out of reach, with a
// single status write.
func (p *planner) since(o *ClusterObservation, w *wave) time.Time {
	t := o.AdmittedAt
	if o.HealthSince.After(t) && !o.HealthSince.After(p.now.Add(MaxClockSkew)) {
		t = o.HealthSince
	}
	if w.started() && w.st.StartedAt.After(t) {
		t = w.st.StartedAt.Time
	}
	return t
}

// deadlineFrom is when the progress deadline of an admitted cluster not
// healthy on the target counts from: since, but the change of health its
// agent dates (its Healthy condition's lastTransitionTime, which it writes
// itself) moves it only as far as the hub saw a change. A cluster not
// healthy on the target yet in its wave counts from its admission (or its
// wave's start): an honest agent's condition keeps its time while it stays
// False, and one that dated it afresh every few minutes stayed in flight,
// holding its wave and every later one, for ever. One that relapsed counts
// from no later than when the hub last saw a cluster of its wave relapse.
// Where relapses are not counted (the wave started in this plan), since.
func (p *planner) deadlineFrom(o *ClusterObservation, w *wave) time.Time {
	relapsed, counted := w.relapsed[o.Name]
	if !counted {
		return p.since(o, w)
	}
	t := o.AdmittedAt
	if h := o.HealthSince; relapsed && w.st.LastRelapseAt != nil {
		if h.After(w.st.LastRelapseAt.Time) {
			h = w.st.LastRelapseAt.Time
		}
		if h.After(t) {
			t = h
		}
	}
	if w.started() && w.st.StartedAt.After(t) {
		t = w.st.StartedAt.Time
	}
	return t
}

// healthySince is since when a healthy, online cluster counts healthy
// toward its wave's bake: since, or when it last came online, if later.
// Its health while offline was not seen (an agent that stops heartbeating
// reports nothing), so a cluster away for most of the bake and back for a
// moment did not bake; the bake counts from its return. The hub dated the
// return: one after now (dated by a replica whose clock runs ahead) counts
// from then, as the admission and the wave's start it dated do. Counted from
// now, it was a later time at every plan until this hub's clock got there,
// each read as a recovery since the bake began: a relapse a plan, and a
// canary that went away once failed Flapping.
func (p *planner) healthySince(o *ClusterObservation, w *wave) time.Time {
	t := p.since(o, w)
	if o.OnlineSince.After(t) {
		t = o.OnlineSince
	}
	return t
}

// MaxClockSkew is how far ahead of the hub's clock a member's may run: a
// time an agent reports (when its Work's health changed, when it measured a
// check) later than the hub's now by more is not believed.
const MaxClockSkew = time.Minute

// or returns s, or def when s is empty.
func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
