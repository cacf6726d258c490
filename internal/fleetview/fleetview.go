// Package fleetview answers the question a platform engineer asks during a
// release — what share of the fleet runs which revision, where did it fail
// and why, what drifted — from lists of the hub's objects. It is pure: `flotilla status`
// and the dashboard read a Snapshot from the hub and call Build; both show
// the same numbers because they share this package.
package fleetview

import (
	"cmp"
	"math"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/rollup"
)

// MaxFailures bounds View.Failures; View.FailureCount tells how many there are.
const MaxFailures = 50

// MaxFinishedRollouts bounds how many finished Rollouts a View keeps (the
// last to finish first), so a release's outcome stays visible for a while
// after it ends.
const MaxFinishedRollouts = 5

// Revision buckets for clusters that don't run one revision of a Promise.
const (
	// RevisionPending: no Work of the Promise on the cluster was applied yet.
	RevisionPending = "(pending)"
	// RevisionMixed: the cluster's Works of the Promise run different revisions.
	RevisionMixed = "(mixed)"
)

// Health is a cluster's state in the fleet grid.
type Health string

const (
	HealthHealthy     Health = "Healthy"
	HealthFailed      Health = "Failed"
	HealthProgressing Health = "Progressing"
	HealthOffline     Health = "Offline"
	// HealthIdle: the cluster is reachable and runs no Work.
	HealthIdle Health = "Idle"
	// HealthHidden: the reader may not list Works, so what the cluster runs
	// and how it does is unknown (never Idle: it may run anything).
	HealthHidden Health = "Hidden"
)

// Snapshot is what a View is built from: the hub's objects as the reader may
// see them, and the time they were read. Hidden names what the reader may not
// list (Kubernetes RBAC decides), so a View can say what it leaves out.
type Snapshot struct {
	Now      time.Time
	Clusters []fleetv1alpha1.Cluster
	Works    []fleetv1alpha1.Work
	Rollouts []fleetv1alpha1.Rollout
	Promises []fleetv1alpha1.Promise
	Freezes  []fleetv1alpha1.FleetFreeze
	// DriftExceptions name the owner, reason and expiry of accepted drift.
	DriftExceptions []fleetv1alpha1.DriftException
	Hidden          []string
}

// View is the fleet roll-up.
type View struct {
	GeneratedAt time.Time     `json:"generatedAt"`
	Clusters    ClusterCounts `json:"clusters"`
	// Tiles has one entry per cluster, by name.
	Tiles    []ClusterTile `json:"tiles"`
	Promises []PromiseView `json:"promises"`
	// Rollouts are the ones in flight, the platform's then the teams',
	// each oldest first, then up to
	// MaxFinishedRollouts finished ones, the last to finish first, then each
	// Promise's platform Rollout that finished last if those leave it out.
	Rollouts []RolloutView `json:"rollouts"`
	// Failures are failing Works, at most MaxFailures, each owner and each
	// cluster in turn (takingTurns).
	Failures     []Failure `json:"failures"`
	FailureCount int       `json:"failureCount"`
	Offline      []Offline `json:"offline"`
	// Freezes are the FleetFreezes in force.
	Freezes []Freeze `json:"freezes"`
	// Drift is drift across the fleet, its list bounded by MaxDriftItems.
	Drift Drift `json:"drift"`
	// Hidden names what the reader was not allowed to list.
	Hidden []string `json:"hidden,omitempty"`
	// Visibility says, per list, how much the reader saw: a count built from
	// a hidden list (FailureCount without Works, Clusters without Clusters,
	// Drift without Works) is unknown, not zero.
	Visibility Visibility `json:"visibility"`
}

// ClusterCounts counts clusters by availability.
type ClusterCounts struct {
	Total     int `json:"total"`
	Available int `json:"available"`
	Offline   int `json:"offline"`
	Unknown   int `json:"unknown"`
}

