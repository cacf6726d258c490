package instanceplan

import (
	"errors"
	"fmt"
	"strings"
	"time"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/placement"
	"github.com/flotilla-dev/flotilla/internal/rollout"
)

// Facts are what the controller observed of a subject, all Route reads.
type Facts struct {
	Subject Subject
	// LatestRevision is the Promise's status.latestRevision; empty while it
	// has none (see HasRevision).
	LatestRevision string
	// Placement is where the subject lands, or why it may not.
	Placement placement.Result
	// Works are the Works listed for the subject (by the hub's index); Route
	// keeps only those the subject Owns.
	Works []fleetv1alpha1.Work
	// Rollouts govern the revisions the Works render.
	Rollouts Rollouts
	// InstanceRevision names the instance revision of the current spec
	// (InstanceRevisionName); empty for fleet resources.
	InstanceRevision string
	// Checks are what the Works' verification checks are made from; nil:
	// none (no Rollout of the subject is under way).
	Checks *CheckFacts
}

// CheckFacts are what rollout.WorkChecksFor copies a cluster's checks
// from, besides the Rollouts: the Promise's governing one
// (Rollouts.Governing) and the instance's own (Rollouts.Spec).
type CheckFacts struct {
	// Strategy is the governing Rollout's strategy and InstanceStrategy the
	// instance's own Rollout's, each resolved as the Rollout controller
	// resolves it (rollout.ResolveStrategy); nil: no checks of that
	// Rollout (none under way, or its strategy is missing).
	Strategy, InstanceStrategy *fleetv1alpha1.RolloutStrategySpec
	// Promise and Skip are the Promise's spec.checks and spec.skipChecks.
	Promise []fleetv1alpha1.Check
	Skip    []string
	// Labels are a cluster's labels (a metric query's .Labels); nil: none.
	Labels func(cluster string) map[string]string
}

// HasRevision reports whether the Promise published a revision to render.
func (f Facts) HasRevision() bool { return f.LatestRevision != "" }

// Decision is what a reconcile does with a subject's Works.
type Decision string

const (
	// WaitForRevision: the Promise has no revision yet. Nothing is written
	// and nothing taken away; the instance reports PromiseNotReady.
	WaitForRevision Decision = "WaitForRevision"
	// Hold: the placement is refused (tenancy, an invalid selector). Nothing
	// is written and nothing already written is taken away: a violation is
	// most often a mistake in a Fleet, to be fixed. Fleet resources, placed
	// in the platform namespace, know no tenancy: they are held only by a
	// placement of the Promise that does not parse, or a Fleet it names
	// whose selector does not.
	Hold Decision = "Hold"
	// Render: render every Target, then Finish.
	Render Decision = "Render"
)

// Target is one placed cluster's Work, to be rendered.
type Target struct {
	Cluster string
	// Current is the subject's Work on the cluster now; nil: none yet.
	Current *fleetv1alpha1.Work
	// Revision is the PromiseRevision to render (Rollouts.Revision).
	Revision string
	// InstanceRevision is the instance revision to render
	// (Rollouts.InstanceRevision); empty for fleet resources.
	InstanceRevision string
	// Rollout names the Rollout that admitted the cluster to Revision, for
	// the Work's spec.rollout; nil: none.
	Rollout *fleetv1alpha1.RolloutReference
	// Checks are the verification checks the Work carries for its agent
	// (rollout.WorkChecksFor over the governing Rollout, then over the
	// instance's own): each only while the cluster is admitted to its
	// Rollout's target and its wave is at work.
	Checks []fleetv1alpha1.WorkCheck
	// ChecksErr says which checks were left out, as their query cannot be
	// rendered for the cluster; the controller reports it.
	ChecksErr error
}

// Moved reports whether the Work moves to other revisions (or is new): the
// transition a Rollout's admission leads to.
func (t Target) Moved() bool {
	return t.Current == nil || t.Current.Spec.Revision != t.Revision || t.Current.Spec.InstanceRevision != t.InstanceRevision
}

// admission is the admission a Work written for t carries anew, at now:
// when it moved and what moved (AnnotationAdmittedAt, AnnotationMoved);
// nil when it does not move. A Rollout reads from it which change a
// failure follows: the Promise's revision or the instance's.
func (t Target) admission(now time.Time) map[string]string {
	if !t.Moved() {
		return nil
	}
	var moved []string
	if t.Current == nil || t.Current.Spec.Revision != t.Revision {
		moved = append(moved, MovedRevision)
	}
	if t.InstanceRevision != "" && (t.Current == nil || t.Current.Spec.InstanceRevision != t.InstanceRevision) {
		moved = append(moved, MovedInstanceRevision)
	}
	return map[string]string{
		fleetv1alpha1.AnnotationAdmittedAt: now.UTC().Format(time.RFC3339),
		fleetv1alpha1.AnnotationMoved:      strings.Join(moved, ","),
	}
}

// What a Work's move changed, in AnnotationMoved.
const (
	MovedRevision         = "revision"
	MovedInstanceRevision = "instanceRevision"
)

// InstanceChange asks for the Rollout of an instance change: some of the
// instance's Works render From, an earlier instance revision than To, the
// current spec's.
type InstanceChange struct {
	From, To string
}

