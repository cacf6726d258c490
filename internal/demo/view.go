package demo

import (
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/display"
)

// What the demo shows, as text: pure functions of what it observed, so the
// narration can be tested without a fleet.

// instanceState is what one member runs for one instance: the image of the
// instance's Deployment and whether it is rolled out and available.
type instanceState struct {
	// Instance is namespace/name.
	Instance string
	// Image is the Deployment's image; empty when there is no Deployment.
	Image string
	// Ready: the Deployment's current spec is rolled out and every replica available.
	Ready bool
	// Problem is why a new Pod does not start (e.g. ImagePullBackOff), if known.
	Problem string
}

// memberState is what one member cluster runs.
type memberState struct {
	Name, Wave string
	Instances  []instanceState
}

// line is one line of a live frame. Key identifies it from one frame to the
// next, so a plain (non-terminal) output prints only the lines that changed.
type line struct{ key, text string }

// rolloutFrame is the live view of a Rollout: a summary, one line per wave
// and one per member with what it runs. ro is nil until the hub created it.
func rolloutFrame(name string, ro *fleetv1alpha1.Rollout, members []memberState) []line {
	if ro == nil {
		return []line{{"rollout", fmt.Sprintf("rollout %s: waiting for the hub to create it", name)}}
	}
	st := ro.Status
	phase := string(st.Phase)
	if phase == "" {
		phase = "Pending"
	}
	if st.CurrentWave != "" {
		phase += " (wave " + st.CurrentWave + ")"
	}
	frame := []line{{"rollout", fmt.Sprintf("rollout %s: %s · %d%% on target · %d/%d healthy · %d failed",
		name, phase, st.PercentOnTarget, st.Counts.Healthy, st.Counts.Total, max(st.FailureCount, st.Counts.Failed))}}
	width := 0
	for _, w := range st.Waves {
		width = max(width, len(w.Name))
	}
	for _, w := range st.Waves {
		failed := waveFailures(ro, w)
		frame = append(frame, line{"wave " + w.Name, fmt.Sprintf("  wave %-*s  %-23s %d/%d healthy, %d failed   %s",
			width, w.Name, wavePhaseText(w, failed), w.Counts.Healthy, len(w.Clusters), failed, strings.Join(w.Clusters, " "))})
	}
	for _, m := range members {
		frame = append(frame, line{"member " + m.Name, fmt.Sprintf("  %-9s %-8s %s", m.Name, m.Wave, runsText(m.Instances))})
	}
	return frame
}

// waveFailures is how many of a wave's clusters failed: as counted now, or
// as recorded in the Rollout's failures, which outlive a rollback (the
// counts then describe the clusters on their way back).
func waveFailures(ro *fleetv1alpha1.Rollout, w fleetv1alpha1.WaveStatus) int {
	recorded := 0
	for _, f := range ro.Status.Failures {
		if f.Wave == w.Name {
			recorded++
		}
	}
	return max(int(w.Counts.Failed), recorded)
}

// wavePhaseText is a wave's phase, with its failed clusters, as a person reads it.
func wavePhaseText(w fleetv1alpha1.WaveStatus, failed int) string {
	switch w.Phase {
	case "", fleetv1alpha1.WavePhasePending:
		return "pending"
	case fleetv1alpha1.WavePhaseWaitingForApproval:
		return "waiting for approval"
	case fleetv1alpha1.WavePhaseBaking:
		return "baking"
	case fleetv1alpha1.WavePhaseSucceeded:
		switch {
		case failed > 0:
			return "succeeded within budget"
		case w.Approval != nil:
			return "succeeded (approved)"
		}
		return "succeeded"
	case fleetv1alpha1.WavePhaseSucceededWithFailures:
		return "succeeded with failures"
	case fleetv1alpha1.WavePhaseRolledBack:
		return "rolled back"
	}
	return strings.ToLower(string(w.Phase))
}

// runsText says what a member runs: one image and state when every instance
// agrees, else each instance's.
func runsText(instances []instanceState) string {
	if len(instances) == 0 {
		return "-"
	}
	same := true
	for _, in := range instances[1:] {
		if in.Image != instances[0].Image || stateText(in) != stateText(instances[0]) {
			same = false
		}
	}
	if same {
		return fmt.Sprintf("%s  %s", orDash(instances[0].Image), stateText(instances[0]))
	}
	parts := make([]string, 0, len(instances))
	for _, in := range instances {
		parts = append(parts, fmt.Sprintf("%s: %s %s", in.Instance, orDash(in.Image), stateText(in)))
	}
	return strings.Join(parts, "; ")
}

