package e2e

import (
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/intstr"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// hubKills is how many kills, at least, land while the rollout is in flight.
const hubKills = 10

// Story 3: the hub controller is killed at random points of a rollout, at
// least ten times. The rollout ends exactly as an uninterrupted one of the
// same shape does, and no cluster is admitted twice.
//
// E2E_ROLLOUT_SEED replays a run's kill schedule (the seed is logged).
func hubKillStory(t *testing.T, f *rolloutFleet) {
	// Three waves admitting one cluster at a time, the last behind an
	// approval. The story approves it only once ten kills have landed, so the
	// rollout cannot end before they do, however fast the machine is.
	f.givenStrategy("crash", fleetv1alpha1.RolloutStrategySpec{
		Waves: []fleetv1alpha1.Wave{
			ringWave("canary", 5*time.Second, progressDeadline, oneAtATime),
			ringWave("early", 5*time.Second, progressDeadline, oneAtATime),
			ringWave("general", 5*time.Second, progressDeadline, oneAtATime,
				func(w *fleetv1alpha1.Wave) { w.Approval = fleetv1alpha1.ApprovalRequired }),
		},
		OnFailure: fleetv1alpha1.FailureRollback,
	})
	reference, crashed := webPromise("web-reference"), webPromise("web-crashed")
	for _, w := range []web{reference, crashed} {
		f.givenWebSite(w, "crash", "team-"+w.promise)
	}

	// The reference run, uninterrupted.
	began := time.Now()
	name := f.whenImageChanges(reference, webV2)
	f.thenRolloutAt(name, fleetv1alpha1.RolloutPhaseWaitingForApproval, "general", 2*time.Minute)
	f.whenApproved(name, "general", crashApprover)
	ro := f.thenRolloutPhase(name, fleetv1alpha1.RolloutPhaseSucceeded, 2*time.Minute)
	want := f.outcome(reference, ro)
	t.Logf("reference run: %s in %s", name, time.Since(began).Round(time.Millisecond))

	// The same change of the other Promise, with the hub killed meanwhile.
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("E2E_ROLLOUT_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("E2E_ROLLOUT_SEED: %v", err)
		}
	}
	t.Logf("kill schedule seed %d (E2E_ROLLOUT_SEED=%d replays it)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, seed)) //nolint:gosec // a replayable schedule, not security
	hubDown := false
	defer func() {
		if hubDown {
			_ = f.env.StartHub()
		}
	}()
	began = time.Now()
	name = f.whenImageChanges(crashed, webV2)
	f.thenRollout(name, "created", 30*time.Second, func(*fleetv1alpha1.Rollout) bool { return true })
	// Kill it until the rollout ends, up for 0.1–1.2s, down for 0–2s each
	// time, so that it dies in every part of its work, startup included.
	// The general wave is approved once ten kills landed in flight and the
	// rollout waits for it; the kills go on through that wave.
	inFlight, kills, approved := 0, 0, false
	var schedule []string
	for kills < 3*hubKills && !f.ended(name) {
		up := 100*time.Millisecond + time.Duration(rng.Int64N(int64(1100*time.Millisecond)))
		down := time.Duration(rng.Int64N(int64(2 * time.Second)))
		time.Sleep(up)
		phase := "not started"
		if ro := f.rollout(name); ro != nil {
			phase = string(ro.Status.Phase) + "/" + ro.Status.CurrentWave
			if !ro.Status.Phase.IsTerminal() {
				inFlight++
			}
		}
		kills++
		kill := kills
		if err := f.env.StopHub(); err != nil {
			t.Fatalf("kill %d: stopping the hub: %v", kill, err)
		}
		hubDown = true
		schedule = append(schedule, fmt.Sprintf("kill %d after %s up, at %s, down %s", kill, up.Round(time.Millisecond), phase, down.Round(time.Millisecond)))
		time.Sleep(down)
		if err := f.env.StartHub(); err != nil {
			t.Fatalf("kill %d: starting the hub: %v", kill, err)
		}
		hubDown = false
		if !approved && inFlight >= hubKills && waitingAt(f.rollout(name), "general") {
			f.whenApproved(name, "general", crashApprover)
			approved = true
		}
	}
	if !approved {
		f.thenRolloutAt(name, fleetv1alpha1.RolloutPhaseWaitingForApproval, "general", 2*time.Minute)
		f.whenApproved(name, "general", crashApprover)
	}
	t.Logf("%d kills, %d of them while the rollout was in flight:\n  %s", kills, inFlight, strings.Join(schedule, "\n  "))
	ro = f.thenRolloutPhase(name, fleetv1alpha1.RolloutPhaseSucceeded, 2*time.Minute)
	got := f.outcome(crashed, ro)
	t.Logf("interrupted run: %s in %s", name, time.Since(began).Round(time.Millisecond))
	if inFlight < hubKills {
		t.Errorf("only %d of %d kills landed while the rollout was in flight", inFlight, kills)
	}

	// The same outcome: phase, waves and their counts, percent, failures,
	// every cluster's rendered and applied revision.
	if got.summary != want.summary {
		t.Errorf("final state differs:\nreference:\n%s\ninterrupted:\n%s", want.summary, got.summary)
	}
	// The same path. A hub that is down for a whole bake finds the bake over
	// when it returns and records no Baking phase for that wave (bakes run on
	// the clock, not on the hub): the interrupted path may lack Baking steps
	// of the reference, and differ in nothing else.
	if !slices.Equal(got.path, want.path) {
		if !withoutBaking(want.path, got.path) {
			t.Errorf("history differs:\nreference:   %s\ninterrupted: %s", strings.Join(want.path, " | "), strings.Join(got.path, " | "))
		} else {
			t.Logf("history lacks Baking steps the hub slept through:\nreference:   %s\ninterrupted: %s",
				strings.Join(want.path, " | "), strings.Join(got.path, " | "))
		}
	}
	// No cluster admitted twice: each Work went from the old revision to the
	// new one once.
	for _, run := range []struct {
		w       web
		outcome rolloutOutcome
	}{{reference, want}, {crashed, got}} {
		for key, revs := range f.works.history(run.w.promise) {
			if !slices.Equal(revs, []string{run.outcome.from, run.outcome.target}) {
				t.Errorf("%s: Work %s rendered %v, want %s then %s once", run.w.promise, key, revs, run.outcome.from, run.outcome.target)
			}
		}
	}
	f.thenWebRuns("team-"+crashed.promise, "shop", webV2, 30*time.Second, allMembers...)
}

// crashApprover approves the last wave of both runs of the story.
const crashApprover = "e2e-release-manager"

// waitingAt reports whether a Rollout waits for the approval of a wave.
func waitingAt(ro *fleetv1alpha1.Rollout, wave string) bool {
	return ro != nil && ro.Status.Phase == fleetv1alpha1.RolloutPhaseWaitingForApproval && ro.Status.CurrentWave == wave
}

// ended reports whether a Rollout reached a terminal phase.
func (f *rolloutFleet) ended(name string) bool {
	ro := f.rollout(name)
	return ro != nil && ro.Status.Phase.IsTerminal()
}

func oneAtATime(w *fleetv1alpha1.Wave) { w.MaxConcurrency = ptrTo(intstr.FromInt32(1)) }

// rolloutOutcome is a finished Rollout and its Works, with revisions named
// "from" and "target" so that two Promises' runs compare.
type rolloutOutcome struct {
	from, target string
	summary      string
	// path is the history: each step's phase entered, wave and actor.
	path []string
}

func (f *rolloutFleet) outcome(w web, ro *fleetv1alpha1.Rollout) rolloutOutcome {
	f.t.Helper()
	o := rolloutOutcome{from: ro.Spec.FromRevision, target: ro.Spec.TargetRevision}
	rel := func(rev string) string {
		switch rev {
		case o.from:
			return "from"
		case o.target:
			return "target"
		}
		return rev
	}
	st := ro.Status
	var b strings.Builder
	fmt.Fprintf(&b, "phase=%s wave=%q %s on=%d%% failures=%d rollback=%s\n",
		st.Phase, st.CurrentWave, counts(st.Counts), st.PercentOnTarget, st.FailureCount, rel(st.RollbackRevision))
	for _, wv := range st.Waves {
		fmt.Fprintf(&b, "wave %s %s %v %s approval=%v\n", wv.Name, wv.Phase, wv.Clusters, counts(wv.Counts), wv.Approval != nil)
	}
	for _, fl := range st.Failures {
		fmt.Fprintf(&b, "failure %s %s %s\n", fl.Cluster, fl.Wave, fl.Reason)
	}
	revs := f.workRevisions(w, "team-"+w.promise, "shop")
	for _, m := range keys(revs) {
		fmt.Fprintf(&b, "%s renders %s, applied %s\n", m, rel(revs[m][0]), rel(revs[m][1]))
	}
	o.summary = b.String()
	o.path = pathOf(st.History)
	return o
}

// pathOf is the sequence of (phase, wave, actor) a history went through.
func pathOf(history []fleetv1alpha1.HistoryEntry) []string {
	var out []string
	for _, h := range history {
		out = append(out, fmt.Sprintf("%s %s by %s", h.To, h.Wave, h.Actor))
	}
	return out
}

// withoutBaking reports whether got is want with some Baking steps left out.
func withoutBaking(want, got []string) bool {
	i := 0
	for _, step := range want {
		if i < len(got) && got[i] == step {
			i++
			continue
		}
		if !strings.HasPrefix(step, string(fleetv1alpha1.RolloutPhaseBaking)+" ") {
			return false
		}
	}
	return i == len(got)
}
