package rolloutctl

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/rollout"
)

// Result is what an operation on a Rollout did.
type Result struct {
	// Rollout as written, or as read when nothing changed.
	Rollout *fleetv1alpha1.Rollout
	// Changed is false when the Rollout already was as asked.
	Changed bool
	// Summary says in one sentence what was done, or why nothing was.
	Summary string
	// Notes are what else the caller should know (a freeze holds the
	// rollout, a requested rollback wins over the abort, …).
	Notes []string
}

// ApproveOptions say which wave to approve and why.
type ApproveOptions struct {
	// Wave to approve; empty approves the wave the rollout waits for.
	Wave string
	// Message is recorded with the approval.
	Message string
}

// Approve adds an approval for a wave to spec.approvals. Without a wave it
// approves the current wave, which must be waiting for an approval. A wave
// may be approved ahead of time; once the rollout has started the wave must
// be one of its waves. Approving a wave already approved changes nothing.
func (c *Client) Approve(ctx context.Context, ns, name string, opts ApproveOptions) (*Result, error) {
	return c.edit(ctx, ns, name, "approving a wave of", func(r *fleetv1alpha1.Rollout, res *Result) (bool, error) {
		if err := refuseTerminal(r, "nothing to approve"); err != nil {
			return false, err
		}
		wave := opts.Wave
		if wave == "" {
			if !waitingForApproval(r) {
				return false, fmt.Errorf("rollout %s is not waiting for an approval (phase %s%s); name the wave (--wave) to approve a later one ahead of time",
					r.Name, or(string(r.Status.Phase), "not started"), currentWaveText(r))
			}
			wave = r.Status.CurrentWave
		}
		if names := waveNames(r); len(names) > 0 && !slices.Contains(names, wave) {
			return false, fmt.Errorf("rollout %s has no wave %q; its waves are: %s", r.Name, wave, strings.Join(names, ", "))
		}
		if a := approvalOf(r, wave); a != nil {
			res.Summary = fmt.Sprintf("wave %s of rollout %s is already approved (%s); nothing changed", wave, r.Name, describeRecord(a.ChangeRecord))
			return false, nil
		}
		rec := c.record(ctx, opts.Message)
		r.Spec.Approvals = append(r.Spec.Approvals, fleetv1alpha1.Approval{Wave: wave, ChangeRecord: rec})
		if wave == r.Status.CurrentWave && waitingForApproval(r) {
			res.Summary = fmt.Sprintf("wave %s of rollout %s approved by %s; it starts at the hub's next look", wave, r.Name, rec.By)
			if f := frozenBy(r); f != "" {
				res.Summary = fmt.Sprintf("wave %s of rollout %s approved by %s; it starts when the fleet freeze ends (%s)", wave, r.Name, rec.By, f)
			} else if r.Spec.DesiredState == fleetv1alpha1.RolloutPaused {
				res.Summary = fmt.Sprintf("wave %s of rollout %s approved by %s; the rollout is paused: the wave starts once it is resumed", wave, r.Name, rec.By)
			}
		} else {
			res.Summary = fmt.Sprintf("wave %s of rollout %s approved ahead of time by %s; the approval is used when the wave's turn comes", wave, r.Name, rec.By)
		}
		return true, nil
	})
}