// ClusterTile is one cluster in the fleet grid.
type ClusterTile struct {
	Name         string            `json:"name"`
	Labels       map[string]string `json:"labels,omitempty"`
	Availability string            `json:"availability"`
	Health       Health            `json:"health"`
	// Revisions maps each Promise on the cluster to the revision it runs
	// there (or RevisionPending / RevisionMixed).
	Revisions map[string]string `json:"revisions,omitempty"`
	Works     int               `json:"works"`
	Failed    int               `json:"failed"`
	// WorksHidden: the reader may not list Works, so Works, Failed and
	// Revisions are unknown rather than zero.
	WorksHidden bool `json:"worksHidden,omitempty"`
	// Reason says why the cluster is Failed or Offline.
	Reason string `json:"reason,omitempty"`
	// Rollout and Wave name the in-flight Rollout and its wave the cluster
	// belongs to, if any: the newest of the platform's (clusterWaves), else
	// the newest of a team's.
	Rollout string `json:"rollout,omitempty"`
	Wave    string `json:"wave,omitempty"`
}

// PromiseView is one Promise's version distribution over clusters.
type PromiseView struct {
	Name           string `json:"name"`
	LatestRevision string `json:"latestRevision,omitempty"`
	Instances      int32  `json:"instances"`
	// Clusters counts the clusters that run at least one Work of the Promise.
	Clusters  int             `json:"clusters"`
	Revisions []RevisionShare `json:"revisions"`
}

// RevisionShare is how many of a Promise's clusters run one revision, and
// how many of them are healthy on it: a revision counts as reached where it
// is healthy, not merely applied.
type RevisionShare struct {
	Revision string `json:"revision"`
	// Clusters whose Works of the Promise applied this revision.
	Clusters int `json:"clusters"`
	// Healthy of them: every Work of the Promise there is healthy, and the
	// cluster is Available (its agent heartbeats).
	Healthy int `json:"healthy"`
	// NotHealthy of them: applied but failing, converging or offline.
	NotHealthy int `json:"notHealthy"`
	// Percent of the Promise's clusters healthy on this revision.
	Percent float64 `json:"percent"`
	// NotHealthyPercent of the Promise's clusters that applied it but are not healthy.
	NotHealthyPercent float64 `json:"notHealthyPercent"`
	Latest            bool    `json:"latest,omitempty"`
}

// RolloutView is a Rollout's progress, wave by wave. Every number is the
// Rollout's status as the hub wrote it (counts, percentOnTarget, failures),
// so the CLI, the dashboard and the metrics show the same figures.
type RolloutView struct {
	Namespace      string                     `json:"namespace"`
	Name           string                     `json:"name"`
	Promise        string                     `json:"promise"`
	Instance       string                     `json:"instance,omitempty"`
	FromRevision   string                     `json:"fromRevision,omitempty"`
	TargetRevision string                     `json:"targetRevision"`
	Phase          fleetv1alpha1.RolloutPhase `json:"phase"`
	// Outcome is the phase, except that a Rollout that Succeeded with
	// clusters not healthy on the target (condition Degraded) is
	// SucceededWithFailures.
	Outcome         string                      `json:"outcome"`
	Finished        bool                        `json:"finished"`
	CurrentWave     string                      `json:"currentWave,omitempty"`
	PercentOnTarget int32                       `json:"percentOnTarget"`
	Counts          fleetv1alpha1.RolloutCounts `json:"counts"`
	Waves           []WaveView                  `json:"waves"`
	// Failures and FailureCount are the clusters counted as failed; once a
	// rollback started (RollbackRevision set), the failures that led to it,
	// while Counts.Failed stays the clusters failed on the target now.
	Failures     []fleetv1alpha1.ClusterFailure `json:"failures,omitempty"`
	FailureCount int32                          `json:"failureCount"`
	// UnattributedFailures are failures on its clusters that are not the
	// Rollout's (another revision, an instance it did not move): shown,
	// never counted.
	UnattributedFailures     []fleetv1alpha1.ClusterFailure `json:"unattributedFailures,omitempty"`
	UnattributedFailureCount int32                          `json:"unattributedFailureCount"`
	// AwaitingApproval names the wave waiting for a person, if any.
	AwaitingApproval string     `json:"awaitingApproval,omitempty"`
	StartedAt        *time.Time `json:"startedAt,omitempty"`
	CompletedAt      *time.Time `json:"completedAt,omitempty"`
	// Message is the Ready condition's message: why it is where it is.
	Message string `json:"message,omitempty"`
	// RollbackRevision is where a rollback took (or takes) the clusters;
	// set, Failures are those that led to the rollback.
	RollbackRevision string `json:"rollbackRevision,omitempty"`
}

