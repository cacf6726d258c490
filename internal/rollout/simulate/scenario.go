// Package simulate drives rollout.Plan step by step over a fake fleet, the
// way the Rollout controller would: observe, plan, execute the admissions,
// and wait for the next change (a cluster applying or turning healthy, a
// scripted event, or the requeue Plan asked for). Each step can be written
// as one line of a trace, which the tests compare with golden files.
//
// A scenario is YAML:
//
//	description: a bad revision breaches the canary budget
//	rollout:            # a RolloutSpec; the subject defaults to promise "app"
//	  fromRevision: r1
//	  targetRevision: r2
//	strategy:           # a RolloutStrategySpec
//	  waves: [...]
//	startedBy: alice    # who created the Rollout (default hub)
//	clusters:           # groups of clusters
//	- prefix: canary-   # canary-1 … canary-4 (or names: [a, b])
//	  count: 4
//	  labels: {wave: canary}
//	  behaviour: Bad    # Good (default), Bad (fails after failAfter), Stuck (never healthy)
//	  offline: false
//	fleet:              # timing of the fake agents (defaults shown)
//	  applyAfter: 5s    # admission → applied
//	  healthyAfter: 30s # applied → healthy
//	  failAfter: 20s    # applied → failed (Bad clusters)
//	  jitter: 0s        # up to this much more per admission, seeded
//	  seed: 1
//	  resync: 1s        # at least this long between two plans
//	until: 24h          # stop here if the rollout has not ended
//	trace: Steps        # Steps (every visible change) or Transitions (phase and wave changes only)
//	script:
//	- at: 90s
//	  cluster: canary-2 # or clusters: [...]
//	  do: Fail          # Fail, Flap, Heal, Offline, Online, Adopt, StrayFail, StrayHeal
//	- at: 5m
//	  approve: canary
//	  by: alice
//	- at: 6m
//	  desiredState: Paused
//	  by: bob
//	- at: 7m
//	  rollback: {toRevision: r0, by: carol}  # a toRevision starting "missing-" does not exist
//	- at: 8m
//	  freeze: {name: incident-1, action: Rollback, reason: bad node image, by: dave}
//	- at: 9m
//	  unfreeze: true
//	- at: 10m
//	  mode: Immediate     # with message: the reason
//	- at: 11m
//	  supersededBy: app-r3
//	- at: 12m
//	  cluster: canary-1
//	  do: MetricFail    # the cluster's metric fails its checks (MetricPass, MetricInconclusive)
//	- at: 13m
//	  rerunCheck: {wave: canary, check: error-rate}   # or skipCheck, with by and message
//
// Checks come from the strategy (strategy.checks, waves[].checks) and
// promiseChecks/skipChecks; the simulator measures the hub's checks Plan
// lists as due: a cluster's metric passes (value 0.01), fails (0.31) or is
// inconclusive (its endpoint refuses) per its group's metric or the script.
package simulate

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// Scenario is a scripted rollout over a fake fleet.
type Scenario struct {
	Description string                            `json:"description,omitempty"`
	Rollout     fleetv1alpha1.RolloutSpec         `json:"rollout"`
	Strategy    fleetv1alpha1.RolloutStrategySpec `json:"strategy"`
	StartedBy   string                            `json:"startedBy,omitempty"`
	Clusters    []ClusterGroup                    `json:"clusters"`
	Fleet       Fleet                             `json:"fleet,omitempty"`
	Until       metav1.Duration                   `json:"until,omitempty"`
	Trace       TraceMode                         `json:"trace,omitempty"`
	Script      []Step                            `json:"script,omitempty"`
	// PromiseChecks and SkipChecks are the Promise's checks.
	PromiseChecks []fleetv1alpha1.Check `json:"promiseChecks,omitempty"`
	SkipChecks    []string              `json:"skipChecks,omitempty"`
}

// Metric is what a fake cluster's metric says to a check.
type Metric string

