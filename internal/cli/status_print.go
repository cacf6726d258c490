//go:build !agent

package cli

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"k8s.io/apimachinery/pkg/util/duration"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/display"
	"github.com/flotilla-dev/flotilla/internal/fleetview"
)

// Bounds of `flotilla status`, so that it fits a terminal however big the
// fleet; -o yaml|json prints the whole view.
const (
	fleetStatusFailures = 10
	fleetStatusOffline  = 10
	fleetStatusMessage  = 100
	// fleetStatusTeamRollouts bounds the teams' Rollouts in flight shown
	// in full: a team starts one for each instance it changes, and a
	// hundred of them must not push the failures and freezes off the
	// screen. The platform's are always shown.
	fleetStatusTeamRollouts = 5
	barWidth                = 20
)

// printFleetStatus writes the human-readable fleet roll-up of v, as of
// v.GeneratedAt. command is how the reader runs flotilla ("flotilla", or
// "kubectl flotilla" for the plugin), for the commands it suggests.
func printFleetStatus(w io.Writer, v *fleetview.View, command string) {
	now := v.GeneratedAt
	seen := v.Visibility
	c := v.Clusters
	if seen.Clusters.Known() {
		fmt.Fprintf(w, "Clusters: %d total, %d available, %d offline, %d unknown\n", c.Total, c.Available, c.Offline, c.Unknown)
	} else {
		fmt.Fprintf(w, "Clusters: %s\n", unknownList("Clusters"))
	}

	printPromiseShares(w, v.Promises, seen)
	printRolloutsInFlight(w, v.Rollouts, command, now, seen)
	printFailures(w, v, command)
	switch {
	case !seen.Works.Known():
		fmt.Fprintf(w, "\nDrift: %s\n", unknownList("Works"))
	case v.Drift.Resources.Total > 0:
		fmt.Fprintf(w, "\nDrift: %s (%s drift lists them)\n", driftSummary(&v.Drift), command)
	}
	printOffline(w, v.Offline, now)
	if !seen.FleetFreezes.Known() {
		fmt.Fprintf(w, "\nFrozen: %s\n", unknownList("FleetFreezes"))
	}
	printFreezes(w, v.Freezes, now)
	if len(v.Hidden) > 0 {
		fmt.Fprintf(w, "\nNot shown (your credentials may not list them): %s\n", strings.Join(v.Hidden, ", "))
	}
}

// unknownList says a part of the status is unknown, not empty or zero: the
// reader may not list the kind it is read from (a partial view).
func unknownList(kind string) string {
	return "unknown (hidden: your credentials may not list " + kind + ")"
}

// printPromiseShares writes, per Promise, the share of its clusters on each
// revision, the latest marked (and listed even when no cluster runs it yet).
// Without Works what runs where is unknown, and it says so.
func printPromiseShares(w io.Writer, promises []fleetview.PromiseView, seen fleetview.Visibility) {
	switch {
	case len(promises) == 0 && !seen.Promises.Known():
		fmt.Fprintf(w, "\nPromises: %s\n", unknownList("Promises"))
		return
	case len(promises) == 0:
		fmt.Fprintln(w, "\nPromises: none")
		return
	}
	if !seen.Works.Known() {
		fmt.Fprintf(w, "\nPromises (clusters on each revision: %s):\n", unknownList("Works"))
		for _, p := range promises {
			latest := ""
			if p.LatestRevision != "" {
				latest = "latest " + display.Printable(p.LatestRevision) + ", "
			}
			fmt.Fprintf(w, "  %s  %s%s\n", display.Printable(p.Name), latest, plural(int(p.Instances), "instance"))
		}
		return
	}
	fmt.Fprintln(w, "\nPromises (clusters healthy on each revision; those that applied it but are not healthy apart):")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, p := range promises {
		fmt.Fprintf(tw, "  %s\t%s\n", display.Printable(p.Name), describePromise(p))
		shares := p.Revisions
		if p.LatestRevision != "" && p.Clusters > 0 && !hasRevision(shares, p.LatestRevision) {
			shares = append([]fleetview.RevisionShare{{Revision: p.LatestRevision, Latest: true}}, shares...)
		}
		for _, s := range shares {
			rev := display.Printable(s.Revision)
			if s.Latest {
				rev += " (latest)"
			}
			fmt.Fprintf(tw, "    %s\t%d healthy\t%5.1f%%\t%s", rev, s.Healthy, s.Percent, shareBar(s.Healthy, s.NotHealthy, p.Clusters))
			if s.NotHealthy > 0 {
				fmt.Fprintf(tw, "\t+%d applied, not healthy (%.1f%%)", s.NotHealthy, s.NotHealthyPercent)
			}
			fmt.Fprintln(tw)
		}
	}
	_ = tw.Flush()
}