// WaveView is one wave's progress.
type WaveView struct {
	Name     string                      `json:"name"`
	Phase    fleetv1alpha1.WavePhase     `json:"phase"`
	Clusters []string                    `json:"clusters,omitempty"`
	Counts   fleetv1alpha1.RolloutCounts `json:"counts"`
	Approval *fleetv1alpha1.ChangeRecord `json:"approval,omitempty"`
	// Checks are the wave's verification checks: verdict, clusters by
	// verdict and the message (the value, the condition and when).
	Checks []CheckView `json:"checks,omitempty"`
}

// CheckView is one verification check of a wave.
type CheckView struct {
	Name    string                     `json:"name"`
	Verdict fleetv1alpha1.CheckVerdict `json:"verdict"`
	Scope   fleetv1alpha1.CheckScope   `json:"scope,omitempty"`
	Counts  fleetv1alpha1.CheckCounts  `json:"counts"`
	Message string                     `json:"message,omitempty"`
	// Run counts the re-runs acted on.
	Run     int32                       `json:"run,omitempty"`
	Skipped *fleetv1alpha1.ChangeRecord `json:"skipped,omitempty"`
}

// Failure is one failing Work.
type Failure struct {
	Cluster  string `json:"cluster"`
	Promise  string `json:"promise"`
	Instance string `json:"instance,omitempty"`
	Work     string `json:"work"`
	Revision string `json:"revision"`
	Reason   string `json:"reason"`
	Message  string `json:"message,omitempty"`
}

// Offline is a cluster whose agent stopped heartbeating.
type Offline struct {
	Cluster       string     `json:"cluster"`
	LastHeartbeat *time.Time `json:"lastHeartbeat,omitempty"`
	Reason        string     `json:"reason,omitempty"`
}

// Freeze is a FleetFreeze in force.
type Freeze struct {
	Name     string                     `json:"name"`
	Action   fleetv1alpha1.FreezeAction `json:"action"`
	Reason   string                     `json:"reason"`
	FrozenBy string                     `json:"frozenBy,omitempty"`
	Until    *time.Time                 `json:"until,omitempty"`
	Held     int32                      `json:"held"`
}

// Build rolls a Snapshot up into a View. The result depends only on the
// snapshot, not on the order of its lists.
func Build(s Snapshot) View {
	v := View{
		GeneratedAt: s.Now,
		Tiles:       []ClusterTile{},
		Promises:    []PromiseView{},
		Rollouts:    []RolloutView{},
		Failures:    []Failure{},
		Offline:     []Offline{},
		Freezes:     []Freeze{},
		Hidden:      slices.Sorted(slices.Values(s.Hidden)),
		Visibility:  visibility(s.Hidden),
	}
	worksByCluster := map[string][]*fleetv1alpha1.Work{}
	for i := range s.Works {
		w := &s.Works[i]
		worksByCluster[w.Spec.Cluster] = append(worksByCluster[w.Spec.Cluster], w)
	}
	rollouts := sortedRollouts(s.Rollouts)
	waveOf := clusterWaves(rollouts)

	var failures []Failure
	healthy := map[string]map[string]bool{} // cluster → promise → healthy
	for i := range s.Clusters {
		c := &s.Clusters[i]
		tile, fs := buildTile(c, worksByCluster[c.Name], v.Visibility.Works.Known())
		healthy[c.Name] = promiseHealth(c, worksByCluster[c.Name])
		if w, ok := waveOf[c.Name]; ok {
			tile.Rollout, tile.Wave = w.rollout, w.wave
		}
		v.Tiles = append(v.Tiles, tile)
		failures = append(failures, fs...)
		switch c.Status.Availability {
		case fleetv1alpha1.ClusterAvailabilityAvailable:
			v.Clusters.Available++
		case fleetv1alpha1.ClusterAvailabilityOffline:
			v.Clusters.Offline++
			v.Offline = append(v.Offline, Offline{
				Cluster:       c.Name,
				LastHeartbeat: timePtr(c.Status.LastHeartbeatTime),
				Reason:        tile.Reason,
			})
		default:
			v.Clusters.Unknown++
		}
	}
	v.Clusters.Total = len(s.Clusters)
	slices.SortFunc(v.Tiles, func(a, b ClusterTile) int { return cmp.Compare(a.Name, b.Name) })
	slices.SortFunc(v.Offline, func(a, b Offline) int { return cmp.Compare(a.Cluster, b.Cluster) })

	failures = takingTurns(failures)
	v.FailureCount = len(failures)
	if len(failures) > MaxFailures {
		failures = failures[:MaxFailures]
	}
	v.Failures = append(v.Failures, failures...)

	v.Promises = buildPromises(s.Promises, v.Tiles, healthy)
	v.Rollouts = buildRollouts(rollouts)
	v.Freezes = buildFreezes(s.Freezes, s.Now)
	v.Drift = BuildDrift(s, DriftFilter{}, MaxDriftItems)
	return v
}

