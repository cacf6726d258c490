//go:build !agent

package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/duration"
	"sigs.k8s.io/yaml"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/display"
	"github.com/flotilla-dev/flotilla/internal/fleetview"
)

// Bounds of the status roll-up, so that it fits a terminal however big the
// rollout; `flotilla rollout history` and -o yaml show everything.
const (
	statusFailures      = 10
	statusHistory       = 5
	statusMessageLength = 120
)

// printRolloutStatus writes the human-readable roll-up of r as of now.
// Every text from the API goes through display.Printable: a team writes the
// messages of its instance Rollout's changes, an agent its Work's messages.
func printRolloutStatus(w io.Writer, r *fleetv1alpha1.Rollout, now time.Time) {
	spec, st := &r.Spec, &r.Status
	tw := tabwriter.NewWriter(w, 0, 4, 1, ' ', 0)
	field := func(name, format string, args ...any) {
		fmt.Fprintf(tw, "%s:\t%s\n", name, display.Printable(fmt.Sprintf(format, args...)))
	}
	field("Rollout", "%s/%s", r.Namespace, r.Name)
	if spec.Subject.Instance != nil {
		field("Subject", "promise %s, instance %s", spec.Subject.Promise, spec.Subject.Instance.Name)
	} else {
		field("Subject", "promise %s (every instance)", spec.Subject.Promise)
	}
	field("Revisions", "%s → %s", orDefault(spec.FromRevision, "(none)"), spec.TargetRevision)
	field("Mode", "%s", describeMode(r, now))
	phase := orDefault(fleetview.Outcome(r), "Pending (not started)")
	if st.CurrentWave != "" {
		phase += ", wave " + st.CurrentWave
	}
	field("Phase", "%s", phase)
	if spec.DesiredState == fleetv1alpha1.RolloutPaused || spec.DesiredState == fleetv1alpha1.RolloutAborted {
		field("Requested", "%s %s", strings.ToLower(string(spec.DesiredState)), describeChange(spec.StateChange))
	}
	switch {
	case spec.Rollback != nil:
		field("Rollback", "to %s, requested %s", orDefault(st.RollbackRevision, orDefault(spec.Rollback.ToRevision, spec.FromRevision)),
			describeChange(&spec.Rollback.ChangeRecord))
	case st.RollbackRevision != "":
		field("Rollback", "to %s", st.RollbackRevision)
	}
	if st.SupersededBy != "" {
		field("Superseded", "by rollout %s", st.SupersededBy)
	}
	c := st.Counts
	field("Progress", "%d%% on target (%d of %d clusters healthy)", st.PercentOnTarget, c.Healthy, c.Total)
	field("Clusters", "%s", describeCounts(c))
	switch {
	case st.RollbackRevision != "" && st.FailureCount > 0:
		field("Rolled back", "after %s failed (listed below)", plural(int(st.FailureCount), "cluster"))
	case st.FailureCount > 0:
		field("Failed", "%d", st.FailureCount)
	}
	if st.UnattributedFailureCount > 0 {
		field("Unattributed", "%s failing on something that is not this rollout's change (never counted)",
			plural(int(st.UnattributedFailureCount), "cluster"))
	}
	if st.StartedAt != nil {
		field("Started", "%s", describeTime(st.StartedAt, now))
	}
	if st.CompletedAt != nil {
		field("Completed", "%s", describeTime(st.CompletedAt, now))
	}
	for i, cond := range st.Conditions {
		label := ""
		if i == 0 {
			label = "Conditions:"
		}
		line := display.Printable(fmt.Sprintf("%s=%s %s", cond.Type, cond.Status, cond.Reason))
		if cond.Message != "" {
			line += ": " + display.Truncate(display.Printable(cond.Message), statusMessageLength)
		}
		fmt.Fprintf(tw, "%s\t%s\n", label, line)
	}
	_ = tw.Flush()

	if len(st.Waves) > 0 {
		fmt.Fprintln(w, "\nWaves:")
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  WAVE\tPHASE\tCLUSTERS\tHEALTHY\tFAILED\tPENDING\tOFFLINE\tAPPROVAL\tBAKE STARTED")
		for i := range st.Waves {
			wv := &st.Waves[i]
			bake := "-"
			if wv.BakeStartedAt != nil {
				bake = ago(wv.BakeStartedAt, now) + " ago"
			}
			fmt.Fprintf(tw, "  %s\t%s\t%d\t%d\t%d\t%d\t%d\t%s\t%s\n", display.Printable(wv.Name), orDefault(string(fleetview.WavePhase(r, wv)), "Pending"), len(wv.Clusters),
				wv.Counts.Healthy, wv.Counts.Failed, wv.Counts.Pending, wv.Counts.Offline, display.Printable(describeApproval(r, wv, now)), bake)
		}
		_ = tw.Flush()
		printChecks(w, st.Waves, now)
	}

	title := "Failed clusters (newest first):"
	if st.RollbackRevision != "" {
		title = "Failures that led to the rollback (newest first):"
	}
	printClusterFailures(w, title, st.Failures, st.FailureCount, false, now)
	printClusterFailures(w, "Failures not attributed to this rollout (newest first; never counted):",
		st.UnattributedFailures, st.UnattributedFailureCount, true, now)

	if n := len(st.History); n > 0 {
		from := max(0, n-statusHistory)
		fmt.Fprintf(w, "\nRecent history (%d of %d; all with `flotilla rollout history`):\n", n-from, n)
		printHistoryTable(w, st.History[from:], "  ", statusMessageLength)
	}
}