func describePromise(p fleetview.PromiseView) string {
	var parts []string
	if p.LatestRevision != "" {
		parts = append(parts, "latest "+display.Printable(p.LatestRevision))
	}
	parts = append(parts, plural(int(p.Instances), "instance"), "on "+plural(p.Clusters, "cluster"))
	return strings.Join(parts, ", ")
}

func hasRevision(shares []fleetview.RevisionShare, rev string) bool {
	for _, s := range shares {
		if s.Revision == rev {
			return true
		}
	}
	return false
}

// printRolloutsInFlight writes each Rollout in flight (of the teams', the
// first fleetStatusTeamRollouts) with one line per wave and its progress
// bar, the command that approves a waiting wave, then the Rollouts that
// finished recently.
func printRolloutsInFlight(w io.Writer, rollouts []fleetview.RolloutView, command string, now time.Time, seen fleetview.Visibility) {
	var inFlight, finished []fleetview.RolloutView
	for _, r := range rollouts {
		if r.Finished {
			finished = append(finished, r)
		} else {
			inFlight = append(inFlight, r)
		}
	}
	// A partial list says whose Rollouts it holds: none in a namespace is
	// not none in the fleet.
	only := ""
	if seen.Rollouts == fleetview.ListedNamespace {
		only = " in namespace " + display.Printable(seen.Namespace) + "; others hidden"
	}
	switch {
	case !seen.Rollouts.Known():
		fmt.Fprintf(w, "\nRollouts in flight: %s\n", unknownList("Rollouts"))
	case len(inFlight) == 0 && only != "":
		fmt.Fprintf(w, "\nRollouts in flight: none%s\n", only)
	case len(inFlight) == 0:
		fmt.Fprintln(w, "\nRollouts in flight: none")
	default:
		fmt.Fprintf(w, "\nRollouts in flight (%d%s):\n", len(inFlight), only)
	}
	teams := 0
	for _, r := range inFlight {
		if r.Instance != "" {
			if teams++; teams > fleetStatusTeamRollouts {
				continue
			}
		}
		phase := outcome(r)
		if r.CurrentWave != "" {
			phase += ", wave " + r.CurrentWave
		}
		// Two short lines rather than one long one: revision names are long.
		fmt.Fprintf(w, "  %s/%s  %s  %s → %s\n", r.Namespace, r.Name, display.Printable(rolloutSubject(r)),
			display.Printable(orDefault(r.FromRevision, "(none)")), display.Printable(r.TargetRevision))
		fmt.Fprintf(w, "    %s: %d%% on target (%d of %d clusters healthy)\n", display.Printable(phase),
			r.PercentOnTarget, r.Counts.Healthy, r.Counts.Total)
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		for _, wv := range r.Waves {
			total := int(wv.Counts.Total)
			if total == 0 {
				total = len(wv.Clusters)
			}
			fmt.Fprintf(tw, "    %s\t%s\t%s\t%d/%d healthy", display.Printable(wv.Name), orDefault(string(wv.Phase), "Pending"),
				bar(int(wv.Counts.Healthy), total), wv.Counts.Healthy, total)
			if trouble := describeWaveTrouble(wv.Counts); trouble != "" {
				fmt.Fprintf(tw, "\t%s", trouble)
			}
			fmt.Fprintln(tw)
		}
		_ = tw.Flush()
		printCurrentChecks(w, r, command)
		if failed := describeRolloutFailures(r); failed != "" {
			fmt.Fprintf(w, "    %s: %s\n", failuresLabel(r), failed)
		}
		if stray := describeUnattributed(r); stray != "" {
			fmt.Fprintf(w, "    not this rollout's (never counted): %s\n", stray)
		}
		if r.AwaitingApproval != "" {
			fmt.Fprintf(w, "    wave %s waits for approval: %s rollout approve %s%s --wave %s\n",
				display.Printable(r.AwaitingApproval), command, r.Name, namespaceFlag(r.Namespace), display.Printable(r.AwaitingApproval))
		}
		if r.Message != "" && r.AwaitingApproval == "" {
			fmt.Fprintf(w, "    %s\n", display.Truncate(display.Printable(r.Message), fleetStatusMessage))
		}
	}
	if more := teams - fleetStatusTeamRollouts; more > 0 {
		fmt.Fprintf(w, "  and %d more of teams' instances (%s rollout list -A lists them)\n", more, command)
	}
	if len(finished) > 0 {
		fmt.Fprintln(w, "\nRecently finished:")
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		for _, r := range finished {
			when := "-"
			if r.CompletedAt != nil {
				when = duration.HumanDuration(now.Sub(*r.CompletedAt)) + " ago"
			}
			why := ""
			if outcome(r) != string(fleetv1alpha1.RolloutPhaseSucceeded) {
				why = display.Truncate(display.Printable(r.Message), fleetStatusMessage)
				if failed := describeRolloutFailures(r); failed != "" {
					why = failuresLabel(r) + ": " + failed
				}
			}
			if stray := describeUnattributed(r); stray != "" {
				why = strings.TrimPrefix(why+"; not this rollout's: "+stray, "; ")
			}
			fmt.Fprintf(tw, "  %s/%s\t%s\t→ %s\t%s\t%s", r.Namespace, r.Name, display.Printable(rolloutSubject(r)),
				display.Printable(r.TargetRevision), display.Printable(outcome(r)), when)
			if why != "" {
				fmt.Fprintf(tw, "\t%s", why)
			}
			fmt.Fprintln(tw)
		}
		_ = tw.Flush()
	}
}