// takingTurns orders failures by cluster and Work, each owner and each
// cluster in turn (inTurns).
func takingTurns(failures []Failure) []Failure {
	slices.SortFunc(failures, func(a, b Failure) int {
		return cmp.Or(cmp.Compare(a.Cluster, b.Cluster), cmp.Compare(a.Work, b.Work))
	})
	return inTurns(failures, func(f Failure) string { return f.Instance }, func(f Failure) string { return f.Cluster })
}

// inTurns reorders items, given in the order to show them, so that neither
// one owner nor one cluster fills a bounded list. A team chooses how many of
// its instances fail or drift; a cluster's agent can fail or report drift on
// every Work of its cluster, and dates its drift as it likes. An owner's
// items take turns by cluster, a cluster's by owner (the platform's first:
// a Promise's fleet resources, and instances in its namespace); an item's
// round is the later of its turn among its owner's and among its cluster's,
// and the list goes round by round, the platform first in each, then the
// owners with the fewest shown. instance names an item's instance,
// namespace/name ("" for fleet resources); cluster its cluster.
func inTurns[T any](items []T, instance, cluster func(T) string) []T {
	type turn struct {
		item                   T
		owner, cluster         string
		pos, group             int // its place in items, and among those of its owner on its cluster
		team                   int // 0 for the platform's, 1 for a team's: the platform goes first
		ownerTurn, clusterTurn int
	}
	turns := make([]*turn, len(items))
	groups := map[[2]string]int{} // owner, cluster → items so far
	for i, it := range items {
		owner, _, _ := strings.Cut(instance(it), "/")
		team := 1
		if owner == "" || owner == fleetv1alpha1.PlatformNamespace {
			owner, team = fleetv1alpha1.PlatformNamespace, 0
		}
		key := [2]string{owner, cluster(it)}
		turns[i] = &turn{item: it, owner: owner, cluster: key[1], pos: i, group: groups[key], team: team}
		groups[key]++
	}
	// rank sets each item's turn among those sharing its key, in the order by.
	rank := func(key func(*turn) string, by func(a, b *turn) int, set func(*turn, int)) {
		sorted := slices.Clone(turns)
		slices.SortFunc(sorted, func(a, b *turn) int { return cmp.Or(cmp.Compare(key(a), key(b)), by(a, b)) })
		n := 0
		for i, t := range sorted {
			if i > 0 && key(sorted[i-1]) != key(t) {
				n = 0
			}
			set(t, n)
			n++
		}
	}
	rank(func(t *turn) string { return t.owner }, func(a, b *turn) int {
		return cmp.Or(cmp.Compare(a.group, b.group), cmp.Compare(a.pos, b.pos))
	}, func(t *turn, n int) { t.ownerTurn = n })
	rank(func(t *turn) string { return t.cluster }, func(a, b *turn) int {
		return cmp.Or(cmp.Compare(a.group, b.group), cmp.Compare(a.team, b.team), cmp.Compare(a.pos, b.pos))
	}, func(t *turn, n int) { t.clusterTurn = n })
	slices.SortFunc(turns, func(a, b *turn) int {
		return cmp.Or(cmp.Compare(max(a.ownerTurn, a.clusterTurn), max(b.ownerTurn, b.clusterTurn)),
			cmp.Compare(a.team, b.team), cmp.Compare(a.ownerTurn, b.ownerTurn), cmp.Compare(a.pos, b.pos))
	})
	for i := range turns {
		items[i] = turns[i].item
	}
	return items
}

