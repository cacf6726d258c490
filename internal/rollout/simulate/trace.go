package simulate

import (
	"fmt"
	"strings"
	"time"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/rollout"
)

// tracer writes the trace: for each step that changed something, the
// scripted actions, a line with the phase, wave, counts and admissions,
// and the Events.
type tracer struct {
	mode TraceMode
	off  bool
	b    strings.Builder
	last string
}

func (t *tracer) step(now time.Time, actions []string, d rollout.Decision) {
	if t.off {
		return
	}
	st := d.Status
	c := st.Counts
	state := fmt.Sprintf("%-18s %-12s total=%d admitted=%d healthy=%d failed=%d pending=%d offline=%d on=%d%%",
		st.Phase, or(st.CurrentWave, "-"), c.Total, c.Admitted, c.Healthy, c.Failed, c.Pending, c.Offline, st.PercentOnTarget)
	key := state
	if t.mode == TraceTransitions {
		key = fmt.Sprintf("%s %s", st.Phase, st.CurrentWave)
	}
	changed := key != t.last || len(actions) > 0 || len(d.Events) > 0 ||
		(t.mode == TraceSteps && len(d.Admit) > 0)
	if !changed {
		return
	}
	t.last = key
	at := since(now)
	for _, a := range actions {
		fmt.Fprintf(&t.b, "%s » %s\n", at, a)
	}
	line := at + " " + state
	if len(d.Admit) > 0 {
		line += " " + admissions(d.Admit, t.mode == TraceTransitions)
	}
	if d.RequeueAfter > 0 {
		line += " requeue=" + d.RequeueAfter.String()
	}
	t.b.WriteString(strings.TrimRight(line, " ") + "\n")
	for _, e := range d.Events {
		fmt.Fprintf(&t.b, "          %s %s: %s\n", e.Type, e.Reason, e.Message)
	}
}

// note writes a line about the run itself.
func (t *tracer) note(now time.Time, msg string) {
	if !t.off {
		fmt.Fprintf(&t.b, "%s # %s\n", since(now), msg)
	}
}

// summary writes the final status: waves, failures, history and conditions.
func (t *tracer) summary(st fleetv1alpha1.RolloutStatus, res Result) {
	fmt.Fprintf(&t.b, "--- end after %s: %s, %d plans, %d admissions\n", res.Elapsed, st.Phase, res.Plans, res.Admissions)
	for _, w := range st.Waves {
		approval := ""
		if w.Approval != nil {
			approval = " approved-by=" + w.Approval.By
		}
		c := w.Counts
		fmt.Fprintf(&t.b, "wave %-12s %-10s clusters=%d healthy=%d failed=%d pending=%d offline=%d%s\n",
			w.Name, w.Phase, len(w.Clusters), c.Healthy, c.Failed, c.Pending, c.Offline, approval)
		for _, ck := range w.Checks {
			n := ck.Counts
			fmt.Fprintf(&t.b, "  check %-12s %-12s run=%d marks=%s passed=%d failed=%d inconclusive=%d: %s\n",
				ck.Name, ck.Verdict, ck.Run, or(ck.Marks, "-"), n.Passed, n.Failed, n.Inconclusive, ck.Message)
		}
	}
	if st.RollbackRevision != "" {
		fmt.Fprintf(&t.b, "rollbackRevision %s\n", st.RollbackRevision)
	}
	if a := st.Adoption; a != nil {
		fmt.Fprintf(&t.b, "adoption %d/%d forced=%v\n", a.Adopted, a.Instances, a.ForcedAt != nil)
	}
	fmt.Fprintf(&t.b, "failures %d:", st.FailureCount)
	for i, f := range st.Failures {
		if i == 5 {
			fmt.Fprintf(&t.b, " …")
			break
		}
		fmt.Fprintf(&t.b, " %s/%s@%s", f.Cluster, f.Reason, since(f.Time.Time))
	}
	t.b.WriteString("\n")
	if st.UnattributedFailureCount > 0 {
		fmt.Fprintf(&t.b, "unattributed %d:", st.UnattributedFailureCount)
		for i, f := range st.UnattributedFailures {
			if i == 5 {
				fmt.Fprintf(&t.b, " …")
				break
			}
			fmt.Fprintf(&t.b, " %s/%s@%s on %s", f.Cluster, f.Reason, since(f.Time.Time), f.Revision)
		}
		t.b.WriteString("\n")
	}
	if f := st.Freeze; f != nil {
		fmt.Fprintf(&t.b, "freeze heldBy=%s rolledBackBy=%s\n", or(f.HeldBy, "-"), or(f.RolledBackBy, "-"))
	}
	for _, h := range st.History {
		freeze := ""
		if h.Freeze != "" {
			freeze = " freeze=" + h.Freeze
		}
		fmt.Fprintf(&t.b, "history %s %s → %s [%s] by %s%s\n", since(h.Time.Time), or(h.From, "(new)"), h.To, or(h.Wave, "-"), h.Actor, freeze)
	}
	for _, c := range st.Conditions {
		fmt.Fprintf(&t.b, "condition %s=%s %s\n", c.Type, c.Status, c.Reason)
	}
}

// admissions describes a step's admissions, grouped by revision.
func admissions(as []rollout.Admission, brief bool) string {
	var parts []string
	for i := 0; i < len(as); {
		j := i
		for j < len(as) && as[j].Revision == as[i].Revision {
			j++
		}
		names := make([]string, 0, j-i)
		for _, a := range as[i:j] {
			names = append(names, a.Cluster)
		}
		switch {
		case brief || len(names) > 6:
			parts = append(parts, fmt.Sprintf("admit %s: %d (%s … %s)", as[i].Revision, len(names), names[0], names[len(names)-1]))
		default:
			parts = append(parts, fmt.Sprintf("admit %s: %s", as[i].Revision, strings.Join(names, ",")))
		}
		i = j
	}
	return strings.Join(parts, " ")
}

// since formats the simulated time since the start as +hh:mm:ss.
func since(t time.Time) string {
	d := t.Sub(start)
	sign := "+"
	if d < 0 {
		sign, d = "-", -d
	}
	s := int(d / time.Second)
	return fmt.Sprintf("%s%02d:%02d:%02d", sign, s/3600, s/60%60, s%60)
}