func rolloutSubject(r fleetview.RolloutView) string {
	if r.Instance != "" {
		// Instance is namespace/name, and the namespace is the rollout's.
		_, name, _ := strings.Cut(r.Instance, "/")
		return r.Promise + "/" + name
	}
	return r.Promise
}

// printCurrentChecks writes the verification checks of a rollout's current
// wave: a line per check that has not passed, as `flotilla rollout status`
// describes it, then how many passed, then the commands that let on the wave
// an inconclusive check holds.
func printCurrentChecks(w io.Writer, r fleetview.RolloutView, command string) {
	var wave *fleetview.WaveView
	for i := range r.Waves {
		if r.Waves[i].Name == r.CurrentWave {
			wave = &r.Waves[i]
		}
	}
	if wave == nil || len(wave.Checks) == 0 {
		return
	}
	name := display.Printable(wave.Name)
	passed := 0
	var held []string
	for _, c := range wave.Checks {
		switch c.Verdict {
		case fleetv1alpha1.CheckPassed:
			passed++
			continue
		case fleetv1alpha1.CheckInconclusive:
			held = append(held, display.Printable(c.Name))
		}
		line := fmt.Sprintf("    %s: check %s %s", name, display.Printable(c.Name), describeVerdict(c.Verdict, c.Run))
		if c.Message != "" {
			line += ": " + describeCheckMessage(c.Message, fleetStatusMessage)
		}
		fmt.Fprintln(w, line)
	}
	if passed > 0 {
		fmt.Fprintf(w, "    %s: checks: %d passed\n", name, passed)
	}
	for _, c := range held {
		fmt.Fprintf(w, "    check %s holds wave %s: %s\n", c, name, describeLetOn(command, r.Name, namespaceFlag(r.Namespace), c))
	}
}

// rolloutFailuresShown bounds the failed clusters named on a rollout's line.
const rolloutFailuresShown = 3

// describeRolloutFailures names the clusters a rollout counts as failed
// (newest first, as the rollout keeps them) with their reasons.
func describeRolloutFailures(r fleetview.RolloutView) string {
	return describeFailureList(r.Failures, r.FailureCount)
}

// describeFailureList names up to rolloutFailuresShown failures of count.
func describeFailureList(fs []fleetv1alpha1.ClusterFailure, count int32) string {
	if len(fs) == 0 {
		return ""
	}
	shown := min(len(fs), rolloutFailuresShown)
	parts := make([]string, 0, shown)
	for _, f := range fs[:shown] {
		part := display.Printable(f.Cluster)
		if f.Reason != "" {
			part += " (" + display.Printable(f.Reason) + ")"
		}
		parts = append(parts, part)
	}
	s := strings.Join(parts, ", ")
	if more := max(int(count), len(fs)) - shown; more > 0 {
		s += fmt.Sprintf(" and %d more", more)
	}
	return s
}

// outcome is a rollout's outcome (its phase, or SucceededWithFailures).
func outcome(r fleetview.RolloutView) string {
	return orDefault(r.Outcome, string(r.Phase))
}

// failuresLabel says what a rollout's failure list is: the clusters failed,
// or, once it rolled back, the failures that led to the rollback.
func failuresLabel(r fleetview.RolloutView) string {
	if r.RollbackRevision != "" {
		return "rolled back after"
	}
	return "failed"
}

// describeUnattributed names the failures on a rollout's clusters that are
// not its own, as describeRolloutFailures does.
func describeUnattributed(r fleetview.RolloutView) string {
	return describeFailureList(r.UnattributedFailures, r.UnattributedFailureCount)
}

// describeWaveTrouble names the clusters of a wave that are not moving on.
func describeWaveTrouble(c fleetv1alpha1.RolloutCounts) string {
	var parts []string
	for _, n := range []struct {
		count int32
		what  string
	}{{c.Failed, "failed"}, {c.Pending, "pending"}, {c.Offline, "offline"}} {
		if n.count > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n.count, n.what))
		}
	}
	return strings.Join(parts, ", ")
}