// buildTile judges one cluster from its Works, and lists its failing ones.
// worksKnown is false when the reader may not list Works: the cluster's own
// status still says Offline or a mode mismatch; the rest is Hidden.
func buildTile(c *fleetv1alpha1.Cluster, works []*fleetv1alpha1.Work, worksKnown bool) (ClusterTile, []Failure) {
	tile := ClusterTile{
		Name:         c.Name,
		Labels:       c.Labels,
		Availability: string(c.Status.Availability),
		Works:        len(works),
		WorksHidden:  !worksKnown,
	}
	if tile.Availability == "" {
		tile.Availability = string(fleetv1alpha1.ClusterAvailabilityUnknown)
	}
	var failures []Failure
	progressing := 0
	applied := map[string]map[string]bool{} // promise → applied revisions
	for _, w := range works {
		state, isApplied := rollup.Classify(w)
		promise := w.Spec.Subject.Promise
		if applied[promise] == nil {
			applied[promise] = map[string]bool{}
		}
		rev := w.Status.AppliedRevision
		if !isApplied && rev == "" {
			rev = RevisionPending
		}
		applied[promise][rev] = true
		switch state {
		case rollup.StateFailed:
			tile.Failed++
			f := rollup.Explain(w)
			failures = append(failures, Failure{
				Cluster: c.Name, Promise: promise, Instance: instanceName(w),
				Work: w.Name, Revision: f.Revision, Reason: f.Reason, Message: f.Message,
			})
		case rollup.StateProgressing:
			progressing++
		}
	}
	if len(applied) > 0 {
		tile.Revisions = map[string]string{}
		for promise, revs := range applied {
			tile.Revisions[promise] = onlyRevision(revs)
		}
	}
	mismatch := agentModeMismatch(c)
	switch {
	case c.Status.Availability == fleetv1alpha1.ClusterAvailabilityOffline:
		tile.Health = HealthOffline
		if cond := meta.FindStatusCondition(c.Status.Conditions, fleetv1alpha1.ConditionOffline); cond != nil {
			tile.Reason = cond.Message
		}
	case mismatch != "":
		// Its agent cannot deliver what the Works ask (see clusters.md).
		tile.Health = HealthFailed
		tile.Reason = mismatch
	case !worksKnown:
		tile.Health = HealthHidden
		tile.Reason = "your credentials may not list Works"
	case tile.Failed > 0:
		tile.Health = HealthFailed
		tile.Reason = failures[0].Reason
	case progressing > 0:
		tile.Health = HealthProgressing
	case len(works) == 0:
		tile.Health = HealthIdle
	case c.Status.Availability != fleetv1alpha1.ClusterAvailabilityAvailable:
		// Its agent does not heartbeat (Unknown): its Works' reports are
		// not current, so it is not Healthy on them (as promiseHealth).
		tile.Health = HealthProgressing
		if cond := meta.FindStatusCondition(c.Status.Conditions, fleetv1alpha1.ConditionAvailable); cond != nil {
			tile.Reason = cond.Message
		}
	default:
		tile.Health = HealthHealthy
	}
	return tile, failures
}

// promiseHealth says, for each Promise on a cluster, whether it is healthy
// there: the cluster is Available (its agent heartbeats, as the Rollout
// counts a cluster online; an Unknown one's reports are not current) and
// able to deliver, and every Work of the Promise is healthy.
func promiseHealth(c *fleetv1alpha1.Cluster, works []*fleetv1alpha1.Work) map[string]bool {
	out := map[string]bool{}
	online := c.Status.Availability == fleetv1alpha1.ClusterAvailabilityAvailable && agentModeMismatch(c) == ""
	for _, w := range works {
		promise := w.Spec.Subject.Promise
		state, _ := rollup.Classify(w)
		ok, seen := out[promise]
		out[promise] = (ok || !seen) && online && state == rollup.StateHealthy
	}
	return out
}

