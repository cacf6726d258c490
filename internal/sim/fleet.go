package sim

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/flotilla-dev/flotilla/internal/agent"
	"github.com/flotilla-dev/flotilla/internal/membership"
	"github.com/flotilla-dev/flotilla/internal/version"
)

// Fleet is a running simulated fleet: its clusters joined to the hub and
// the agents of those not offline running in this process.
type Fleet struct {
	opts     Options
	clusters []*Cluster
	byName   map[string]*Cluster
	log      logr.Logger
}

// Cluster is one simulated member cluster.
type Cluster struct {
	Spec ClusterSpec
	// Member is the in-memory member its agent applies to.
	Member *agent.SimMember

	hub  *rest.Config // the agent's scoped hub credentials
	opts agent.Options

	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan error
}

// Join joins every cluster of the plan to the hub (JoinParallelism at a
// time) through membership.Join, as `flotilla join` does, and starts the
// agents of those not offline. hub is an admin configuration of the hub;
// the agents log to the logger in ctx. progress, when set, is called after
// each join with how many are joined so far.
func Join(ctx context.Context, hub *rest.Config, opts Options, progress func(joined int)) (*Fleet, error) {
	opts = opts.Default()
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("invalid simulator options: %w", err)
	}
	stateDir := filepath.Join(opts.Dir, "agents")
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating %s: %w", stateDir, err)
	}
	hub = rest.CopyConfig(hub)
	if hub.QPS < 200 {
		hub.QPS, hub.Burst = 200, 400
	}
	f := &Fleet{opts: opts, byName: map[string]*Cluster{}, log: logr.FromContextOrDiscard(ctx)}
	for _, spec := range Plan(opts) {
		c := &Cluster{Spec: spec, Member: agent.NewSimMember(agent.SimMemberOptions{
			ApplyLatency: opts.ApplyLatency, Failing: spec.Failing,
		})}
		f.clusters = append(f.clusters, c)
		f.byName[spec.Name] = c
	}

	var (
		joined atomic.Int64
		errMu  sync.Mutex
		errs   []error
		wg     sync.WaitGroup
	)
	work := make(chan *Cluster)
	joinCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	for range opts.JoinParallelism {
		wg.Go(func() {
			for c := range work {
				if err := f.join(joinCtx, hub, c, stateDir); err != nil {
					errMu.Lock()
					errs = append(errs, err)
					errMu.Unlock()
					cancel()
					continue
				}
				n := joined.Add(1)
				if progress != nil {
					progress(int(n))
				}
			}
		})
	}
	for _, c := range f.clusters {
		if joinCtx.Err() != nil {
			break
		}
		work <- c
	}
	close(work)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		f.Stop()
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		f.Stop()
		return nil, err
	}
	return f, nil
}

// joinAttempts bounds the tries of a join the hub refused for overload
// (overloaded): join is idempotent, and one request timing out among the
// hundreds of thousands of a 10,000-cluster join should not end the run.
const joinAttempts = 3

// overloaded reports whether err is an API server too busy to answer:
// a timeout, 429 or 503. Waiting and trying again may succeed.
func overloaded(err error) bool {
	return apierrors.IsTimeout(err) || apierrors.IsServerTimeout(err) ||
		apierrors.IsTooManyRequests(err) || apierrors.IsServiceUnavailable(err)
}

// join joins one cluster and starts its agent unless it is offline. Every
// start wipes the agent's state: the member is new and empty.
func (f *Fleet) join(ctx context.Context, hub *rest.Config, c *Cluster, stateDir string) error {
	var joined *membership.Joined
	var err error
	for attempt := 1; ; attempt++ {
		joined, err = membership.Join(ctx, hub, membership.JoinOptions{Name: c.Spec.Name, Labels: c.Spec.Labels(f.opts.Prefix)})
		if err == nil || attempt == joinAttempts || !overloaded(err) {
			break
		}
		f.log.Info("join refused by an overloaded hub; trying again", "cluster", c.Spec.Name, "attempt", attempt, "error", err.Error())
		select {
		case <-ctx.Done():
			return fmt.Errorf("joining %s: %w", c.Spec.Name, err)
		case <-time.After(time.Duration(attempt) * time.Second):
		}
	}
	if err != nil {
		return fmt.Errorf("joining %s: %w", c.Spec.Name, err)
	}
	cfg, err := clientcmd.RESTConfigFromKubeConfig(joined.HubKubeconfig)
	if err != nil {
		return fmt.Errorf("loading the agent kubeconfig of %s: %w", c.Spec.Name, err)
	}
	if err := os.RemoveAll(filepath.Join(stateDir, c.Spec.Name)); err != nil {
		return fmt.Errorf("removing the previous agent state of %s: %w", c.Spec.Name, err)
	}
	c.hub = cfg
	c.opts = agent.Options{
		ClusterName:       c.Spec.Name,
		StateDir:          stateDir,
		HeartbeatInterval: f.opts.HeartbeatInterval,
		ResyncInterval:    f.opts.ResyncInterval,
		MetricsAddr:       "0",
		ProbeAddr:         "0",
		Version:           version.String() + "-sim",
	}
	if c.Spec.Offline {
		return nil
	}
	return f.startAgent(c)
}

func (f *Fleet) startAgent(c *Cluster) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cancel != nil {
		return fmt.Errorf("the agent of %s is already running", c.Spec.Name)
	}
	ctx, cancel := context.WithCancel(logr.NewContext(context.Background(), f.log))
	done := make(chan error, 1)
	c.cancel, c.done = cancel, done
	go func() {
		err := agent.RunWithMember(ctx, c.hub, c.Member, c.opts)
		if err != nil && ctx.Err() == nil {
			f.log.Error(err, "agent stopped", "cluster", c.Spec.Name)
		}
		done <- err
	}()
	return nil
}

// StartAgent starts the agent of a cluster (again), on its member as it was.
func (f *Fleet) StartAgent(name string) error {
	c, ok := f.byName[name]
	if !ok || c.hub == nil {
		return fmt.Errorf("no joined cluster %q", name)
	}
	return f.startAgent(c)
}

// StopAgent stops the agent of a cluster and waits until it has: the hub
// sees it go offline once its Lease expires.
func (f *Fleet) StopAgent(name string) error {
	c, ok := f.byName[name]
	if !ok {
		return fmt.Errorf("no cluster %q", name)
	}
	c.mu.Lock()
	cancel, done := c.cancel, c.done
	c.cancel, c.done = nil, nil
	c.mu.Unlock()
	if cancel == nil {
		return fmt.Errorf("the agent of %s is not running", name)
	}
	cancel()
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// Clusters returns the fleet's clusters in plan order.
func (f *Fleet) Clusters() []*Cluster { return f.clusters }

// Running counts the agents running.
func (f *Fleet) Running() int {
	n := 0
	for _, c := range f.clusters {
		c.mu.Lock()
		if c.cancel != nil {
			n++
		}
		c.mu.Unlock()
	}
	return n
}

// Stop stops every agent and waits, at most a minute, until they have.
func (f *Fleet) Stop() {
	var dones []chan error
	for _, c := range f.clusters {
		c.mu.Lock()
		if c.cancel != nil {
			c.cancel()
			dones = append(dones, c.done)
			c.cancel, c.done = nil, nil
		}
		c.mu.Unlock()
	}
	deadline := time.After(time.Minute)
	for _, d := range dones {
		select {
		case err := <-d:
			if err != nil && !errors.Is(err, context.Canceled) {
				f.log.Error(err, "agent stopped with an error")
			}
		case <-deadline:
			f.log.Info("agents did not stop within a minute; leaving them")
			return
		}
	}
}