const (
	// MetricPassing clusters pass every check (the default).
	MetricPassing Metric = "Pass"
	// MetricFailing clusters fail every check.
	MetricFailing Metric = "Fail"
	// MetricUnreachable clusters' measurements are inconclusive.
	MetricUnreachable Metric = "Inconclusive"
)

// TraceMode says which steps the trace shows.
type TraceMode string

const (
	// TraceSteps shows every step where something visible changed.
	TraceSteps TraceMode = "Steps"
	// TraceTransitions shows only steps with a phase or wave change, an
	// Event or a scripted action: wave boundaries, for large fleets.
	TraceTransitions TraceMode = "Transitions"
)

// Behaviour is how a fake cluster reacts to the target revision; every
// other revision (a rollback's) always becomes healthy.
type Behaviour string

const (
	// Good clusters become healthy healthyAfter the apply.
	Good Behaviour = "Good"
	// Bad clusters fail failAfter the apply.
	Bad Behaviour = "Bad"
	// Stuck clusters never become healthy (progress deadline).
	Stuck Behaviour = "Stuck"
)

// ClusterGroup is one or more clusters with the same labels and behaviour.
type ClusterGroup struct {
	// Names lists clusters; or Prefix and Count generate prefix1 … prefixN,
	// zero-padded to the width of Count.
	Names  []string `json:"names,omitempty"`
	Prefix string   `json:"prefix,omitempty"`
	Count  int      `json:"count,omitempty"`
	// Labels of every cluster in the group.
	Labels map[string]string `json:"labels,omitempty"`
	// Behaviour on the target revision; Good by default.
	Behaviour Behaviour `json:"behaviour,omitempty"`
	// Offline clusters start without a heartbeat.
	Offline bool `json:"offline,omitempty"`
	// Revision they run at the start; fromRevision by default.
	Revision string `json:"revision,omitempty"`
	// Metric is what their metric says to checks; Pass by default.
	Metric Metric `json:"metric,omitempty"`
}

// Fleet is the timing of the fake agents.
type Fleet struct {
	ApplyAfter   metav1.Duration `json:"applyAfter,omitempty"`
	HealthyAfter metav1.Duration `json:"healthyAfter,omitempty"`
	FailAfter    metav1.Duration `json:"failAfter,omitempty"`
	Jitter       metav1.Duration `json:"jitter,omitempty"`
	Seed         uint64          `json:"seed,omitempty"`
	Resync       metav1.Duration `json:"resync,omitempty"`
}

// Action is what a scripted step does to clusters.
type Action string

// Actions on clusters.
const (
	// Fail makes the clusters fail on the target (now if applied) from now on.
	Fail Action = "Fail"
	// Flap makes healthy clusters progress again for healthyAfter.
	Flap Action = "Flap"
	// Heal makes the clusters Good again; failed ones recover after healthyAfter.
	Heal Action = "Heal"
	// Offline stops the clusters' heartbeats; Online restores them.
	Offline Action = "Offline"
	Online  Action = "Online"
	// Adopt: the instance owners adopt the target (Deadline mode).
	Adopt Action = "Adopt"
	// StrayFail: a Work of the subject on the cluster that is not the
	// rollout's fails (a new instance rendered at the old revision); the
	// rollout must report it apart and never count it. StrayHeal clears it.
	StrayFail Action = "StrayFail"
	StrayHeal Action = "StrayHeal"
	// MetricFail, MetricPass and MetricInconclusive set what the
	// clusters' metric says to checks from now on.
	MetricFail         Action = "MetricFail"
	MetricPass         Action = "MetricPass"
	MetricInconclusive Action = "MetricInconclusive"
)

