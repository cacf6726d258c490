package simulate

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/rollout"
)

// checker verifies the engine's invariants after every plan, with its own
// reading of the strategy (not the engine's):
//
//   - Plan is deterministic, and re-planning from the status it returned,
//     before its admissions are executed (a crash in between), gives the same
//     admissions, status and requeue and no new Events; a plan that ends the
//     run admits nothing;
//   - no wave admits clusters beyond maxConcurrency in flight (adopted
//     clusters aside);
//   - no wave starts before every earlier wave completed (and baked), nor
//     without its approval, nor before a Deadline-mode deadline;
//   - a rollout that goes on has no wave over its failure budget;
//   - rollback admissions go only to the recorded rollback revision, which
//     was fromRevision or the requested toRevision when recorded, exists,
//     and never changes;
//   - no cluster is admitted twice to the same revision;
//   - counts add up, and bounded lists stay bounded;
//   - attribution: failures that are not the rollout's (a Work on another
//     revision, an instance it did not move) change nothing but the
//     unattributed list: planning the same input without them gives the
//     same decision otherwise, so they never count against a budget nor
//     trigger onFailure; and a failure the rollout counts names a cluster
//     admitted to the target, or offline;
//   - no wave of a rollout that rolls back or ended shows a live phase, and
//     a Succeeded wave has every cluster healthy;
//   - freeze causes are fields: status.freeze.heldBy names the active freeze
//     exactly while the rollout is not terminal (with the Frozen condition),
//     rolledBackBy is set only by a Rollback freeze starting the rollback
//     and never changes, and a history entry names only a freeze that held
//     the rollout before or holds it now.
//   - the admissions stored in the status (status.waves[].admitted) are
//     the plan's: one mark per frozen cluster; a cluster is admitted only to
//     the target or the rollback revision, and only if it is admitted now
//     or already renders the target; and RevisionFor over the status alone
//     gives every cluster admitted now its revision and moves no other.
//   - checks (checksGate): a wave never completes with a check that runs
//     through its bake pending, only passing, inconclusive or (whole-wave)
//     failed, unless a person skipped it; an inconclusive check never
//     counts as passed and holds its wave (no completion, no admission).
type checker struct {
	s        Scenario
	admitted map[[2]string]bool
}

func newChecker(s Scenario) *checker {
	return &checker{s: s, admitted: map[[2]string]bool{}}
}

// step checks one plan.
func (c *checker) step(in rollout.Input, d rollout.Decision) error {
	checks := []func(rollout.Input, rollout.Decision) error{
		c.deterministic, c.healsAfterCrash, c.terminal, c.concurrency, c.waveOrder, c.budget, c.rollback, c.onceEach, c.counts,
		c.attribution, c.honestWaves, c.freezeCauses, c.storedAdmissions, c.checksGate,
	}
	for _, check := range checks {
		if err := check(in, d); err != nil {
			return err
		}
	}
	return nil
}

func (c *checker) deterministic(in rollout.Input, d rollout.Decision) error {
	again, err := rollout.Plan(in)
	if err != nil {
		return fmt.Errorf("second plan failed: %w", err)
	}
	if !reflect.DeepEqual(again, d) {
		return errors.New("two plans of the same input differ")
	}
	return nil
}

func (c *checker) healsAfterCrash(in rollout.Input, d rollout.Decision) error {
	in.Status = d.Status
	again, err := rollout.Plan(in)
	if err != nil {
		return fmt.Errorf("re-plan failed: %w", err)
	}
	switch {
	case !slices.Equal(again.Admit, d.Admit):
		return fmt.Errorf("re-plan before executing admits %v, not %v", again.Admit, d.Admit)
	case len(again.Events) > 0:
		return fmt.Errorf("re-plan before executing records Events again: %v", again.Events)
	case again.RequeueAfter != d.RequeueAfter:
		return fmt.Errorf("re-plan before executing requeues after %s, not %s", again.RequeueAfter, d.RequeueAfter)
	case !reflect.DeepEqual(again.Status, d.Status):
		return errors.New("re-plan before executing changes the status again")
	}
	return nil
}

// terminal: a plan that ends the run asks for nothing more, so a crash
// before its admissions ran cannot leave them undone for good.
func (c *checker) terminal(_ rollout.Input, d rollout.Decision) error {
	if d.Status.Phase.IsTerminal() && (len(d.Admit) > 0 || d.RequeueAfter > 0) {
		return fmt.Errorf("terminal phase %s with %d admissions and requeue %s", d.Status.Phase, len(d.Admit), d.RequeueAfter)
	}
	return nil
}