// Pause sets desiredState Paused: nothing new is admitted and no wave starts.
func (c *Client) Pause(ctx context.Context, ns, name, message string) (*Result, error) {
	return c.edit(ctx, ns, name, "pausing", func(r *fleetv1alpha1.Rollout, res *Result) (bool, error) {
		if err := refuseAborted(r, "paused"); err != nil {
			return false, err
		}
		if err := refuseTerminal(r, "nothing to pause"); err != nil {
			return false, err
		}
		if r.Spec.DesiredState == fleetv1alpha1.RolloutPaused {
			res.Summary = fmt.Sprintf("rollout %s is already paused (%s); nothing changed", r.Name, describeRecordPtr(r.Spec.StateChange))
			return false, nil
		}
		rec := c.record(ctx, message)
		r.Spec.DesiredState, r.Spec.StateChange = fleetv1alpha1.RolloutPaused, &rec
		res.Summary = fmt.Sprintf("rollout %s paused by %s: no more clusters are admitted and no wave starts; admitted clusters finish and are still observed", r.Name, rec.By)
		if rb := r.Spec.Rollback; rb != nil && rb.ToRevision != "" && c.checkRevisionOf(ctx, r, rb.ToRevision) != nil {
			// A pause does not end a rollout held by such a request (an
			// abort does): say how it is left, not what an abort would do.
			res.Notes = append(res.Notes, fmt.Sprintf("the rollback it asks for, to %s, cannot proceed (not a revision of %s): "+
				"it stays Stalled until the rollback is replaced (flotilla rollout rollback --to-revision) or the rollout aborted",
				rb.ToRevision, subjectName(r)))
			return true, nil
		}
		if r.Spec.Rollback != nil || r.Status.Phase == fleetv1alpha1.RolloutPhaseRollingBack {
			res.Notes = append(res.Notes, "it is rolling back, and a rollback is not paused")
		}
		return true, nil
	})
}

// Resume sets desiredState Running. A Halted rollout is resumed too: its
// stateChange.at is set later than the halt (see resumeTime), and the hub
// checks the failure budget again before it carries on.
func (c *Client) Resume(ctx context.Context, ns, name, message string) (*Result, error) {
	return c.edit(ctx, ns, name, "resuming", func(r *fleetv1alpha1.Rollout, res *Result) (bool, error) {
		if err := refuseAborted(r, "resumed"); err != nil {
			return false, err
		}
		if err := refuseTerminal(r, "nothing to resume"); err != nil {
			return false, err
		}
		halted := r.Status.Phase == fleetv1alpha1.RolloutPhaseHalted
		frozen := frozenBy(r)
		switch {
		case r.Spec.DesiredState != fleetv1alpha1.RolloutPaused && !halted && frozen != "":
			res.Summary = fmt.Sprintf("rollout %s is held by a fleet freeze (%s), not paused; it resumes by itself when the freeze ends; nothing changed",
				r.Name, frozen)
			return false, nil
		case r.Spec.DesiredState != fleetv1alpha1.RolloutPaused && !halted:
			res.Summary = fmt.Sprintf("rollout %s is neither paused nor halted (phase %s); nothing changed", r.Name, or(string(r.Status.Phase), "not started"))
			return false, nil
		}
		rec := c.record(ctx, message)
		at, bumped := resumeTime(rec.At.Time, &r.Status)
		rec.At = ptrTime(at)
		r.Spec.DesiredState, r.Spec.StateChange = fleetv1alpha1.RolloutRunning, &rec
		if halted {
			res.Summary = fmt.Sprintf("resume of halted rollout %s requested by %s: the hub checks the failure budget again; "+
				"if it is still exceeded the rollout stays Halted and the refused resume is recorded in its history", r.Name, rec.By)
		} else {
			res.Summary = fmt.Sprintf("rollout %s resumed by %s; the hub checks the failure budget first", r.Name, rec.By)
		}
		if frozen != "" {
			res.Notes = append(res.Notes, fmt.Sprintf("a fleet freeze holds it too (%s): it carries on when the freeze ends", frozen))
		}
		if bumped {
			res.Notes = append(res.Notes, fmt.Sprintf("recorded at %s, one second after the halt, so that the hub sees the resume as later than the halt",
				at.UTC().Format(time.RFC3339)))
		}
		return true, nil
	})
}

// resumeTime is the stateChange.at of a resume issued at now (to the
// second). The engine resumes a Halted rollout only when stateChange.at is
// strictly after the time the rollout last entered Halted in its history;
// both are stored to the second, so a resume in the same second as the halt
// (or with a clock behind the hub's) would be ignored. Then the time is the
// second after the halt, and bumped is true.
func resumeTime(now time.Time, st *fleetv1alpha1.RolloutStatus) (at time.Time, bumped bool) {
	at = now.Truncate(time.Second)
	if st.Phase != fleetv1alpha1.RolloutPhaseHalted {
		return at, false
	}
	for i := len(st.History) - 1; i >= 0; i-- {
		if h := st.History[i]; h.To == fleetv1alpha1.RolloutPhaseHalted {
			if halt := h.Time.Truncate(time.Second); !at.After(halt) {
				return halt.Add(time.Second), true
			}
			break
		}
	}
	return at, false
}