// Step is one scripted event at a time since the start.
type Step struct {
	At metav1.Duration `json:"at"`

	// Cluster or Clusters, with Do.
	Cluster  string   `json:"cluster,omitempty"`
	Clusters []string `json:"clusters,omitempty"`
	Do       Action   `json:"do,omitempty"`

	// Approve a wave.
	Approve string `json:"approve,omitempty"`
	// DesiredState: Paused, Running or Aborted.
	DesiredState fleetv1alpha1.RolloutDesiredState `json:"desiredState,omitempty"`
	// Rollback request.
	Rollback *fleetv1alpha1.RollbackRequest `json:"rollback,omitempty"`
	// Freeze the fleet, or Unfreeze it.
	Freeze   *Freeze `json:"freeze,omitempty"`
	Unfreeze bool    `json:"unfreeze,omitempty"`
	// SupersededBy marks the rollout superseded.
	SupersededBy string `json:"supersededBy,omitempty"`
	// Mode switches the update mode (Progressive or Immediate; Message is
	// the Immediate reason).
	Mode fleetv1alpha1.UpdateMode `json:"mode,omitempty"`

	// RerunCheck and SkipCheck re-run or skip a check of a wave.
	RerunCheck *CheckRef `json:"rerunCheck,omitempty"`
	SkipCheck  *CheckRef `json:"skipCheck,omitempty"`

	// By and Message record who did it (approve, desiredState).
	By      string `json:"by,omitempty"`
	Message string `json:"message,omitempty"`
}

// CheckRef names a check of a wave.
type CheckRef struct {
	Wave  string `json:"wave"`
	Check string `json:"check"`
}

// Freeze is a FleetFreeze in a script.
type Freeze struct {
	Name   string                     `json:"name"`
	Action fleetv1alpha1.FreezeAction `json:"action,omitempty"`
	Reason string                     `json:"reason"`
	By     string                     `json:"by,omitempty"`
}

// Parse reads a scenario from YAML, rejecting unknown fields, and fills in
// defaults.
func Parse(data []byte) (Scenario, error) {
	var s Scenario
	if err := yaml.UnmarshalStrict(data, &s); err != nil {
		return Scenario{}, fmt.Errorf("parsing scenario: %w", err)
	}
	if err := s.defaults(); err != nil {
		return Scenario{}, fmt.Errorf("checking scenario: %w", err)
	}
	return s, nil
}

func (s *Scenario) defaults() error {
	if s.Rollout.Subject.Promise == "" {
		s.Rollout.Subject.Promise = "app"
	}
	setDefault(&s.Fleet.ApplyAfter, 5*time.Second)
	setDefault(&s.Fleet.HealthyAfter, 30*time.Second)
	setDefault(&s.Fleet.FailAfter, 20*time.Second)
	setDefault(&s.Fleet.Resync, time.Second)
	setDefault(&s.Until, 24*time.Hour)
	if s.Fleet.Seed == 0 {
		s.Fleet.Seed = 1
	}
	if s.Trace == "" {
		s.Trace = TraceSteps
	}
	if s.Trace != TraceSteps && s.Trace != TraceTransitions {
		return fmt.Errorf("unknown trace mode %q", s.Trace)
	}
	if len(s.Clusters) == 0 {
		return errors.New("no clusters")
	}
	for i, st := range s.Script {
		if st.Do != "" && st.Cluster == "" && len(st.Clusters) == 0 {
			return fmt.Errorf("script step %d: %s needs cluster or clusters", i, st.Do)
		}
	}
	slices.SortStableFunc(s.Script, func(a, b Step) int { return cmp.Compare(a.At.Duration, b.At.Duration) })
	return nil
}

// names lists the group's cluster names.
func (g ClusterGroup) names() []string {
	if len(g.Names) > 0 || g.Count == 0 {
		return g.Names
	}
	width := len(fmt.Sprint(g.Count))
	names := make([]string, g.Count)
	for i := range names {
		names[i] = fmt.Sprintf("%s%0*d", g.Prefix, width, i+1)
	}
	return names
}

func setDefault(d *metav1.Duration, def time.Duration) {
	if d.Duration == 0 {
		d.Duration = def
	}
}