// concurrency: when a wave admitted clusters, the ones in flight (admitted,
// online, not healthy, not failed, within the progress deadline, and not
// adopted by their owners, who choose their own moment) are within its
// maxConcurrency.
func (c *checker) concurrency(in rollout.Input, d rollout.Decision) error {
	obs := observed(in, d)
	for _, w := range d.Status.Waves {
		admittedHere := slices.ContainsFunc(d.Admit, func(a rollout.Admission) bool {
			return a.Wave == w.Name && a.Revision == in.Spec.TargetRevision && !obs[a.Cluster].Adopted
		})
		if !admittedHere {
			continue
		}
		lim := c.limits(w)
		inFlight := 0
		checkFailed := checkFailedClusters(w)
		for _, name := range w.Clusters {
			o := obs[name]
			if o.Revision != in.Spec.TargetRevision || !o.Online || o.Adopted || o.Health == rollout.HealthFailed || checkFailed[name] ||
				(o.AppliedRevision == o.Revision && o.Health == rollout.HealthHealthy) {
				continue
			}
			// From its admission: the engine counts a later change of
			// health only as far as it saw a relapse, so counting from the
			// earliest time never finds more in flight than it does.
			if !in.Now.Before(o.AdmittedAt.Add(lim.deadline)) {
				continue
			}
			inFlight++
		}
		if inFlight > lim.concurrency {
			return fmt.Errorf("wave %s has %d clusters in flight, more than maxConcurrency %d", w.Name, inFlight, lim.concurrency)
		}
	}
	return nil
}

// waveOrder: a wave that started in this plan follows completed (and baked)
// waves, has its approval, and in Deadline mode starts after the deadline.
func (c *checker) waveOrder(in rollout.Input, d rollout.Decision) error {
	for i, w := range d.Status.Waves {
		if w.StartedAt == nil || (i < len(in.Status.Waves) && in.Status.Waves[i].StartedAt != nil) {
			continue
		}
		// A wave may complete, the next start and at once exceed its budget
		// in one plan (e.g. an offline cluster under CountAsFailure): the
		// rollback that starts then marks the completed wave RolledBack.
		rollbackNow := in.Status.RollbackRevision == "" && d.Status.RollbackRevision != ""
		for _, prev := range d.Status.Waves[:i] {
			completedThenRolledBack := rollbackNow && prev.Phase == fleetv1alpha1.WavePhaseRolledBack && prev.CompletedAt != nil
			if !completedThenRolledBack && prev.Phase != fleetv1alpha1.WavePhaseSucceeded &&
				prev.Phase != fleetv1alpha1.WavePhaseSucceededWithFailures && prev.Phase != fleetv1alpha1.WavePhaseSkipped {
				return fmt.Errorf("wave %s started while wave %s is %s", w.Name, prev.Name, prev.Phase)
			}
			if bake := c.limits(prev).bake; bake > 0 && prev.BakeStartedAt != nil && in.Now.Sub(prev.BakeStartedAt.Time) < bake {
				return fmt.Errorf("wave %s started before wave %s baked for %s", w.Name, prev.Name, bake)
			}
		}
		if c.limits(w).approval && !slices.ContainsFunc(in.Spec.Approvals, func(a fleetv1alpha1.Approval) bool { return a.Wave == w.Name }) {
			return fmt.Errorf("wave %s started without its approval", w.Name)
		}
		if p := in.Spec.UpdatePolicy; p.Mode == fleetv1alpha1.UpdateModeDeadline && in.Now.Before(p.Deadline.Time) {
			return fmt.Errorf("wave %s started before the deadline", w.Name)
		}
	}
	return nil
}

// budget: a rollout still moving forward has no wave over its failure budget.
func (c *checker) budget(in rollout.Input, d rollout.Decision) error {
	switch d.Status.Phase {
	case fleetv1alpha1.RolloutPhaseProgressing, fleetv1alpha1.RolloutPhaseBaking, fleetv1alpha1.RolloutPhaseWaitingForApproval:
	default:
		return nil
	}
	// A stalled rollout does not go on: it admits nothing until a person acts.
	if meta.IsStatusConditionTrue(d.Status.Conditions, fleetv1alpha1.ConditionStalled) {
		if len(d.Admit) > 0 {
			return fmt.Errorf("rollout is stalled but admitted %d clusters", len(d.Admit))
		}
		return nil
	}
	for _, w := range d.Status.Waves {
		if w.Name != d.Status.CurrentWave {
			continue
		}
		if lim := c.limits(w); int(w.Counts.Failed) > lim.failures {
			return fmt.Errorf("rollout is %s with %d failures in wave %s, over its budget of %d",
				d.Status.Phase, w.Counts.Failed, w.Name, lim.failures)
		}
	}
	return nil
}