// printClusterFailures writes a list of failed clusters under title, at
// most statusFailures of total; withRevision adds the revision that failed.
func printClusterFailures(w io.Writer, title string, fs []fleetv1alpha1.ClusterFailure, total int32, withRevision bool, now time.Time) {
	if len(fs) == 0 {
		return
	}
	shown := min(len(fs), statusFailures)
	fmt.Fprintf(w, "\n%s\n", title)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if withRevision {
		fmt.Fprintln(tw, "  CLUSTER\tWAVE\tREVISION\tREASON\tSINCE\tMESSAGE")
	} else {
		fmt.Fprintln(tw, "  CLUSTER\tWAVE\tREASON\tSINCE\tMESSAGE")
	}
	for _, f := range fs[:shown] {
		rev := ""
		if withRevision {
			rev = orDefault(display.Printable(f.Revision), "-") + "\t"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s%s\t%s\t%s\n", display.Printable(f.Cluster), orDefault(display.Printable(f.Wave), "-"), rev,
			display.Printable(f.Reason), ago(&f.Time, now), orDefault(display.Truncate(display.Printable(f.Message), statusMessageLength), "-"))
	}
	_ = tw.Flush()
	if more := int(max(total, int32(len(fs)))) - shown; more > 0 {
		fmt.Fprintf(w, "  and %d more\n", more)
	}
}

// rolloutProgressLog prints `rollout status -w` when it is not on a
// terminal: a line naming the rollout, then one line per change of its
// progress, each with the time, so that a CI log reads as a timeline.
type rolloutProgressLog struct {
	w       io.Writer
	command string // how the reader runs flotilla, for the approve command
	last    string
}

// print writes the progress line of r unless it is the same as the last one.
func (l *rolloutProgressLog) print(r *fleetv1alpha1.Rollout, now time.Time) error {
	line := rolloutProgressLine(r, l.command)
	if line == l.last {
		return nil
	}
	var b strings.Builder
	if l.last == "" {
		fmt.Fprintf(&b, "rollout %s/%s: promise %s", r.Namespace, r.Name, r.Spec.Subject.Promise)
		if r.Spec.Subject.Instance != nil {
			b.WriteString(", instance " + r.Spec.Subject.Instance.Name)
		}
		fmt.Fprintf(&b, ", %s → %s\n", display.Printable(orDefault(r.Spec.FromRevision, "(none)")), display.Printable(r.Spec.TargetRevision))
	}
	l.last = line
	b.WriteString(now.Format(time.RFC3339) + "  " + line + "\n")
	_, err := io.WriteString(l.w, b.String())
	return err
}

