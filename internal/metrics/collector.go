package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/fleetview"
	"github.com/flotilla-dev/flotilla/internal/fleetview/hubread"
)

// Labels are bounded. Availability, phase, state and action are enums;
// Promise names are what the platform team publishes. Revision names are
// those the Promise lists, bounded by revision garbage collection (a Promise
// keeps revisionHistoryLimit revisions plus those still in use), and a
// cluster counts under one of them, "(pending)", "(mixed)" or "(unknown)":
// its agent writes the applied revision, and any string it wrote would be a
// new series. Rollout names appear
// only while the Rollout is in flight, so they are bounded by the rollouts
// running at once. Never a cluster or instance name: drift is counted per
// Promise and state, and clusters with drift only as a number per state.
var (
	clustersDesc = prometheus.NewDesc("flotilla_clusters",
		"Member clusters by availability (Available, Offline, Unknown).", []string{"availability"}, nil)
	promiseClustersDesc = prometheus.NewDesc("flotilla_promise_clusters",
		"Clusters running a Promise, by the revision their Works applied; (pending) when none applied yet, (mixed) when they differ, (unknown) when the Promise does not list it.",
		[]string{"promise", "revision"}, nil)
	promiseClustersHealthyDesc = prometheus.NewDesc("flotilla_promise_clusters_healthy",
		"Clusters healthy on a Promise's revision (every Work of the Promise there healthy, the cluster Available: its agent heartbeats); flotilla_promise_clusters minus this is applied but not healthy.",
		[]string{"promise", "revision"}, nil)
	rolloutsDesc = prometheus.NewDesc("flotilla_rollouts",
		"Rollouts by phase, ended ones included, and whose they are (platform: a Promise's; team: an instance's).", []string{"phase", "owner"}, nil)
	rolloutPhaseDesc = prometheus.NewDesc("flotilla_rollout_phase",
		"1 for the phase a Rollout in flight is in, 0 for its other phases in flight.", []string{"namespace", "rollout", "phase"}, nil)
	rolloutWaveIndexDesc = prometheus.NewDesc("flotilla_rollout_wave_index",
		"Position (from 1) of the current wave of a Rollout in flight; 0 before its first wave.", []string{"namespace", "rollout"}, nil)
	rolloutWavesDesc = prometheus.NewDesc("flotilla_rollout_waves",
		"Waves of a Rollout in flight.", []string{"namespace", "rollout"}, nil)
	rolloutPercentDesc = prometheus.NewDesc("flotilla_rollout_percent_on_target",
		"Percentage of a Rollout's target clusters healthy on its target revision (Rollouts in flight).", []string{"namespace", "rollout"}, nil)
	rolloutClustersDesc = prometheus.NewDesc("flotilla_rollout_clusters",
		"Target clusters of a Rollout in flight by state (total, admitted, healthy, failed, pending, offline; unattributed: failing on something that is not the Rollout's change, never counted against it).",
		[]string{"namespace", "rollout", "state"}, nil)
	rolloutCheckVerdictsDesc = prometheus.NewDesc("flotilla_rollout_check_verdicts",
		"Verification checks of the current wave of a Rollout in flight: for a per-cluster check the clusters by verdict (Pending, Passing, Passed, Failed, Inconclusive), for a whole-wave or skipped one 1 for its verdict (Skipped too). Wave and check names are the strategy's, bounded.",
		[]string{"namespace", "rollout", "wave", "check", "verdict"}, nil)
	freezeActiveDesc = prometheus.NewDesc("flotilla_freeze_active",
		"FleetFreezes in force, by action (Halt, Rollback).", []string{"action"}, nil)
	driftResourcesDesc = prometheus.NewDesc("flotilla_drift_resources",
		"Drifted resources the agents report, by Promise and state (Unexplained, Accepted).", []string{"promise", "state"}, nil)
	driftClustersDesc = prometheus.NewDesc("flotilla_drift_clusters",
		"Clusters with any drifted resource in a state (Unexplained, Accepted).", []string{"state"}, nil)
)

// collectTimeout bounds the cache reads of one scrape.
const collectTimeout = 10 * time.Second