// Abort sets desiredState Aborted, which is terminal: nothing more is
// admitted; admitted clusters stay on the target revision and the others on
// fromRevision until a newer Rollout moves them. It does not roll back.
func (c *Client) Abort(ctx context.Context, ns, name, message string) (*Result, error) {
	return c.edit(ctx, ns, name, "aborting", func(r *fleetv1alpha1.Rollout, res *Result) (bool, error) {
		if r.Spec.DesiredState == fleetv1alpha1.RolloutAborted {
			res.Summary = fmt.Sprintf("rollout %s is already aborted (%s); nothing changed", r.Name, describeRecordPtr(r.Spec.StateChange))
			return false, nil
		}
		if err := refuseTerminal(r, "nothing to abort"); err != nil {
			return false, err
		}
		rec := c.record(ctx, message)
		r.Spec.DesiredState, r.Spec.StateChange = fleetv1alpha1.RolloutAborted, &rec
		if rb := r.Spec.Rollback; rb != nil && rb.ToRevision != "" && c.checkRevisionOf(ctx, r, rb.ToRevision) != nil {
			res.Summary = fmt.Sprintf("rollout %s aborted by %s: the rollback it asks for, to %s, cannot proceed (not a revision of %s), so the abort ends it; "+
				"clusters already admitted stay on %s and the others on %s until a newer Rollout moves them",
				r.Name, rec.By, rb.ToRevision, subjectName(r), r.Spec.TargetRevision, or(r.Spec.FromRevision, "what they run"))
			return true, nil
		}
		if r.Spec.Rollback != nil || r.Status.Phase == fleetv1alpha1.RolloutPhaseRollingBack {
			res.Summary = fmt.Sprintf("rollout %s aborted by %s, but a rollback is requested or under way, and a rollback wins over an abort: "+
				"it carries on and the rollout ends RolledBack", r.Name, rec.By)
			return true, nil
		}
		res.Summary = fmt.Sprintf("rollout %s aborted by %s: nothing more is admitted; clusters already admitted stay on %s and the others on %s "+
			"until a newer Rollout moves them (an abort does not roll back, and cannot be undone)",
			r.Name, rec.By, r.Spec.TargetRevision, or(r.Spec.FromRevision, "what they run"))
		return true, nil
	})
}

// RollbackOptions say where to roll back to and why.
type RollbackOptions struct {
	// ToRevision to return to; empty means the rollout's fromRevision.
	ToRevision string
	// Message is recorded with the request.
	Message string
}