// Routing is Route's answer.
type Routing struct {
	Decision  Decision
	Subject   Subject
	Placement placement.Result
	// Existing are the subject's own Works (Subject.Owns), by cluster.
	Existing map[string]*fleetv1alpha1.Work
	// Targets are the placed clusters' Works to render, in placement order
	// (Render only).
	Targets []Target
	// InstanceRevision is the current spec's instance revision (Render, an
	// instance only; the controller makes sure it exists before rendering).
	InstanceRevision string
	// SpecRollout is the newest Rollout of the instance to InstanceRevision
	// (Rollouts.SpecRollout), or nil.
	SpecRollout *fleetv1alpha1.Rollout
	// StartRollout, when set, asks for the Rollout of an instance change.
	StartRollout *InstanceChange
	// Frozen: a FleetFreeze is in force (Rollouts.Freeze), so no Work is
	// deleted for leaving the placement (Plan.Held).
	Frozen bool
}

// Route decides what a reconcile of f.Subject does, and for each placed
// cluster which revisions its Work renders.
func Route(f Facts) Routing {
	r := Routing{Subject: f.Subject, Placement: f.Placement, Existing: map[string]*fleetv1alpha1.Work{}}
	for i := range f.Works {
		if w := &f.Works[i]; f.Subject.Owns(w) {
			r.Existing[w.Spec.Cluster] = w
		}
	}
	switch {
	case !f.HasRevision():
		r.Decision = WaitForRevision
		return r
	case len(f.Placement.Violations) > 0:
		r.Decision = Hold
		return r
	}
	r.Decision = Render
	r.Frozen = f.Rollouts.Freeze != ""
	if !f.Subject.IsFleet() {
		r.InstanceRevision = f.InstanceRevision
		r.SpecRollout = f.Rollouts.SpecRollout(f.InstanceRevision)
		r.StartRollout = instanceChange(r.Existing, f.InstanceRevision)
	}
	r.Targets = make([]Target, 0, len(f.Placement.Clusters))
	for _, cluster := range f.Placement.Clusters {
		t := Target{Cluster: cluster, Current: r.Existing[cluster]}
		var curRev, curInst string
		if t.Current != nil {
			curRev, curInst = t.Current.Spec.Revision, t.Current.Spec.InstanceRevision
		}
		t.Revision = f.Rollouts.Revision(cluster, curRev, f.LatestRevision)
		if !f.Subject.IsFleet() {
			t.InstanceRevision = f.Rollouts.InstanceRevision(cluster, curInst, f.InstanceRevision)
		}
		t.Rollout = f.Rollouts.AdmittedBy(cluster, t.Revision)
		t.Checks, t.ChecksErr = f.checks(cluster, t.Revision, t.InstanceRevision)
		r.Targets = append(r.Targets, t)
	}
	return r
}

// instanceChange asks for the Rollout to latest when some Work renders an
// earlier instance revision (the least, by name, when several do).
func instanceChange(works map[string]*fleetv1alpha1.Work, latest string) *InstanceChange {
	previous := ""
	for _, w := range works {
		if rev := w.Spec.InstanceRevision; rev != "" && rev != latest && (previous == "" || rev < previous) {
			previous = rev
		}
	}
	if previous == "" {
		return nil
	}
	return &InstanceChange{From: previous, To: latest}
}

// checks are the verification checks of cluster's Work: those the
// governing Rollout's wave has the agent measure there, then those of the
// instance's own Rollout's wave; none without a Rollout (or when every
// cluster is admitted at once, whatever Rollouts say). The agent and the
// Rollout controller tell the two apart by rollout name: an instance
// Rollout named like the governing one (a person's, in the instance's
// namespace) would share its checks' states, so its own are left out and
// reported.
//
// A Rollout's checks measure its target: a Work that does not render it
// (held by a FleetFreeze, Rollouts.Freeze) carries none of them.
func (f Facts) checks(cluster, revision, instanceRevision string) ([]fleetv1alpha1.WorkCheck, error) {
	if f.Checks == nil || f.Rollouts.AdmitLatest {
		return nil, nil
	}
	var labels map[string]string
	if f.Checks.Labels != nil {
		labels = f.Checks.Labels(cluster)
	}
	var out []fleetv1alpha1.WorkCheck
	var errs []error
	g := f.Rollouts.Governing
	if g != nil && f.Checks.Strategy != nil && revision == g.Spec.TargetRevision {
		cs, err := rollout.WorkChecksFor(g, *f.Checks.Strategy, f.Checks.Promise, f.Checks.Skip, cluster, labels)
		out, errs = cs, append(errs, err)
	}
	if ro := f.Rollouts.Spec; ro != nil && f.Checks.InstanceStrategy != nil && !f.Subject.IsFleet() && instanceRevision == ro.Spec.TargetRevision {
		cs, err := rollout.WorkChecksFor(ro, *f.Checks.InstanceStrategy, f.Checks.Promise, f.Checks.Skip, cluster, labels)
		if len(cs) > 0 && g != nil && g.Name == ro.Name {
			cs, err = nil, fmt.Errorf("the checks of Rollout %s/%s: it is named like the Promise's Rollout %s", ro.Namespace, ro.Name, g.Name)
		}
		out, errs = append(out, cs...), append(errs, err)
	}
	return out, errors.Join(errs...)
}