// rollback: every admission to another revision than the target goes to
// the recorded rollback revision, which is fromRevision or toRevision.
func (c *checker) rollback(in rollout.Input, d rollout.Decision) error {
	rev := d.Status.RollbackRevision
	switch prev := in.Status.RollbackRevision; {
	case prev != "" && rev != prev:
		return fmt.Errorf("rollback revision changed from %s to %s", prev, rev)
	case prev == "" && rev != "" && rev != in.Spec.FromRevision && (in.Spec.Rollback == nil || rev != in.Spec.Rollback.ToRevision):
		return fmt.Errorf("rollback revision %s is neither fromRevision nor the requested toRevision", rev)
	}
	if strings.HasPrefix(rev, MissingRevisionPrefix) {
		return fmt.Errorf("rollback revision %s does not exist", rev)
	}
	for _, a := range d.Admit {
		if a.Revision != in.Spec.TargetRevision && a.Revision != rev {
			return fmt.Errorf("cluster %s admitted to %s, neither the target nor the rollback revision %q", a.Cluster, a.Revision, rev)
		}
	}
	return nil
}

// onceEach: no cluster is admitted twice to one revision over the run.
func (c *checker) onceEach(_ rollout.Input, d rollout.Decision) error {
	for _, a := range d.Admit {
		k := [2]string{a.Cluster, a.Revision}
		if c.admitted[k] {
			return fmt.Errorf("cluster %s admitted to %s twice", a.Cluster, a.Revision)
		}
		c.admitted[k] = true
	}
	return nil
}

// counts: every cluster is in one of healthy, failed, pending, offline; the
// waves add up to the whole; bounded lists stay bounded.
func (c *checker) counts(_ rollout.Input, d rollout.Decision) error {
	st := d.Status
	var sum fleetv1alpha1.RolloutCounts
	for _, w := range st.Waves {
		k := w.Counts
		if k.Healthy+k.Failed+k.Pending+k.Offline != k.Total || int(k.Total) != len(w.Clusters) {
			return fmt.Errorf("wave %s counts do not add up: %+v for %d clusters", w.Name, k, len(w.Clusters))
		}
		sum.Total += k.Total
		sum.Admitted += k.Admitted
		sum.Healthy += k.Healthy
		sum.Failed += k.Failed
		sum.Pending += k.Pending
		sum.Offline += k.Offline
	}
	if sum != st.Counts {
		return fmt.Errorf("rollout counts %+v are not the sum of the waves' %+v", st.Counts, sum)
	}
	if len(st.History) > 50 || len(st.Failures) > 50 {
		return fmt.Errorf("%d history entries and %d failures: over the bound of 50", len(st.History), len(st.Failures))
	}
	return nil
}

// attribution: the rollout's decisions do not depend on unattributed
// failures, and the failures it counts are of clusters on its target (or
// offline, under the offline policy).
func (c *checker) attribution(in rollout.Input, d rollout.Decision) error {
	clean := in
	clean.Clusters = make([]rollout.ClusterObservation, len(in.Clusters))
	stray := false
	for i, o := range in.Clusters {
		stray = stray || o.Unattributed != nil
		o.Unattributed = nil
		clean.Clusters[i] = o
	}
	clean.Status = *in.Status.DeepCopy()
	clean.Status.UnattributedFailures, clean.Status.UnattributedFailureCount = nil, 0
	if stray || in.Status.UnattributedFailureCount > 0 {
		again, err := rollout.Plan(clean)
		if err != nil {
			return fmt.Errorf("plan without unattributed failures failed: %w", err)
		}
		want := d
		want.Status = *d.Status.DeepCopy()
		want.Status.UnattributedFailures, want.Status.UnattributedFailureCount = nil, 0
		if !reflect.DeepEqual(again, want) {
			return errors.New("an unattributed failure changed the decision")
		}
	}
	if int(d.Status.UnattributedFailureCount) != countStray(in.Clusters, d.Status.Waves) {
		return fmt.Errorf("%d unattributed failures reported, %d observed", d.Status.UnattributedFailureCount, countStray(in.Clusters, d.Status.Waves))
	}
	if rollingBackOrEnded(d.Status.Phase) {
		return nil
	}
	obs := observed(in, d)
	for _, f := range d.Status.Failures {
		o := obs[f.Cluster]
		if f.Reason != fleetv1alpha1.ReasonClusterOffline && o.Revision != in.Spec.TargetRevision {
			return fmt.Errorf("cluster %s counted failed (%s) but not admitted to %s", f.Cluster, f.Reason, in.Spec.TargetRevision)
		}
	}
	return nil
}