// Rollback sets spec.rollback: every cluster that renders the target goes
// back to the rollback revision. A request cannot be withdrawn, so it is
// refused when one exists, when the rollout is terminal, and when there is
// no revision to return to.
func (c *Client) Rollback(ctx context.Context, ns, name string, opts RollbackOptions) (*Result, error) {
	return c.edit(ctx, ns, name, "rolling back", func(r *fleetv1alpha1.Rollout, res *Result) (bool, error) {
		replaces := ""
		if rb := r.Spec.Rollback; rb != nil {
			// A request to a revision that is not the subject's holds the
			// rollout Stalled: it may be replaced (never withdrawn). So may
			// one the hub refused (an instance's revision the fleet never
			// ran in full), which has not started.
			refused := r.Status.RollbackRevision == "" && r.Status.Phase != fleetv1alpha1.RolloutPhaseRollingBack &&
				meta.IsStatusConditionTrue(r.Status.Conditions, fleetv1alpha1.ConditionStalled) &&
				meta.FindStatusCondition(r.Status.Conditions, fleetv1alpha1.ConditionStalled).Reason == fleetv1alpha1.ReasonInvalidSpec
			switch {
			case rb.ToRevision != "" && c.checkRevisionOf(ctx, r, rb.ToRevision) != nil:
				replaces = fmt.Sprintf(" (replacing the request to %s, which is not a revision of %s)", rb.ToRevision, subjectName(r))
			case refused:
				replaces = fmt.Sprintf(" (replacing the request to %s, which the hub refused)", or(rb.ToRevision, r.Spec.FromRevision))
			default:
				return false, fmt.Errorf("rollout %s already has a rollback requested (to %s, %s); a rollback request cannot be withdrawn or changed",
					r.Name, or(rb.ToRevision, or(r.Spec.FromRevision, "(none)")), describeRecord(rb.ChangeRecord))
			}
		}
		if r.Status.Phase.IsTerminal() {
			return false, fmt.Errorf("rollout %s is %s and will not act again; create a new Rollout to move its clusters", r.Name, r.Status.Phase)
		}
		if r.Status.Phase == fleetv1alpha1.RolloutPhaseRollingBack {
			res.Summary = fmt.Sprintf("rollout %s is already rolling back to %s; nothing changed", r.Name, or(r.Status.RollbackRevision, r.Spec.FromRevision))
			return false, nil
		}
		to := opts.ToRevision
		switch {
		case to == "" && r.Spec.FromRevision == "":
			return false, fmt.Errorf("rollout %s is a first rollout (no fromRevision): there is nothing to roll back to; name a revision, or abort it", r.Name)
		case to == r.Spec.TargetRevision:
			return false, fmt.Errorf("rollout %s targets %s: the rollback revision must be another one", r.Name, to)
		}
		if to != "" {
			if err := c.checkRevisionOf(ctx, r, to); err != nil {
				return false, err
			}
		}
		if err := c.checkRanInFull(ctx, r, to); err != nil {
			return false, err
		}
		rec := c.record(ctx, opts.Message)
		r.Spec.Rollback = &fleetv1alpha1.RollbackRequest{ToRevision: to, ChangeRecord: rec}
		res.Summary = fmt.Sprintf("rollback of rollout %s to %s requested by %s%s: every cluster rendering %s goes back at once; the request cannot be withdrawn",
			r.Name, or(to, r.Spec.FromRevision), rec.By, replaces, r.Spec.TargetRevision)
		return true, nil
	})
}

// refuseTerminal refuses an operation on a rollout in a terminal phase.
func refuseTerminal(r *fleetv1alpha1.Rollout, what string) error {
	if r.Status.Phase.IsTerminal() {
		return fmt.Errorf("rollout %s is %s and will not act again; %s", r.Name, r.Status.Phase, what)
	}
	return nil
}

// refuseAborted refuses to pause or resume an aborted rollout, as the API would.
func refuseAborted(r *fleetv1alpha1.Rollout, verb string) error {
	if r.Spec.DesiredState == fleetv1alpha1.RolloutAborted {
		return fmt.Errorf("rollout %s was aborted (%s); an aborted rollout cannot be %s; create a new Rollout to move its clusters on",
			r.Name, describeRecordPtr(r.Spec.StateChange), verb)
	}
	return nil
}

// waitingForApproval reports whether the current wave waits for an approval
// (the rollout may be paused meanwhile).
func waitingForApproval(r *fleetv1alpha1.Rollout) bool {
	if r.Status.CurrentWave == "" {
		return false
	}
	if r.Status.Phase == fleetv1alpha1.RolloutPhaseWaitingForApproval {
		return true
	}
	for _, w := range r.Status.Waves {
		if w.Name == r.Status.CurrentWave {
			return w.Phase == fleetv1alpha1.WavePhaseWaitingForApproval
		}
	}
	return false
}

func currentWaveText(r *fleetv1alpha1.Rollout) string {
	if r.Status.CurrentWave == "" {
		return ""
	}
	return ", current wave " + r.Status.CurrentWave
}

// waveNames are the rollout's frozen waves; none before it started.
func waveNames(r *fleetv1alpha1.Rollout) []string {
	names := make([]string, 0, len(r.Status.Waves))
	for _, w := range r.Status.Waves {
		names = append(names, w.Name)
	}
	return names
}

func approvalOf(r *fleetv1alpha1.Rollout, wave string) *fleetv1alpha1.Approval {
	for i := range r.Spec.Approvals {
		if r.Spec.Approvals[i].Wave == wave {
			return &r.Spec.Approvals[i]
		}
	}
	return nil
}