// collector reports the fleet gauges from the manager's cache at scrape
// time: always consistent with the API, and no state of its own to keep.
type collector struct {
	reader  client.Reader
	clock   clock.PassiveClock
	elected <-chan struct{}
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{clustersDesc, promiseClustersDesc, promiseClustersHealthyDesc, rolloutsDesc, rolloutPhaseDesc,
		rolloutWaveIndexDesc, rolloutWavesDesc, rolloutPercentDesc, rolloutClustersDesc, rolloutCheckVerdictsDesc, freezeActiveDesc,
		driftResourcesDesc, driftClustersDesc} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	select {
	case <-c.elected:
	default:
		return // a standby replica: the leader reports the fleet
	}
	ctx, cancel := context.WithTimeout(context.Background(), collectTimeout)
	defer cancel()
	// The gauges count drift; they need no DriftException (nor does the
	// hub's cache have to hold them).
	s, err := hubread.Read(ctx, c.reader, c.clock.Now(), hubread.Options{FromCache: true, SkipDriftExceptions: true})
	if err != nil {
		ch <- prometheus.NewInvalidMetric(clustersDesc, err)
		return
	}
	fleetMetrics(s, func(m prometheus.Metric) { ch <- m })
}

// fleetMetrics computes the gauges of a snapshot. Clusters, revisions,
// freezes and drift come from fleetview, so the metrics, `flotilla status`
// and `flotilla drift` agree.
func fleetMetrics(s fleetview.Snapshot, emit func(prometheus.Metric)) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		emit(prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...))
	}
	v := fleetview.Build(s)
	gauge(clustersDesc, float64(v.Clusters.Available), string(fleetv1alpha1.ClusterAvailabilityAvailable))
	gauge(clustersDesc, float64(v.Clusters.Offline), string(fleetv1alpha1.ClusterAvailabilityOffline))
	gauge(clustersDesc, float64(v.Clusters.Unknown), string(fleetv1alpha1.ClusterAvailabilityUnknown))
	known := knownRevisions(s.Promises)
	for _, p := range v.Promises {
		type count struct{ clusters, healthy int }
		byLabel := map[string]*count{}
		for _, r := range p.Revisions {
			label := r.Revision
			if !known[p.Name][label] && label != fleetview.RevisionPending && label != fleetview.RevisionMixed {
				label = RevisionUnknown
			}
			if byLabel[label] == nil {
				byLabel[label] = &count{}
			}
			byLabel[label].clusters += r.Clusters
			byLabel[label].healthy += r.Healthy
		}
		for label, n := range byLabel {
			gauge(promiseClustersDesc, float64(n.clusters), p.Name, label)
			gauge(promiseClustersHealthyDesc, float64(n.healthy), p.Name, label)
		}
	}

	freezes := map[fleetv1alpha1.FreezeAction]int{fleetv1alpha1.FreezeHalt: 0, fleetv1alpha1.FreezeRollback: 0}
	for _, f := range v.Freezes {
		action := f.Action
		if action == "" {
			action = fleetv1alpha1.FreezeHalt
		}
		freezes[action]++
	}
	for action, n := range freezes {
		gauge(freezeActiveDesc, float64(n), string(action))
	}

	driftMetrics(&v, gauge)

	type ownPhase struct {
		phase fleetv1alpha1.RolloutPhase
		owner Owner
	}
	byPhase := map[ownPhase]int{}
	for i := range s.Rollouts {
		ro := &s.Rollouts[i]
		phase := phaseOf(ro)
		byPhase[ownPhase{phase, OwnerOf(ro)}]++
		if !phase.IsTerminal() {
			rolloutMetrics(ro, phase, gauge)
		}
	}
	for _, o := range Owners {
		for _, p := range Phases {
			gauge(rolloutsDesc, float64(byPhase[ownPhase{p, o}]), string(p), string(o))
		}
	}
}

// RevisionUnknown is the revision label of clusters whose agent reports a
// revision their Promise does not list.
const RevisionUnknown = "(unknown)"

// knownRevisions are, per Promise, the revisions its status lists.
func knownRevisions(promises []fleetv1alpha1.Promise) map[string]map[string]bool {
	known := make(map[string]map[string]bool, len(promises))
	for i := range promises {
		p := &promises[i]
		revs := map[string]bool{}
		if p.Status.LatestRevision != "" {
			revs[p.Status.LatestRevision] = true
		}
		for _, r := range p.Status.Revisions {
			revs[r.Name] = true
		}
		known[p.Name] = revs
	}
	return known
}