// printFailures writes the failing Works, at most fleetStatusFailures.
func printFailures(w io.Writer, v *fleetview.View, command string) {
	if !v.Visibility.Works.Known() {
		fmt.Fprintf(w, "\nFailing: %s\n", unknownList("Works"))
		return
	}
	if v.FailureCount == 0 {
		fmt.Fprintln(w, "\nFailing: none")
		return
	}
	clusters := map[string]bool{}
	for _, t := range v.Tiles {
		if t.Failed > 0 {
			clusters[t.Name] = true
		}
	}
	fmt.Fprintf(w, "\nFailing: %s on %s\n", plural(v.FailureCount, "Work"), plural(len(clusters), "cluster"))
	shown := min(len(v.Failures), fleetStatusFailures)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  CLUSTER\tPROMISE\tINSTANCE\tREVISION\tREASON\tMESSAGE")
	for _, f := range v.Failures[:shown] {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\n", display.Printable(f.Cluster), display.Printable(f.Promise), orDefault(display.Printable(f.Instance), "-"),
			orDefault(display.Printable(f.Revision), "-"), orDefault(display.Printable(f.Reason), "-"),
			orDefault(display.Truncate(display.Printable(f.Message), fleetStatusMessage), "-"))
	}
	_ = tw.Flush()
	if more := v.FailureCount - shown; more > 0 {
		fmt.Fprintf(w, "  and %d more (%s get works -o wide: every Work, with STATE and REASON)\n", more, command)
	}
}

// printOffline writes the offline clusters with the age of their last
// heartbeat, at most fleetStatusOffline.
func printOffline(w io.Writer, offline []fleetview.Offline, now time.Time) {
	if len(offline) == 0 {
		return
	}
	fmt.Fprintf(w, "\nOffline: %s\n", plural(len(offline), "cluster"))
	shown := min(len(offline), fleetStatusOffline)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  CLUSTER\tLAST HEARTBEAT\tREASON")
	for _, o := range offline[:shown] {
		heartbeat := "never"
		if o.LastHeartbeat != nil {
			heartbeat = duration.HumanDuration(now.Sub(*o.LastHeartbeat)) + " ago"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", display.Printable(o.Cluster), heartbeat, orDefault(display.Truncate(display.Printable(o.Reason), fleetStatusMessage), "-"))
	}
	_ = tw.Flush()
	if more := len(offline) - shown; more > 0 {
		fmt.Fprintf(w, "  and %d more\n", more)
	}
}

// printFreezes writes the FleetFreezes in force.
func printFreezes(w io.Writer, freezes []fleetview.Freeze, now time.Time) {
	if len(freezes) == 0 {
		return
	}
	fmt.Fprintf(w, "\nFrozen: %s in force\n", plural(len(freezes), "FleetFreeze"))
	for _, f := range freezes {
		parts := []string{string(f.Action)}
		if f.FrozenBy != "" {
			parts = append(parts, "by "+f.FrozenBy)
		}
		if f.Until != nil {
			parts = append(parts, fmt.Sprintf("until %s (%s left)", f.Until.UTC().Format(time.RFC3339), duration.HumanDuration(f.Until.Sub(now))))
		} else {
			parts = append(parts, "until unfrozen")
		}
		parts = append(parts, "holding "+plural(int(f.Held), "rollout"))
		fmt.Fprintf(w, "  %s: %s: %s\n", display.Printable(f.Name), display.Printable(strings.Join(parts, ", ")),
			display.Truncate(display.Printable(f.Reason), fleetStatusMessage))
	}
}

// bar is n of total as a bar of barWidth cells, rounded down, so that a
// full bar means all of them.
func bar(n, total int) string {
	filled := 0
	if total > 0 {
		filled = min(max(n*barWidth/total, 0), barWidth)
	}
	return strings.Repeat("█", filled) + strings.Repeat("░", barWidth-filled)
}

// shareBar is a revision's share of a Promise's clusters: healthy ones
// filled, those that applied it but are not healthy shaded, in barWidth
// cells rounded down.
func shareBar(healthy, notHealthy, total int) string {
	full, shaded := 0, 0
	if total > 0 {
		full = min(max(healthy*barWidth/total, 0), barWidth)
		shaded = min(max((healthy+notHealthy)*barWidth/total, 0), barWidth) - full
	}
	return strings.Repeat("█", full) + strings.Repeat("▒", shaded) + strings.Repeat("░", barWidth-full-shaded)
}

// plural is "1 cluster" or "n clusters".
func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}