// rolloutProgressLine is where r stands, on one line: phase, wave, healthy
// of total clusters, share on target, failures, and the command that
// approves a wave waiting for it.
func rolloutProgressLine(r *fleetv1alpha1.Rollout, command string) string {
	st := &r.Status
	parts := []string{orDefault(fleetview.Outcome(r), "Pending")}
	if st.CurrentWave != "" {
		parts = append(parts, "wave "+st.CurrentWave)
	}
	parts = append(parts, fmt.Sprintf("%d/%d healthy", st.Counts.Healthy, st.Counts.Total),
		fmt.Sprintf("%d%% on target", st.PercentOnTarget))
	if failed := st.Counts.Failed; failed > 0 {
		parts = append(parts, fmt.Sprintf("%d failed", failed))
	}
	if st.RollbackRevision != "" && st.FailureCount > 0 {
		parts = append(parts, fmt.Sprintf("rolled back after %d failed", st.FailureCount))
	}
	if n := st.UnattributedFailureCount; n > 0 {
		parts = append(parts, fmt.Sprintf("%d unattributed", n))
	}
	for i := range st.Waves {
		if wv := &st.Waves[i]; wv.Phase == fleetv1alpha1.WavePhaseWaitingForApproval {
			parts = append(parts, fmt.Sprintf("approve wave %s with: %s rollout approve %s%s --wave %s",
				wv.Name, command, r.Name, namespaceFlag(r.Namespace), wv.Name))
			break
		}
	}
	for i := range parts {
		parts[i] = display.Printable(parts[i])
	}
	return strings.Join(parts, "  ")
}

// printRolloutHistory writes the whole status.history of r, oldest first.
func printRolloutHistory(w io.Writer, r *fleetv1alpha1.Rollout) {
	if len(r.Status.History) == 0 {
		fmt.Fprintf(w, "rollout %s has no history yet\n", r.Name)
		return
	}
	printHistoryTable(w, r.Status.History, "", 0)
}

// printHistoryTable writes history entries, each line prefixed; messages are
// cut to maxMessage characters unless it is 0.
func printHistoryTable(w io.Writer, history []fleetv1alpha1.HistoryEntry, prefix string, maxMessage int) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "%sTIME\tFROM → TO\tWAVE\tACTOR\tMESSAGE\n", prefix)
	for _, h := range history {
		msg := display.Printable(h.Message)
		if maxMessage > 0 {
			msg = display.Truncate(msg, maxMessage)
		}
		fmt.Fprintf(tw, "%s%s\t%s → %s\t%s\t%s\t%s\n", prefix, h.Time.UTC().Format(time.RFC3339), orDefault(string(h.From), "-"), h.To,
			orDefault(display.Printable(h.Wave), "-"), orDefault(display.Printable(h.Actor), "-"), orDefault(msg, "-"))
	}
	_ = tw.Flush()
}

// printRolloutList writes one line per Rollout, with their namespace when
// allNamespaces.
func printRolloutList(w io.Writer, items []fleetv1alpha1.Rollout, allNamespaces bool, now time.Time) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if allNamespaces {
		fmt.Fprint(tw, "NAMESPACE\t")
	}
	fmt.Fprintln(tw, "NAME\tSUBJECT\tTARGET\tMODE\tPHASE\tWAVE\tPROGRESS\tFAILED\tAGE")
	for i := range items {
		r := &items[i]
		if allNamespaces {
			fmt.Fprintf(tw, "%s\t", r.Namespace)
		}
		subject := r.Spec.Subject.Promise
		if r.Spec.Subject.Instance != nil {
			subject += "/" + r.Spec.Subject.Instance.Name
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d%%\t%d\t%s\n", r.Name, subject, display.Printable(r.Spec.TargetRevision),
			orDefault(string(r.Spec.UpdatePolicy.Mode), string(fleetv1alpha1.UpdateModeProgressive)), orDefault(fleetview.Outcome(r), "Pending"),
			orDefault(display.Printable(r.Status.CurrentWave), "-"), r.Status.PercentOnTarget, r.Status.Counts.Failed, ago(&r.CreationTimestamp, now))
	}
	_ = tw.Flush()
}