// frozenBy is the message of the rollout's Frozen condition when a freeze holds it.
func frozenBy(r *fleetv1alpha1.Rollout) string {
	c := meta.FindStatusCondition(r.Status.Conditions, fleetv1alpha1.ConditionFrozen)
	if c == nil || c.Status != metav1.ConditionTrue {
		return ""
	}
	return or(c.Message, c.Reason)
}

// describeRecord says who made a change and when: "by alice at 2031-01-02T03:04:05Z".
func describeRecord(rec fleetv1alpha1.ChangeRecord) string {
	s := "by " + or(rec.By, UnknownActor)
	if rec.At != nil {
		s += " at " + rec.At.UTC().Format(time.RFC3339)
	}
	return s
}

func describeRecordPtr(rec *fleetv1alpha1.ChangeRecord) string {
	if rec == nil {
		return "by " + UnknownActor
	}
	return describeRecord(*rec)
}

// or is s, or def when s is empty.
func or[T ~string](s, def T) T {
	if s == "" {
		return def
	}
	return s
}

// checkRevisionOf refuses a rollback revision that is not one of the
// Rollout's subject: a typo, or another instance's revision, would leave the
// Rollout rolling back to something that cannot render. It lists the valid
// ones, newest first. When the caller may not list revisions, the hub judges.
func (c *Client) checkRevisionOf(ctx context.Context, r *fleetv1alpha1.Rollout, to string) error {
	names, err := c.subjectRevisions(ctx, r)
	if apierrors.IsForbidden(err) {
		c.warnf("cannot list the revisions of %s to check --to-revision %s: %v", subjectName(r), to, err)
		return nil
	}
	if err != nil {
		return fmt.Errorf("listing the revisions of %s: %w", subjectName(r), err)
	}
	if slices.Contains(names, to) {
		return nil
	}
	var rollouts []fleetv1alpha1.Rollout
	listed := false
	if r.Spec.Subject.Instance != nil {
		rollouts, err = c.subjectRollouts(ctx, r)
		if err != nil && !apierrors.IsForbidden(err) {
			return fmt.Errorf("listing the Rollouts of %s: %w", subjectName(r), err)
		}
		listed = err == nil
	}
	valid := rollbackChoices(r, names, rollouts, listed)
	if len(valid) == 0 {
		return fmt.Errorf("%s is not a revision of %s, which has no other revision than the target %s to roll back to",
			to, subjectName(r), r.Spec.TargetRevision)
	}
	return fmt.Errorf("%s is not a revision of %s; roll back to one of: %s", to, subjectName(r), strings.Join(valid, ", "))
}

// checkRanInFull refuses a rollback the hub would refuse, to a revision the
// fleet never ran in full (rollout.RanInFull): any such revision for an
// instance's Rollout, and for a Promise's the fromRevision of a revert (a
// request without toRevision), which only the clusters of the change it
// undoes took. It lists the revisions it may name. When the caller may not
// list Rollouts, the hub judges.
func (c *Client) checkRanInFull(ctx context.Context, r *fleetv1alpha1.Rollout, toRevision string) error {
	if r.Spec.Subject.Instance == nil && toRevision != "" {
		return nil
	}
	to := or(toRevision, r.Spec.FromRevision)
	rollouts, err := c.subjectRollouts(ctx, r)
	if apierrors.IsForbidden(err) {
		c.warnf("cannot list the Rollouts of %s to check the rollback revision %s: %v", subjectName(r), to, err)
		return nil
	}
	if err != nil {
		return fmt.Errorf("listing the Rollouts of %s: %w", subjectName(r), err)
	}
	if r.Spec.Subject.Instance != nil && rollout.RanInFull(to, r, rollouts) || r.Spec.Subject.Instance == nil && !rollout.StartsFromPartial(r, rollouts) {
		return nil
	}
	msg := fmt.Sprintf("%s never ran on the whole target set of %s (no Rollout succeeded to it, and no Rollout the hub started started from it "+
		"other than a revert of it): a rollback moves every cluster at once, so it may only return to a revision that did", to, subjectName(r))
	names, err := c.subjectRevisions(ctx, r)
	if apierrors.IsForbidden(err) {
		return errors.New(msg)
	}
	if err != nil {
		return fmt.Errorf("%s; listing the revisions of %s: %w", msg, subjectName(r), err)
	}
	valid := rollbackChoices(r, names, rollouts, true)
	if len(valid) == 0 {
		return fmt.Errorf("%s; none does: abort the rollout, or change its subject again to roll the change out", msg)
	}
	return fmt.Errorf("%s; roll back to one of: %s", msg, strings.Join(valid, ", "))
}