// agentModeMismatch is the hub's message when the cluster's agent runs in a
// mode its delivery does not fit; "" otherwise.
func agentModeMismatch(c *fleetv1alpha1.Cluster) string {
	if ready := meta.FindStatusCondition(c.Status.Conditions, fleetv1alpha1.ConditionReady); ready != nil &&
		ready.Reason == fleetv1alpha1.ReasonAgentModeMismatch {
		return fleetv1alpha1.ReasonAgentModeMismatch + ": " + ready.Message
	}
	return ""
}

// onlyRevision names the one revision in revs, or says the cluster is mixed.
func onlyRevision(revs map[string]bool) string {
	if len(revs) == 1 {
		for r := range revs {
			return r
		}
	}
	return RevisionMixed
}

func instanceName(w *fleetv1alpha1.Work) string {
	ref := w.Spec.Subject.Instance
	if ref == nil {
		return ""
	}
	return ref.Namespace + "/" + ref.Name
}

// buildPromises counts, per Promise, the clusters on each revision. Promises
// the reader cannot see but whose Works it can still appear, so nothing that
// runs is left out.
func buildPromises(promises []fleetv1alpha1.Promise, tiles []ClusterTile, healthy map[string]map[string]bool) []PromiseView {
	byName := map[string]*PromiseView{}
	for i := range promises {
		p := &promises[i]
		byName[p.Name] = &PromiseView{Name: p.Name, LatestRevision: p.Status.LatestRevision, Instances: p.Status.Instances}
	}
	type count struct{ clusters, healthy int }
	counts := map[string]map[string]*count{}
	for _, t := range tiles {
		for promise, rev := range t.Revisions {
			if byName[promise] == nil {
				byName[promise] = &PromiseView{Name: promise}
			}
			if counts[promise] == nil {
				counts[promise] = map[string]*count{}
			}
			if counts[promise][rev] == nil {
				counts[promise][rev] = &count{}
			}
			counts[promise][rev].clusters++
			if healthy[t.Name][promise] && rev != RevisionPending {
				counts[promise][rev].healthy++
			}
		}
	}
	views := make([]PromiseView, 0, len(byName))
	for name, pv := range byName {
		for rev, n := range counts[name] {
			pv.Clusters += n.clusters
			pv.Revisions = append(pv.Revisions, RevisionShare{Revision: rev, Clusters: n.clusters, Healthy: n.healthy,
				NotHealthy: n.clusters - n.healthy, Latest: rev == pv.LatestRevision})
		}
		for i := range pv.Revisions {
			r := &pv.Revisions[i]
			r.Percent, r.NotHealthyPercent = percent(r.Healthy, pv.Clusters), percent(r.NotHealthy, pv.Clusters)
		}
		// Most clusters first; ties by name, so output is stable.
		slices.SortFunc(pv.Revisions, func(a, b RevisionShare) int {
			return cmp.Or(cmp.Compare(b.Clusters, a.Clusters), cmp.Compare(a.Revision, b.Revision))
		})
		if pv.Revisions == nil {
			pv.Revisions = []RevisionShare{}
		}
		views = append(views, *pv)
	}
	slices.SortFunc(views, func(a, b PromiseView) int { return cmp.Compare(a.Name, b.Name) })
	return views
}

// percent is n of total, rounded to one decimal, but never to 100 unless n
// is all of total, nor to 0 unless n is none: in a large fleet a cluster not
// on a revision must not round away.
func percent(n, total int) float64 {
	if total == 0 {
		return 0
	}
	tenths := math.Round(float64(n) * 1000 / float64(total))
	switch {
	case n < total && tenths >= 1000:
		tenths = 999
	case n > 0 && tenths <= 0:
		tenths = 1
	}
	return tenths / 10
}