// countStray counts the frozen clusters observed with an unattributed failure.
func countStray(clusters []rollout.ClusterObservation, waves []fleetv1alpha1.WaveStatus) int {
	frozen := map[string]bool{}
	for _, w := range waves {
		for _, name := range w.Clusters {
			frozen[name] = true
		}
	}
	n := 0
	for _, o := range clusters {
		if o.Unattributed != nil && frozen[o.Name] {
			n++
		}
	}
	return n
}

// honestWaves: a rollout that rolls back or ended has no wave Progressing,
// Baking or WaitingForApproval, and one that rolls back no wave Succeeded;
// a Succeeded wave of a rollout moving forward (or just Succeeded) has every
// cluster healthy on the target.
func (c *checker) honestWaves(_ rollout.Input, d rollout.Decision) error {
	for _, w := range d.Status.Waves {
		switch w.Phase {
		case fleetv1alpha1.WavePhaseProgressing, fleetv1alpha1.WavePhaseBaking, fleetv1alpha1.WavePhaseWaitingForApproval:
			if rollingBackOrEnded(d.Status.Phase) {
				return fmt.Errorf("rollout is %s with wave %s still %s", d.Status.Phase, w.Name, w.Phase)
			}
		case fleetv1alpha1.WavePhaseSucceeded, fleetv1alpha1.WavePhaseSucceededWithFailures:
			if d.Status.RollbackRevision != "" {
				return fmt.Errorf("rollout is %s, rolling back, with wave %s still %s", d.Status.Phase, w.Name, w.Phase)
			}
			if w.Phase == fleetv1alpha1.WavePhaseSucceededWithFailures || (rollingBackOrEnded(d.Status.Phase) && d.Status.Phase != fleetv1alpha1.RolloutPhaseSucceeded) {
				continue
			}
			if k := w.Counts; k.Failed+k.Pending > 0 {
				return fmt.Errorf("wave %s is Succeeded with %d of %d clusters healthy", w.Name, k.Healthy, k.Total)
			}
		}
	}
	return nil
}

// storedAdmissions: the status holds the plan's admissions, and nothing
// else, in a form RevisionFor reads alone.
func (c *checker) storedAdmissions(in rollout.Input, d rollout.Decision) error {
	st := d.Status
	now := map[string]string{}
	for _, a := range d.Admit {
		now[a.Cluster] = a.Revision
	}
	before := map[string]rollout.ClusterObservation{}
	for _, o := range in.Clusters {
		before[o.Name] = o
	}
	frozen := map[string]bool{}
	for _, w := range st.Waves {
		if w.Admitted != "" && len(w.Admitted) != len(w.Clusters) {
			return fmt.Errorf("wave %s stores %d admissions for %d clusters", w.Name, len(w.Admitted), len(w.Clusters))
		}
		for i, name := range w.Clusters {
			frozen[name] = true
			mark := byte(fleetv1alpha1.AdmittedNone)
			if w.Admitted != "" {
				mark = w.Admitted[i]
			}
			var rev string
			switch mark {
			case fleetv1alpha1.AdmittedNone:
				if rev, ok := now[name]; ok && !st.Phase.IsTerminal() {
					return fmt.Errorf("cluster %s admitted to %s, but the status does not store it", name, rev)
				}
				continue
			case fleetv1alpha1.AdmittedTarget:
				rev = in.Spec.TargetRevision
			case fleetv1alpha1.AdmittedRollback:
				if st.RollbackRevision == "" {
					return fmt.Errorf("cluster %s stored as admitted to the rollback revision, but there is none", name)
				}
				rev = st.RollbackRevision
			default:
				return fmt.Errorf("cluster %s: unknown admission %q", name, mark)
			}
			if a, ok := now[name]; ok && a != rev {
				return fmt.Errorf("cluster %s admitted to %s, stored as admitted to %s", name, a, rev)
			}
			if _, ok := now[name]; !ok && (rev != in.Spec.TargetRevision || before[name].Revision != rev) {
				return fmt.Errorf("cluster %s stored as admitted to %s, neither admitted now nor rendering the target", name, rev)
			}
		}
	}
	for name := range now {
		if !frozen[name] {
			return fmt.Errorf("cluster %s admitted outside the frozen target set", name)
		}
	}
	if st.Phase.IsTerminal() {
		return nil // RevisionFor settles ended rollouts without reading admissions
	}
	ro := &fleetv1alpha1.Rollout{Spec: in.Spec, Status: st}
	for name, o := range before {
		if !frozen[name] {
			continue
		}
		want := o.Revision
		if rev, ok := now[name]; ok {
			want = rev
		} else if want == "" {
			continue // renders nothing yet: a new Work gets the stable revision
		}
		if got := rollout.RevisionFor(ro, false, name, o.Revision, in.Spec.TargetRevision); got != want {
			return fmt.Errorf("cluster %s on %s: the stored status renders %s, the plan wants %s", name, o.Revision, got, want)
		}
	}
	return nil
}