// printObject writes obj as YAML or JSON, with its kind and without managed fields.
func printObject(w io.Writer, obj any, format string) error {
	var (
		out []byte
		err error
	)
	switch format {
	case "json":
		out, err = json.MarshalIndent(obj, "", "  ")
		out = append(out, '\n')
	default:
		out, err = yaml.Marshal(obj)
	}
	if err != nil {
		return fmt.Errorf("encoding as %s: %w", format, err)
	}
	_, err = w.Write(out)
	return err
}

// forOutput is r ready for -o: with apiVersion and kind, without managed fields.
func forOutput(r *fleetv1alpha1.Rollout) *fleetv1alpha1.Rollout {
	r = r.DeepCopy()
	r.APIVersion, r.Kind = fleetv1alpha1.GroupVersion.String(), "Rollout"
	r.ManagedFields = nil
	return r
}

// describeMode is the update mode with what matters for it: the reason of
// an Immediate rollout, the adoption and time left of a Deadline one.
func describeMode(r *fleetv1alpha1.Rollout, now time.Time) string {
	p := r.Spec.UpdatePolicy
	switch p.Mode {
	case fleetv1alpha1.UpdateModeImmediate:
		return fmt.Sprintf("Immediate (reason: %s)", p.Reason)
	case fleetv1alpha1.UpdateModeDeadline:
		s := "Deadline"
		if a := r.Status.Adoption; a != nil {
			s += fmt.Sprintf(", %d of %d instances adopted", a.Adopted, a.Instances)
		}
		if p.Deadline == nil {
			return s
		}
		deadline := p.Deadline.UTC().Format(time.RFC3339)
		switch a := r.Status.Adoption; {
		case a != nil && a.ForcedAt != nil:
			s += fmt.Sprintf(", deadline %s passed: the rest forced through the waves since %s", deadline, describeTime(a.ForcedAt, now))
		case r.Status.Phase == fleetv1alpha1.RolloutPhaseSucceeded && r.Status.CompletedAt != nil && r.Status.CompletedAt.Before(p.Deadline):
			s += fmt.Sprintf(", completed before the deadline %s: every target adopted", deadline)
		case p.Deadline.After(now):
			s += fmt.Sprintf(", deadline %s (%s left)", deadline, duration.HumanDuration(p.Deadline.Sub(now)))
		default:
			s += fmt.Sprintf(", deadline %s passed %s ago", deadline, duration.HumanDuration(now.Sub(p.Deadline.Time)))
		}
		return s
	}
	return orDefault(string(p.Mode), string(fleetv1alpha1.UpdateModeProgressive))
}

// describeApproval is a wave's approval: the one recorded when it started,
// one given ahead of time, or that it waits for one.
func describeApproval(r *fleetv1alpha1.Rollout, wv *fleetv1alpha1.WaveStatus, now time.Time) string {
	if a := wv.Approval; a != nil {
		return approvalText(a, now)
	}
	for i := range r.Spec.Approvals {
		if a := &r.Spec.Approvals[i]; a.Wave == wv.Name {
			return "given: " + approvalText(&a.ChangeRecord, now)
		}
	}
	if wv.Phase == fleetv1alpha1.WavePhaseWaitingForApproval {
		return "waiting"
	}
	return "-"
}