// sortedRollouts orders Rollouts by start (creation) time, then namespace and name.
func sortedRollouts(in []fleetv1alpha1.Rollout) []*fleetv1alpha1.Rollout {
	out := make([]*fleetv1alpha1.Rollout, 0, len(in))
	for i := range in {
		out = append(out, &in[i])
	}
	slices.SortFunc(out, func(a, b *fleetv1alpha1.Rollout) int {
		return cmp.Or(a.CreationTimestamp.Compare(b.CreationTimestamp.Time),
			cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	return out
}

type clusterWave struct{ rollout, wave string }

// clusterWaves maps each cluster to its wave in the newest in-flight
// platform Rollout that has it in a wave, else in the newest in-flight
// Rollout of a team's instance: a team starts its instances' Rollouts when
// it likes, and a newer one must not take the clusters of the platform's
// waves.
func clusterWaves(rollouts []*fleetv1alpha1.Rollout) map[string]clusterWave {
	waves := map[string]clusterWave{}
	for _, platform := range []bool{false, true} { // the platform's last, so they win
		for _, r := range rollouts { // oldest first, so newer ones win
			if r.Status.Phase.IsTerminal() || r.IsPlatformRollout() != platform {
				continue
			}
			for _, w := range r.Status.Waves {
				for _, c := range w.Clusters {
					waves[c] = clusterWave{rollout: r.Namespace + "/" + r.Name, wave: w.Name}
				}
			}
		}
	}
	return waves
}

// buildRollouts keeps every Rollout in flight (the platform's first, then
// the teams', each oldest first: a team changing its instances starts as
// many Rollouts as it likes, and they must not bury the platform's) and the
// MaxFinishedRollouts that finished last (by completion, else start): a
// Rollout started long ago that just failed is the fleet's latest outcome,
// whatever finished since it started. Each Promise's platform Rollout that
// finished last is kept too, after them: teams run their instances'
// Rollouts, and five of theirs must not push the platform's outcome out.
func buildRollouts(rollouts []*fleetv1alpha1.Rollout) []RolloutView {
	var platformInFlight, inFlight, finished []RolloutView
	var ended []*fleetv1alpha1.Rollout
	for _, r := range rollouts {
		switch {
		case r.Status.Phase.IsTerminal():
			ended = append(ended, r)
		case r.IsPlatformRollout():
			platformInFlight = append(platformInFlight, rolloutView(r))
		default:
			inFlight = append(inFlight, rolloutView(r))
		}
	}
	slices.Reverse(ended) // newest start first among those that finished together
	slices.SortStableFunc(ended, func(a, b *fleetv1alpha1.Rollout) int { return finishedAt(b).Compare(finishedAt(a)) })
	shown := map[string]bool{} // Promises whose platform Rollout is kept
	for i, r := range ended {
		platform := r.IsPlatformRollout()
		if i >= MaxFinishedRollouts && (!platform || shown[r.Spec.Subject.Promise]) {
			continue
		}
		if platform {
			shown[r.Spec.Subject.Promise] = true
		}
		finished = append(finished, rolloutView(r))
	}
	return append(append(append([]RolloutView{}, platformInFlight...), inFlight...), finished...)
}

// finishedAt is when a finished Rollout completed; when the hub recorded no
// completion, when it started, or was created.
func finishedAt(r *fleetv1alpha1.Rollout) time.Time {
	switch {
	case r.Status.CompletedAt != nil:
		return r.Status.CompletedAt.Time
	case r.Status.StartedAt != nil:
		return r.Status.StartedAt.Time
	}
	return r.CreationTimestamp.Time
}

func rolloutView(r *fleetv1alpha1.Rollout) RolloutView {
	st := &r.Status
	rv := RolloutView{
		Namespace:                r.Namespace,
		Name:                     r.Name,
		Promise:                  r.Spec.Subject.Promise,
		FromRevision:             r.Spec.FromRevision,
		TargetRevision:           r.Spec.TargetRevision,
		Phase:                    st.Phase,
		Outcome:                  Outcome(r),
		Finished:                 st.Phase.IsTerminal(),
		CurrentWave:              st.CurrentWave,
		PercentOnTarget:          st.PercentOnTarget,
		Counts:                   st.Counts,
		Waves:                    make([]WaveView, 0, len(st.Waves)),
		Failures:                 st.Failures,
		FailureCount:             st.FailureCount,
		UnattributedFailures:     st.UnattributedFailures,
		UnattributedFailureCount: st.UnattributedFailureCount,
		StartedAt:                timePtr(st.StartedAt),
		CompletedAt:              timePtr(st.CompletedAt),
	}
	if rv.Phase == "" {
		rv.Phase, rv.Outcome = fleetv1alpha1.RolloutPhasePending, string(fleetv1alpha1.RolloutPhasePending)
	}
	rv.RollbackRevision = st.RollbackRevision
	if ref := r.Spec.Subject.Instance; ref != nil {
		rv.Instance = r.Namespace + "/" + ref.Name
	}
	for i := range st.Waves {
		w := &st.Waves[i]
		wv := WaveView{Name: w.Name, Phase: WavePhase(r, w), Clusters: w.Clusters, Counts: w.Counts, Approval: w.Approval}
		for _, c := range w.Checks {
			wv.Checks = append(wv.Checks, CheckView{Name: c.Name, Verdict: c.Verdict, Scope: c.Scope, Counts: c.Counts, Message: c.Message, Run: c.Run, Skipped: c.Skipped})
		}
		rv.Waves = append(rv.Waves, wv)
		if w.Phase == fleetv1alpha1.WavePhaseWaitingForApproval {
			rv.AwaitingApproval = w.Name
		}
	}
	if c := meta.FindStatusCondition(st.Conditions, fleetv1alpha1.ConditionReady); c != nil {
		rv.Message = c.Message
	}
	return rv
}

// Outcome is a Rollout's phase, or SucceededWithFailures for one that
// Succeeded with condition Degraded True.
func Outcome(r *fleetv1alpha1.Rollout) string {
	if r.Status.Phase == fleetv1alpha1.RolloutPhaseSucceeded && meta.IsStatusConditionTrue(r.Status.Conditions, fleetv1alpha1.ConditionDegraded) {
		return fleetv1alpha1.ReasonSucceededWithFailures
	}
	return string(r.Status.Phase)
}

// WavePhase is the phase to show for a wave of r: as stored, except for
// statuses written before the hub stopped the waves of a rollout that left
// normal progress itself. Once a rollback started, a wave that started and
// did not fail is RolledBack; in an ended rollout, a wave at work is Stopped;
// a wave that never started is Skipped.
func WavePhase(r *fleetv1alpha1.Rollout, w *fleetv1alpha1.WaveStatus) fleetv1alpha1.WavePhase {
	phase := r.Status.Phase
	rollback := r.Status.RollbackRevision != "" && (phase == fleetv1alpha1.RolloutPhaseRollingBack || phase == fleetv1alpha1.RolloutPhaseRolledBack)
	if !phase.IsTerminal() && !rollback {
		return w.Phase
	}
	switch w.Phase {
	case "", fleetv1alpha1.WavePhasePending, fleetv1alpha1.WavePhaseProgressing, fleetv1alpha1.WavePhaseBaking,
		fleetv1alpha1.WavePhaseWaitingForApproval, fleetv1alpha1.WavePhaseSucceeded, fleetv1alpha1.WavePhaseSucceededWithFailures:
		switch {
		case w.StartedAt == nil && (w.Phase == "" || w.Phase == fleetv1alpha1.WavePhaseWaitingForApproval || w.Phase == fleetv1alpha1.WavePhasePending):
			return fleetv1alpha1.WavePhaseSkipped
		case rollback:
			return fleetv1alpha1.WavePhaseRolledBack
		case w.Phase != fleetv1alpha1.WavePhaseSucceeded && w.Phase != fleetv1alpha1.WavePhaseSucceededWithFailures:
			return fleetv1alpha1.WavePhaseStopped
		}
	}
	return w.Phase
}

// buildFreezes keeps the FleetFreezes in force at now.
func buildFreezes(freezes []fleetv1alpha1.FleetFreeze, now time.Time) []Freeze {
	out := []Freeze{}
	for i := range freezes {
		f := &freezes[i]
		if !f.ActiveAt(now) {
			continue
		}
		out = append(out, Freeze{
			Name:     f.Name,
			Action:   f.EffectiveAction(),
			Reason:   f.Spec.Reason,
			FrozenBy: f.Spec.FrozenBy,
			Until:    timePtr(f.Spec.Until),
			Held:     f.Status.HeldRollouts,
		})
	}
	slices.SortFunc(out, func(a, b Freeze) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

func timePtr(t *metav1.Time) *time.Time {
	if t == nil {
		return nil
	}
	v := t.Time
	return &v
}