func stateText(in instanceState) string {
	switch {
	case in.Image == "":
		return "not there"
	case in.Ready:
		return "ready"
	case in.Problem != "":
		return "not ready (" + in.Problem + ")"
	}
	return "rolling out"
}

// clusterTable lists the members with their wave and availability.
func clusterTable(members []memberState, availability map[string]fleetv1alpha1.ClusterAvailability, kubeconfig func(string) string) string {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  CLUSTER\tWAVE\tAVAILABILITY\tKUBECONFIG")
	for _, m := range members {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", m.Name, m.Wave, orDash(string(availability[m.Name])), kubeconfig(m.Name))
	}
	_ = tw.Flush()
	return b.String()
}

// strategyTable lists a strategy's waves with the members each selects and
// their budgets, as the hub will freeze them when a Rollout starts.
func strategyTable(s *fleetv1alpha1.RolloutStrategySpec, members []memberState) (string, error) {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  WAVE\tCLUSTERS\tFAILURES ALLOWED\tBAKE\tAPPROVAL\tDEADLINE")
	taken := map[string]bool{}
	for _, w := range s.Waves {
		sel := labels.Everything()
		if w.Selector != nil {
			var err error
			if sel, err = metav1.LabelSelectorAsSelector(w.Selector.LabelSelector()); err != nil {
				return "", fmt.Errorf("wave %s: selector: %w", w.Name, err)
			}
		}
		var clusters []string
		for _, m := range members {
			if !taken[m.Name] && sel.Matches(labels.Set{waveLabel: m.Wave}) {
				taken[m.Name] = true
				clusters = append(clusters, m.Name)
			}
		}
		failures := "0"
		if w.MaxFailures != nil {
			failures = w.MaxFailures.String()
		}
		approval := "-"
		if w.Approval == fleetv1alpha1.ApprovalRequired {
			approval = "required"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\n", w.Name, orDash(strings.Join(clusters, ", ")), failures,
			durationText(w.BakeTime), approval, durationText(w.ProgressDeadline))
	}
	_ = tw.Flush()
	return b.String(), nil
}

// imageTable lists, per member, what each instance runs.
func imageTable(members []memberState) string {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprint(tw, "  CLUSTER\tWAVE")
	if len(members) > 0 {
		for _, in := range members[0].Instances {
			fmt.Fprintf(tw, "\t%s", strings.ToUpper(in.Instance))
		}
	}
	fmt.Fprintln(tw)
	for _, m := range members {
		fmt.Fprintf(tw, "  %s\t%s", m.Name, m.Wave)
		for _, in := range m.Instances {
			fmt.Fprintf(tw, "\t%s %s", orDash(in.Image), stateText(in))
		}
		fmt.Fprintln(tw)
	}
	_ = tw.Flush()
	return b.String()
}

// failureList lists a Rollout's failed clusters, oldest first: the cluster,
// its wave and the hub's reason, then the message under it, cut to width
// unless it is 0.
func failureList(ro *fleetv1alpha1.Rollout, width int) string {
	failures := slices.Clone(ro.Status.Failures)
	slices.SortStableFunc(failures, func(a, b fleetv1alpha1.ClusterFailure) int { return a.Time.Compare(b.Time.Time) })
	var b strings.Builder
	for _, f := range failures {
		fmt.Fprintf(&b, "  %s (wave %s): %s\n", f.Cluster, orDash(f.Wave), display.Printable(f.Reason))
		if msg := display.Printable(f.Message); msg != "" {
			if width > 0 {
				msg = display.Truncate(msg, max(width-7, minWidth))
			}
			fmt.Fprintf(&b, "      %s\n", msg)
		}
	}
	return b.String()
}

// historyTable lists a Rollout's history: each transition, the wave, who
// made it and why.
func historyTable(ro *fleetv1alpha1.Rollout) string {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  TIME\tFROM → TO\tWAVE\tBY\tMESSAGE")
	for _, h := range ro.Status.History {
		fmt.Fprintf(tw, "  %s\t%s → %s\t%s\t%s\t%s\n", h.Time.Local().Format(time.TimeOnly), orDash(string(h.From)), h.To,
			orDash(h.Wave), orDash(display.Printable(h.Actor)), display.Truncate(display.Printable(h.Message), 80))
	}
	_ = tw.Flush()
	return b.String()
}

func durationText(d *metav1.Duration) string {
	if d == nil || d.Duration == 0 {
		return "-"
	}
	return d.Duration.String()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