func approvalText(a *fleetv1alpha1.ChangeRecord, now time.Time) string {
	s := orDefault(a.By, "unknown")
	if a.At != nil {
		s += ", " + ago(a.At, now) + " ago"
	}
	return s
}

// describeChange is who made a change, when, and why.
func describeChange(c *fleetv1alpha1.ChangeRecord) string {
	if c == nil {
		return "by unknown"
	}
	s := "by " + orDefault(c.By, "unknown")
	if c.At != nil {
		s += " at " + c.At.UTC().Format(time.RFC3339)
	}
	if c.Message != "" {
		s += ": " + c.Message
	}
	return s
}

func describeCounts(c fleetv1alpha1.RolloutCounts) string {
	return fmt.Sprintf("total %d, admitted %d, healthy %d, failed %d, pending %d, offline %d",
		c.Total, c.Admitted, c.Healthy, c.Failed, c.Pending, c.Offline)
}

// describeTime is t in RFC 3339 (UTC) and how long before now it was.
func describeTime(t *metav1.Time, now time.Time) string {
	return fmt.Sprintf("%s (%s ago)", t.UTC().Format(time.RFC3339), ago(t, now))
}

// ago is how long before now t was, as kubectl shows ages.
func ago(t *metav1.Time, now time.Time) string {
	if t == nil || t.IsZero() {
		return "-"
	}
	return duration.HumanDuration(now.Sub(t.Time))
}

// orDefault is s, or def when s is empty.
func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// printChecks writes the verification checks of the waves that have any:
// per check its verdict, the clusters by verdict, when it was last
// measured, and the message (the measured value, the condition and when).
func printChecks(w io.Writer, waves []fleetv1alpha1.WaveStatus, now time.Time) {
	any := false
	for _, wv := range waves {
		any = any || len(wv.Checks) > 0
	}
	if !any {
		return
	}
	fmt.Fprintln(w, "\nChecks:")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  WAVE\tCHECK\tVERDICT\tCLUSTERS\tMEASURED\tMESSAGE")
	held := false
	for _, wv := range waves {
		for _, c := range wv.Checks {
			clusters := "whole wave"
			if c.Scope != fleetv1alpha1.CheckWholeWave {
				n := c.Counts
				clusters = fmt.Sprintf("%d passed, %d passing, %d pending, %d failed, %d inconclusive", n.Passed, n.Passing, n.Pending, n.Failed, n.Inconclusive)
			}
			measured := "-"
			if c.LastMeasuredAt != nil {
				measured = ago(c.LastMeasuredAt, now) + " ago"
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\n", display.Printable(wv.Name), display.Printable(c.Name), describeVerdict(c.Verdict, c.Run), clusters, measured,
				describeCheckMessage(c.Message, statusMessageLength))
			held = held || c.Verdict == fleetv1alpha1.CheckInconclusive
		}
	}
	_ = tw.Flush()
	if held {
		fmt.Fprintln(w, "  an inconclusive check holds its wave: "+describeLetOn("flotilla", "NAME", "", "CHECK"))
	}
}

// describeVerdict is a check's verdict, with its run once re-run.
func describeVerdict(v fleetv1alpha1.CheckVerdict, run int32) string {
	s := orDefault(string(v), string(fleetv1alpha1.CheckPending))
	if run > 0 {
		s += fmt.Sprintf(" (run %d)", run)
	}
	return s
}

// describeCheckMessage is a check's message on one printable line of at
// most n characters, or "-".
func describeCheckMessage(msg string, n int) string {
	return orDefault(display.Truncate(display.Printable(msg), n), "-")
}

// describeLetOn is the commands that let on a wave an inconclusive check
// holds: re-run the check, or skip it with a reason.
func describeLetOn(command, rollout, namespace, check string) string {
	return fmt.Sprintf("%s rollout rerun-check %s%s --check %s, or skip-check with -m REASON", command, rollout, namespace, check)
}