func rollingBackOrEnded(phase fleetv1alpha1.RolloutPhase) bool {
	return phase.IsTerminal() || phase == fleetv1alpha1.RolloutPhaseRollingBack
}

// observed is every cluster as it looks once the plan's admissions ran.
func observed(in rollout.Input, d rollout.Decision) map[string]rollout.ClusterObservation {
	obs := make(map[string]rollout.ClusterObservation, len(in.Clusters))
	for _, o := range in.Clusters {
		obs[o.Name] = o
	}
	for _, a := range d.Admit {
		o := obs[a.Cluster]
		o.Revision, o.AdmittedAt, o.Health, o.HealthSince = a.Revision, in.Now, rollout.HealthProgressing, in.Now
		obs[a.Cluster] = o
	}
	return obs
}

// limits is the checker's own reading of a wave's policy.
type limits struct {
	concurrency, failures int
	bake, deadline        time.Duration
	approval              bool
}

func (c *checker) limits(w fleetv1alpha1.WaveStatus) limits {
	size := len(w.Clusters)
	s := c.s.Strategy
	if w.Name == rollout.ImmediateWaveName {
		im := s.Immediate
		if im == nil {
			im = &fleetv1alpha1.ImmediatePolicy{}
		}
		return limits{
			concurrency: max(1, percent(im.MaxConcurrency, "100%", size, true)),
			failures:    percent(im.MaxFailures, "10%", size, false),
			deadline:    dur(im.ProgressDeadline, 10*time.Minute),
		}
	}
	spec := s.Waves[len(s.Waves)-1]
	for _, sw := range s.Waves {
		if sw.Name == w.Name {
			spec = sw
		}
	}
	return limits{
		concurrency: max(1, percent(spec.MaxConcurrency, "100%", size, true)),
		failures:    percent(spec.MaxFailures, "0", size, false),
		bake:        dur(spec.BakeTime, 0),
		deadline:    dur(spec.ProgressDeadline, 10*time.Minute),
		approval:    spec.Approval == fleetv1alpha1.ApprovalRequired,
	}
}

// percent reads a count or percentage with float arithmetic (the engine
// uses integers), rounding as asked.
func percent(v *intstr.IntOrString, def string, size int, up bool) int {
	s := def
	if v != nil {
		if v.Type == intstr.Int {
			return int(v.IntVal)
		}
		s = v.StrVal
	}
	digits, isPct := strings.CutSuffix(s, "%")
	n, _ := strconv.Atoi(digits)
	if !isPct {
		return n
	}
	x := float64(n) * float64(size) / 100
	if up {
		return int(x + 0.999999)
	}
	return int(x)
}

func dur(d *metav1.Duration, def time.Duration) time.Duration {
	if d == nil {
		return def
	}
	return d.Duration
}

