package rollout_test

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/rollout/simulate"
)

// FuzzPlanInvariants plays random scenarios (random strategy, fleet,
// failures, outages, approvals, pauses, rollbacks, freezes) through the
// simulator, which checks the engine's invariants at every step: no more in
// flight than maxConcurrency, no wave before the previous one baked and was
// approved, never going on over a failure budget, rollback only to the
// recorded revision, no cluster admitted twice to a revision, determinism
// and healing after a crash. `go test` runs the seeds; `go test -fuzz
// FuzzPlanInvariants ./internal/rollout` searches further.
func FuzzPlanInvariants(f *testing.F) {
	for seed := range uint64(64) {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, seed uint64) {
		s := randomScenario(seed)
		if _, err := simulate.Run(s, simulate.Options{Check: true, NoTrace: true}); err != nil {
			out, _ := yaml.Marshal(s)
			t.Fatalf("seed %d: %v\nscenario:\n%s", seed, err, out)
		}
	})
}

// randomScenario builds a scenario from a seed.
func randomScenario(seed uint64) simulate.Scenario {
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	pick := func(xs ...string) string { return xs[r.IntN(len(xs))] }
	dur := func(ds ...time.Duration) *metav1.Duration { return &metav1.Duration{Duration: ds[r.IntN(len(ds))]} }

	s := simulate.Scenario{
		Rollout: fleetv1alpha1.RolloutSpec{FromRevision: "r1", TargetRevision: "r2"},
		Strategy: fleetv1alpha1.RolloutStrategySpec{
			OnFailure:     fleetv1alpha1.FailureAction(pick("Halt", "Rollback")),
			OfflinePolicy: fleetv1alpha1.OfflinePolicy(pick("Wait", "Skip", "CountAsFailure")),
			Immediate: &fleetv1alpha1.ImmediatePolicy{
				MaxConcurrency: ptr(intstr.Parse(pick("1", "3", "50%", "100%"))),
				MaxFailures:    ptr(intstr.Parse(pick("0", "1", "10%", "30%"))),
			},
		},
		Fleet: simulate.Fleet{
			Jitter: metav1.Duration{Duration: time.Duration(r.IntN(60)) * time.Second},
			Seed:   seed + 1,
		},
		Until: metav1.Duration{Duration: 8 * time.Hour},
	}
	if r.IntN(10) == 0 {
		s.Rollout.FromRevision = ""
	}
	switch r.IntN(7) {
	case 0:
		s.Rollout.UpdatePolicy = fleetv1alpha1.UpdatePolicy{Mode: fleetv1alpha1.UpdateModeImmediate, Reason: "fuzz"}
	case 1:
		s.Rollout.UpdatePolicy = fleetv1alpha1.UpdatePolicy{Mode: fleetv1alpha1.UpdateModeDeadline,
			Deadline: ptr(metav1.NewTime(simulate.Start().Add(time.Duration(r.IntN(90)) * time.Minute)))}
	}

	nWaves := 1 + r.IntN(4)
	waveNames := []string{fleetv1alpha1.ImplicitWaveName}
	for i := range nWaves {
		name := fmt.Sprintf("w%d", i)
		waveNames = append(waveNames, name)
		w := fleetv1alpha1.Wave{
			Name:             name,
			Selector:         &fleetv1alpha1.WaveSelector{MatchLabels: map[string]string{"ring": name}},
			MaxConcurrency:   ptr(intstr.Parse(pick("1", "2", "3", "25%", "50%", "100%"))),
			MaxFailures:      ptr(intstr.Parse(pick("0", "0", "1", "2", "10%", "50%"))),
			BakeTime:         dur(0, 0, time.Minute, 5*time.Minute),
			ProgressDeadline: dur(2*time.Minute, 5*time.Minute, 10*time.Minute),
		}
		if r.IntN(4) == 0 {
			w.Approval = fleetv1alpha1.ApprovalRequired
		}
		if i == nWaves-1 && r.IntN(2) == 0 {
			w.Selector = nil
		}
		if r.IntN(3) == 0 {
			w.Checks = []fleetv1alpha1.Check{randomCheck(r, "wave-check")}
		}
		s.Strategy.Waves = append(s.Strategy.Waves, w)
	}

	if r.IntN(2) == 0 {
		s.Strategy.Checks = []fleetv1alpha1.Check{randomCheck(r, "error-rate")}
	}
	if r.IntN(8) == 0 {
		s.PromiseChecks = []fleetv1alpha1.Check{randomCheck(r, "error-rate")}
	}

	var clusterNames []string
	for i := range 1 + r.IntN(30) {
		name := fmt.Sprintf("c%02d", i)
		clusterNames = append(clusterNames, name)
		g := simulate.ClusterGroup{Names: []string{name}, Labels: map[string]string{"ring": pick(waveNames[1:]...)}}
		if r.IntN(6) == 0 {
			g.Labels = nil
		}
		switch r.IntN(10) {
		case 0:
			g.Behaviour = simulate.Bad
		case 1:
			g.Behaviour = simulate.Stuck
		}
		g.Offline = r.IntN(10) == 0
		switch r.IntN(12) {
		case 0:
			g.Metric = simulate.MetricFailing
		case 1:
			g.Metric = simulate.MetricUnreachable
		}
		s.Clusters = append(s.Clusters, g)
	}

	for range r.IntN(12) {
		st := simulate.Step{At: metav1.Duration{Duration: time.Duration(r.IntN(120*60)) * time.Second}, By: pick("alice", "bob", "")}
		switch r.IntN(13) {
		case 0, 1, 2:
			st.Cluster = pick(clusterNames...)
			st.Do = simulate.Action(pick("Fail", "Flap", "Heal", "Offline", "Online", "Adopt", "StrayFail", "StrayFail", "StrayHeal",
				"MetricFail", "MetricPass", "MetricInconclusive"))
		case 12:
			ref := &simulate.CheckRef{Wave: pick(waveNames...), Check: pick("error-rate", "wave-check")}
			if r.IntN(2) == 0 {
				st.RerunCheck = ref
			} else {
				st.SkipCheck, st.Message = ref, "fuzz"
			}
		case 3, 4:
			st.Approve = pick(waveNames...)
		case 5:
			st.DesiredState = fleetv1alpha1.RolloutDesiredState(pick("Paused", "Running", "Running", "Aborted"))
		case 6:
			st.Rollback = &fleetv1alpha1.RollbackRequest{ToRevision: pick("", "r0", simulate.MissingRevisionPrefix+"r9")}
		case 7:
			st.Freeze = &simulate.Freeze{Name: "f", Action: fleetv1alpha1.FreezeAction(pick("Halt", "Rollback")), Reason: "fuzz"}
		case 8, 9:
			st.Unfreeze = true
		case 10:
			if r.IntN(2) == 0 || s.Rollout.UpdatePolicy.Mode != "" {
				st.SupersededBy = "next"
			} else {
				st.Mode, st.Message = fleetv1alpha1.UpdateModeImmediate, "escalated"
			}
		default:
			st.DesiredState, st.At.Duration = fleetv1alpha1.RolloutRunning, st.At.Duration/2
		}
		s.Script = append(s.Script, st)
	}
	return s
}

// randomCheck is a hub metric check with random limits, scope and timing.
func randomCheck(r *rand.Rand, name string) fleetv1alpha1.Check {
	c := fleetv1alpha1.Check{
		Name:              name,
		Metric:            &fleetv1alpha1.MetricCheck{Address: "http://prometheus:9090", Query: `errors{cluster="{{ .Cluster }}"}`},
		Condition:         "result[0] < 0.05",
		Interval:          &metav1.Duration{Duration: []time.Duration{30 * time.Second, time.Minute, 3 * time.Minute}[r.IntN(3)]},
		FailureLimit:      int32(r.IntN(2)),
		InconclusiveLimit: int32(r.IntN(3)),
		When:              []fleetv1alpha1.CheckWhen{"", fleetv1alpha1.CheckDuringBake, fleetv1alpha1.CheckDuringProgress, fleetv1alpha1.CheckAlways}[r.IntN(4)],
	}
	if r.IntN(3) == 0 {
		c.Scope = fleetv1alpha1.CheckWholeWave
	}
	return c
}