// phaseOf is a Rollout's phase; one not planned yet is Pending.
func phaseOf(ro *fleetv1alpha1.Rollout) fleetv1alpha1.RolloutPhase {
	if ro.Status.Phase == "" {
		return fleetv1alpha1.RolloutPhasePending
	}
	return ro.Status.Phase
}

// rolloutMetrics are the gauges of one Rollout in flight.
func rolloutMetrics(ro *fleetv1alpha1.Rollout, phase fleetv1alpha1.RolloutPhase, gauge func(*prometheus.Desc, float64, ...string)) {
	ns, name := ro.Namespace, ro.Name
	for _, p := range Phases {
		if p.IsTerminal() {
			continue
		}
		v := 0.0
		if p == phase {
			v = 1
		}
		gauge(rolloutPhaseDesc, v, ns, name, string(p))
	}
	index := 0
	for i, w := range ro.Status.Waves {
		if w.Name == ro.Status.CurrentWave {
			index = i + 1
			break
		}
	}
	gauge(rolloutWaveIndexDesc, float64(index), ns, name)
	gauge(rolloutWavesDesc, float64(len(ro.Status.Waves)), ns, name)
	gauge(rolloutPercentDesc, float64(ro.Status.PercentOnTarget), ns, name)
	c := ro.Status.Counts
	for _, s := range []struct {
		state string
		n     int32
	}{{"total", c.Total}, {"admitted", c.Admitted}, {"healthy", c.Healthy}, {"failed", c.Failed}, {"pending", c.Pending}, {"offline", c.Offline},
		{"unattributed", ro.Status.UnattributedFailureCount}} {
		gauge(rolloutClustersDesc, float64(s.n), ns, name, s.state)
	}
	for _, w := range ro.Status.Waves {
		if w.Name == ro.Status.CurrentWave {
			checkMetrics(ns, name, w, gauge)
		}
	}
}

// checkVerdicts are the verdicts a check reports on, in order.
var checkVerdicts = []fleetv1alpha1.CheckVerdict{fleetv1alpha1.CheckPending, fleetv1alpha1.CheckPassing,
	fleetv1alpha1.CheckPassed, fleetv1alpha1.CheckFailed, fleetv1alpha1.CheckInconclusive}

// checkMetrics are the gauges of the checks of one wave.
func checkMetrics(ns, name string, w fleetv1alpha1.WaveStatus, gauge func(*prometheus.Desc, float64, ...string)) {
	for _, c := range w.Checks {
		if c.Scope == fleetv1alpha1.CheckWholeWave || c.Verdict == fleetv1alpha1.CheckSkipped {
			for _, v := range append(checkVerdicts, fleetv1alpha1.CheckSkipped) {
				one := 0.0
				if v == c.Verdict || (c.Verdict == "" && v == fleetv1alpha1.CheckPending) {
					one = 1
				}
				gauge(rolloutCheckVerdictsDesc, one, ns, name, w.Name, c.Name, string(v))
			}
			continue
		}
		n := c.Counts
		for i, v := range []int32{n.Pending, n.Passing, n.Passed, n.Failed, n.Inconclusive} {
			gauge(rolloutCheckVerdictsDesc, float64(v), ns, name, w.Name, c.Name, string(checkVerdicts[i]))
		}
	}
}

// driftMetrics are the drift gauges: per Promise (every Promise, so a series
// that falls to 0 stays) and state, and the clusters with drift per state.
func driftMetrics(v *fleetview.View, gauge func(*prometheus.Desc, float64, ...string)) {
	promises := map[string]fleetview.DriftCounts{}
	for _, p := range v.Promises {
		promises[p.Name] = fleetview.DriftCounts{}
	}
	for _, p := range v.Drift.Promises {
		promises[p.Promise] = p.Resources
	}
	for name, c := range promises {
		gauge(driftResourcesDesc, float64(c.Unexplained), name, string(fleetv1alpha1.DriftUnexplained))
		gauge(driftResourcesDesc, float64(c.Accepted), name, string(fleetv1alpha1.DriftAccepted))
	}
	gauge(driftClustersDesc, float64(v.Drift.Clusters.Unexplained), string(fleetv1alpha1.DriftUnexplained))
	gauge(driftClustersDesc, float64(v.Drift.Clusters.Accepted), string(fleetv1alpha1.DriftAccepted))
}
