package rollout_test

import (
	"strings"
	"testing"
	"time"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/rollout"
)

// A cluster the status admits whose Works never render the target: the
// instance controller keeps them as they are (it holds an instance for what
// its team wrote, or the target's render fails for it). Judged on its Works
// alone it was pending again at every plan, admitted anew with a new
// admission time, and never failed: the Rollout stayed in flight for ever
// ("1 in flight"), for every team of a Promise, and said nothing of why.
// It now counts from its wave's last admission and fails by its progress
// deadline, saying that its Works do not render the target.
func TestAnAdmittedClusterWhoseWorksAreNeverWrittenFailsByItsDeadline(t *testing.T) {
	f := newFixture(t, strategy(wave("general", catchAll, concurrency("2"), deadline(10*time.Minute))), clusters("m", 3)...)
	f.plan()
	f.wantAdmitted("m-1", "m-2")
	held := func() { f.update("m-2", func(o *rollout.ClusterObservation) { *o = cluster("m-2") }) }
	held()

	// Within the deadline: in flight, listed as admitted again (as after a
	// crash before the Works were written), never failed early.
	f.at(time.Minute).healthy("m-1").plan()
	held()
	f.wantPhase(fleetv1alpha1.RolloutPhaseProgressing, "general")
	f.wantAdmitted("m-2", "m-3")
	if f.d.Status.Counts.Failed != 0 || f.d.RequeueAfter != 9*time.Minute {
		t.Fatalf("at 1m: counts %+v, requeue %s", f.d.Status.Counts, f.d.RequeueAfter)
	}
	// It counts from the wave's last admission (m-3's, at 1m), never
	// earlier than its own.
	f.at(10 * time.Minute).healthy("m-3").plan()
	held()
	f.wantPhase(fleetv1alpha1.RolloutPhaseProgressing, "general")
	f.at(11 * time.Minute).plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseHalted, "general")
	if len(f.d.Status.Failures) != 1 {
		t.Fatalf("failures %+v", f.d.Status.Failures)
	}
	if fl := f.d.Status.Failures[0]; fl.Cluster != "m-2" || fl.Reason != fleetv1alpha1.ReasonProgressDeadlineExceeded ||
		!strings.Contains(fl.Message, "admitted to "+target+", but its Works do not render it") {
		t.Fatalf("failure %+v", fl)
	}
	if !f.in.Status.Waves[0].LastAdmittedAt.Time.Equal(t0.Add(time.Minute)) {
		t.Fatalf("lastAdmittedAt %v", f.in.Status.Waves[0].LastAdmittedAt)
	}
}

// A status written before lastAdmittedAt: the wait counts from the first
// plan that sees the cluster admitted and its Works not on the target.
func TestAnUnwrittenAdmissionFromBeforeLastAdmittedAtCountsFromNow(t *testing.T) {
	f := newFixture(t, strategy(wave("general", catchAll, deadline(10*time.Minute))), clusters("m", 1)...)
	f.plan()
	f.update("m-1", func(o *rollout.ClusterObservation) { *o = cluster("m-1") })
	f.in.Status.Waves[0].LastAdmittedAt = nil
	f.at(time.Hour).plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseProgressing, "general")
	if f.d.RequeueAfter != 10*time.Minute {
		t.Fatalf("requeue %s", f.d.RequeueAfter)
	}
	f.update("m-1", func(o *rollout.ClusterObservation) { *o = cluster("m-1") })
	f.at(time.Hour + 10*time.Minute).plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseHalted, "general")
}

// A hub that stops after its status admitted a cluster and before the
// instance controller wrote the cluster's Works (a crash, an OOM kill, a
// leader lost mid-step), and is down for longer than the progress deadline:
// the restarted hub's first plan, before its instance controller could
// write them, failed the cluster by its deadline (and halted or rolled back
// the Rollout), a cluster that never received the change. The wait now
// counts no earlier than when this hub began to run its controllers
// (Input.LeadingSince).
func TestAnUnwrittenAdmissionIsNotFailedForTheTimeTheHubWasDown(t *testing.T) {
	f := newFixture(t, strategy(wave("general", catchAll, deadline(10*time.Minute))), clusters("m", 1)...)
	f.plan()
	f.wantAdmitted("m-1")
	// The hub stops: the Works were never written.
	f.update("m-1", func(o *rollout.ClusterObservation) { *o = cluster("m-1") })

	// It is back an hour later.
	f.in.LeadingSince = t0.Add(time.Hour)
	f.at(time.Hour).plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseProgressing, "general")
	if f.d.Status.Counts.Failed != 0 || f.d.RequeueAfter != 10*time.Minute {
		t.Fatalf("after a restart: counts %+v, requeue %s; want nothing failed, a wait of the deadline", f.d.Status.Counts, f.d.RequeueAfter)
	}
	// Still unwritten a deadline later: the instance controller holds them.
	f.update("m-1", func(o *rollout.ClusterObservation) { *o = cluster("m-1") })
	f.at(time.Hour + 10*time.Minute).plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseHalted, "general")
}
