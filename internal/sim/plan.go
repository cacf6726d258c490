// Package sim is Flotilla's fleet simulator: it joins thousands of simulated
// member clusters to a real hub (real Cluster objects, namespaces, RBAC,
// tokens and Leases through the hub's API server) and runs, in this process,
// one real agent per cluster against an in-memory member
// (agent.RunWithMember). Which clusters fail and which stay offline follows
// from a seed, so a run's outcome is known in advance.
package sim

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"
)

// Labels the simulator puts on its Clusters.
const (
	// LabelWave numbers the cluster's wave, "1" to Options.Waves: strategies
	// select waves with it.
	LabelWave = "sim.flotilla.dev/wave"
	// LabelFleet is set to the name prefix on every simulated cluster.
	LabelFleet = "sim.flotilla.dev/fleet"
	// LabelTenant marks hub namespaces the simulator's Fleet admits as tenants.
	LabelTenant = "sim.flotilla.dev/tenant"
)

// Defaults of Options left zero.
const (
	DefaultPrefix          = "sim"
	DefaultWaves           = 3
	DefaultJoinParallelism = 16
	MaxClusters            = 100000
)

// Options describe a simulated fleet.
type Options struct {
	// Clusters is how many member clusters to simulate.
	Clusters int
	// FailRate is the share of clusters (0–1) that cannot run a changed
	// workload: it stays unavailable, so the rollout's progress deadline fails it.
	FailRate float64
	// OfflineRate is the share of clusters (0–1) joined but whose agent never
	// starts: the hub never sees them heartbeat.
	OfflineRate float64
	// ApplyLatency is how long a workload takes to become available on a member.
	ApplyLatency time.Duration
	// Seed decides which clusters fail and which are offline.
	Seed uint64
	// Waves is how many values LabelWave takes; DefaultWaves when zero.
	Waves int
	// Prefix names the clusters <prefix>-00001…; DefaultPrefix when empty.
	Prefix string
	// Dir holds the agents' state directories and the agents' log.
	Dir string
	// HeartbeatInterval and ResyncInterval of every agent; zero means the
	// agent's defaults (60 s and 5 min).
	HeartbeatInterval time.Duration
	ResyncInterval    time.Duration
	// JoinParallelism is how many joins run at once; DefaultJoinParallelism when zero.
	JoinParallelism int
}

// Default fills in the defaults.
func (o Options) Default() Options {
	if o.Waves == 0 {
		o.Waves = DefaultWaves
	}
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	if o.JoinParallelism == 0 {
		o.JoinParallelism = DefaultJoinParallelism
	}
	return o
}

// Validate checks the options; zero values that have defaults are valid.
func (o Options) Validate() error {
	var errs []error
	if o.Clusters < 1 || o.Clusters > MaxClusters {
		errs = append(errs, fmt.Errorf("clusters %d: must be between 1 and %d", o.Clusters, MaxClusters))
	}
	if o.FailRate < 0 || o.FailRate > 1 {
		errs = append(errs, fmt.Errorf("fail rate %g: must be between 0 and 1", o.FailRate))
	}
	if o.OfflineRate < 0 || o.OfflineRate > 1 {
		errs = append(errs, fmt.Errorf("offline rate %g: must be between 0 and 1", o.OfflineRate))
	}
	if o.FailRate+o.OfflineRate > 1 {
		errs = append(errs, fmt.Errorf("fail rate %g and offline rate %g: together at most 1", o.FailRate, o.OfflineRate))
	}
	if o.ApplyLatency < 0 {
		errs = append(errs, fmt.Errorf("apply latency %s: must not be negative", o.ApplyLatency))
	}
	if o.Waves < 0 || o.Waves > 20 {
		errs = append(errs, fmt.Errorf("waves %d: must be between 1 and 20", o.Waves))
	}
	if o.JoinParallelism < 0 {
		errs = append(errs, fmt.Errorf("join parallelism %d: must not be negative", o.JoinParallelism))
	}
	if len(o.Prefix) > 20 {
		errs = append(errs, fmt.Errorf("prefix %q: at most 20 characters", o.Prefix))
	}
	if o.Dir == "" {
		errs = append(errs, errors.New("a directory for the agents' state is required"))
	}
	return errors.Join(errs...)
}

// ClusterSpec is one simulated cluster as the seed decides it.
type ClusterSpec struct {
	Name string
	// Wave is the cluster's LabelWave value, 1 to Options.Waves.
	Wave int
	// Failing: the member cannot run a changed workload.
	Failing bool
	// Offline: the agent never starts.
	Offline bool
}

// Labels are the cluster's labels on the hub.
func (c ClusterSpec) Labels(prefix string) map[string]string {
	return map[string]string{LabelWave: strconv.Itoa(c.Wave), LabelFleet: prefix}
}

// Plan decides every cluster of a fleet from defaulted options: cluster i
// (from 0) is named <prefix>-<i+1, five digits>, is in wave 1 + i*waves/N
// (equal consecutive slices), and one draw per cluster from a PCG seeded
// with Seed makes it offline (draw < OfflineRate), failing (draw <
// OfflineRate+FailRate) or healthy. It is pure: the same options give the
// same fleet.
func Plan(o Options) []ClusterSpec {
	rng := rand.New(rand.NewPCG(o.Seed, o.Seed^0x5eed)) //nolint:gosec // a reproducible draw, not security
	specs := make([]ClusterSpec, o.Clusters)
	for i := range specs {
		draw := rng.Float64()
		specs[i] = ClusterSpec{
			Name:    fmt.Sprintf("%s-%05d", o.Prefix, i+1),
			Wave:    1 + i*o.Waves/o.Clusters,
			Offline: draw < o.OfflineRate,
			Failing: draw >= o.OfflineRate && draw < o.OfflineRate+o.FailRate,
		}
	}
	return specs
}