// freezeCauses: see the checker's doc.
func (c *checker) freezeCauses(in rollout.Input, d rollout.Decision) error {
	st := &d.Status
	want := ""
	if in.Freeze != nil && !st.Phase.IsTerminal() {
		want = in.Freeze.Name
	}
	frozen := meta.IsStatusConditionTrue(st.Conditions, fleetv1alpha1.ConditionFrozen)
	switch {
	case st.HeldBy() != want:
		return fmt.Errorf("status.freeze.heldBy is %q, want %q", st.HeldBy(), want)
	case frozen != (want != ""):
		return fmt.Errorf("condition Frozen %v while heldBy is %q", frozen, st.HeldBy())
	case st.Freeze != nil && *st.Freeze == (fleetv1alpha1.RolloutFreezeStatus{}):
		return errors.New("status.freeze is set but names nothing")
	}
	prev, next := in.Status.RolledBackBy(), st.RolledBackBy()
	switch {
	case prev != "" && next != prev:
		return fmt.Errorf("rolledBackBy changed from %q to %q", prev, next)
	case prev == "" && next != "" && (in.Freeze == nil || in.Freeze.Name != next || in.Freeze.Action != fleetv1alpha1.FreezeRollback ||
		st.Phase != fleetv1alpha1.RolloutPhaseRollingBack && st.Phase != fleetv1alpha1.RolloutPhaseRolledBack):
		return fmt.Errorf("rolledBackBy %q set, but no Rollback freeze of that name started a rollback (phase %s)", next, st.Phase)
	}
	for _, h := range st.History[min(len(st.History), len(in.Status.History)):] {
		if h.Freeze != "" && h.Freeze != in.Status.HeldBy() && (in.Freeze == nil || h.Freeze != in.Freeze.Name) {
			return fmt.Errorf("history entry %s → %s names freeze %q, which neither held the rollout nor holds it", h.From, h.To, h.Freeze)
		}
	}
	return nil
}

// checksGate: a wave that completes in this plan passed every check that
// runs through its bake (or a person skipped it): no pending, passing-only
// or inconclusive check, no failed whole-wave check; a cluster whose
// per-cluster check failed is counted failed, never healthy. A wave with an
// inconclusive check is held: it neither completes nor admits.
func (c *checker) checksGate(in rollout.Input, d rollout.Decision) error {
	admittedIn := map[string]bool{}
	for _, a := range d.Admit {
		admittedIn[a.Wave] = true
	}
	for i, w := range d.Status.Waves {
		wasDone := i < len(in.Status.Waves) && (in.Status.Waves[i].Phase == fleetv1alpha1.WavePhaseSucceeded ||
			in.Status.Waves[i].Phase == fleetv1alpha1.WavePhaseSucceededWithFailures)
		done := w.Phase == fleetv1alpha1.WavePhaseSucceeded || w.Phase == fleetv1alpha1.WavePhaseSucceededWithFailures
		for _, ck := range w.Checks {
			if ck.Verdict == fleetv1alpha1.CheckInconclusive && !rollingBackOrEnded(d.Status.Phase) && d.Status.Phase != fleetv1alpha1.RolloutPhaseHalted {
				if done && !wasDone {
					return fmt.Errorf("wave %s completed with check %s inconclusive", w.Name, ck.Name)
				}
				if admittedIn[w.Name] && d.Status.Phase != fleetv1alpha1.RolloutPhaseRollingBack {
					return fmt.Errorf("wave %s admitted clusters while check %s is inconclusive", w.Name, ck.Name)
				}
			}
			if !done || wasDone || ck.When == fleetv1alpha1.CheckDuringProgress || ck.Verdict == fleetv1alpha1.CheckSkipped {
				continue
			}
			if ck.Scope == fleetv1alpha1.CheckWholeWave && ck.Verdict != fleetv1alpha1.CheckPassed && w.Counts.Healthy > 0 {
				return fmt.Errorf("wave %s completed with whole-wave check %s %s", w.Name, ck.Name, ck.Verdict)
			}
			n := ck.Counts
			if n.Pending > 0 || n.Passing > 0 || n.Inconclusive > 0 {
				return fmt.Errorf("wave %s completed with check %s not passed on every healthy cluster: %+v", w.Name, ck.Name, n)
			}
			if n.Failed > w.Counts.Failed+w.Counts.Offline {
				return fmt.Errorf("wave %s completed with check %s failed on %d clusters, but only %d counted failed", w.Name, ck.Name, n.Failed, w.Counts.Failed)
			}
		}
	}
	return nil
}

// checkFailedClusters are the clusters of w a per-cluster check failed
// (mark F of a check not skipped): failed clusters, not in flight.
func checkFailedClusters(w fleetv1alpha1.WaveStatus) map[string]bool {
	out := map[string]bool{}
	for _, ck := range w.Checks {
		if ck.Skipped != nil || len(ck.Marks) != len(w.Clusters) {
			continue
		}
		for i, m := range []byte(ck.Marks) {
			if m == fleetv1alpha1.CheckMarkFailed {
				out[w.Clusters[i]] = true
			}
		}
	}
	return out
}