// rollbackChoices are the revisions among names (the subject's, newest
// first) a rollback of r may name: any but its target; for an instance's
// Rollout only those the fleet ran in full, as the hub judges.
// rollouts are the subject's (subjectRollouts) when listed; when the caller
// may not list them, the hub judges.
func rollbackChoices(r *fleetv1alpha1.Rollout, names []string, rollouts []fleetv1alpha1.Rollout, listed bool) []string {
	ranInFull := func(rev string) bool {
		return r.Spec.Subject.Instance == nil || !listed || rollout.RanInFull(rev, r, rollouts)
	}
	var valid []string
	for _, n := range names {
		if n == r.Spec.TargetRevision || !ranInFull(n) {
			continue
		}
		valid = append(valid, n)
	}
	return valid
}

// subjectRollouts lists the Rollouts of r's subject (its namespace's
// Rollouts of the same Promise, and of the same instance or none).
func (c *Client) subjectRollouts(ctx context.Context, r *fleetv1alpha1.Rollout) ([]fleetv1alpha1.Rollout, error) {
	list := &fleetv1alpha1.RolloutList{}
	if err := c.c.List(ctx, list, client.InNamespace(r.Namespace)); err != nil {
		return nil, err
	}
	var out []fleetv1alpha1.Rollout
	for _, ro := range list.Items {
		if ro.Spec.Subject.Promise == r.Spec.Subject.Promise && sameInstance(ro.Spec.Subject.Instance, r.Spec.Subject.Instance) {
			out = append(out, ro)
		}
	}
	return out, nil
}

func sameInstance(a, b *fleetv1alpha1.LocalObjectReference) bool {
	return a == nil && b == nil || a != nil && b != nil && a.Name == b.Name
}

// subjectRevisions lists the revision names of a Rollout's subject, newest
// first: the Promise's PromiseRevisions, or the instance's ControllerRevisions.
func (c *Client) subjectRevisions(ctx context.Context, r *fleetv1alpha1.Rollout) ([]string, error) {
	type rev struct {
		name    string
		created time.Time
	}
	var revs []rev
	if inst := r.Spec.Subject.Instance; inst != nil {
		list := &appsv1.ControllerRevisionList{}
		if err := c.c.List(ctx, list, client.InNamespace(r.Namespace), client.MatchingLabels{
			fleetv1alpha1.LabelPromise:  r.Spec.Subject.Promise,
			fleetv1alpha1.LabelInstance: fleetv1alpha1.WorkLabelValue(inst.Name),
		}); err != nil {
			return nil, err
		}
		for _, cr := range list.Items {
			for _, o := range cr.OwnerReferences {
				if o.Name == inst.Name {
					revs = append(revs, rev{cr.Name, cr.CreationTimestamp.Time})
					break
				}
			}
		}
	} else {
		list := &fleetv1alpha1.PromiseRevisionList{}
		if err := c.c.List(ctx, list); err != nil {
			return nil, err
		}
		for _, pr := range list.Items {
			if pr.Spec.Promise == r.Spec.Subject.Promise {
				revs = append(revs, rev{pr.Name, pr.CreationTimestamp.Time})
			}
		}
	}
	sort.SliceStable(revs, func(i, j int) bool {
		if !revs[i].created.Equal(revs[j].created) {
			return revs[i].created.After(revs[j].created)
		}
		return revs[i].name > revs[j].name
	})
	names := make([]string, len(revs))
	for i, r := range revs {
		names[i] = r.name
	}
	return names, nil
}

// subjectName says what a Rollout moves, for messages.
func subjectName(r *fleetv1alpha1.Rollout) string {
	if inst := r.Spec.Subject.Instance; inst != nil {
		return "instance " + r.Namespace + "/" + inst.Name + " (Promise " + r.Spec.Subject.Promise + ")"
	}
	return "Promise " + r.Spec.Subject.Promise
}
