package devenv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/flotilla-dev/flotilla/internal/agent"
	"github.com/flotilla-dev/flotilla/internal/hub"
	"github.com/flotilla-dev/flotilla/internal/membership"
	"github.com/flotilla-dev/flotilla/internal/version"
)

// runner is one in-process component (the hub controller or an agent) that can
// be stopped and started again, as tests of outages need.
type runner struct {
	name   string
	cancel context.CancelFunc
	done   chan error
}

func (r *runner) stop() error {
	r.cancel()
	return <-r.done
}

// startRunner runs fn in a goroutine with its own cancellable context and a
// logger writing to logPath, so the foreground output of `dev up` stays readable.
func startRunner(name, logPath string, fn func(ctx context.Context) error) (*runner, error) {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening %s log: %w", name, err)
	}
	log := zap.New(zap.WriteTo(logFile), zap.UseDevMode(false))
	ctx, cancel := context.WithCancel(logr.NewContext(context.Background(), log))
	r := &runner{name: name, cancel: cancel, done: make(chan error, 1)}
	go func() {
		err := fn(ctx)
		if err != nil && ctx.Err() == nil {
			log.Error(err, "stopped with an error", "component", name)
		}
		_ = logFile.Close()
		r.done <- err
	}()
	return r, nil
}

// controllers are the Flotilla processes a dev environment runs in-process:
// the hub controller manager and one agent per member.
type controllers struct {
	mu     sync.Mutex
	hub    *runner
	agents map[string]*runner
	// hubOptions remember how the hub controller was started, so StartHub can restart it.
	hubOptions hub.Options
	// agentConfigs remember how each agent was started, so StartAgent can restart it.
	agentConfigs map[string]agentConfig
}

type agentConfig struct {
	hub, member *rest.Config
	opts        agent.Options
	logPath     string
}

// startControllers runs the hub controller, joins every member and starts its agent.
func (e *Env) startControllers(ctx context.Context, opts Options) error {
	e.ctrl = &controllers{
		agents:       map[string]*runner{},
		agentConfigs: map[string]agentConfig{},
		hubOptions: hub.Options{
			MetricsAddr: "0",
			ProbeAddr:   "0",
			// Short enough that a stopped agent shows as Offline within a demo.
			ClusterOfflineGrace:       3 * opts.HeartbeatInterval,
			HeartbeatStatusResolution: time.Minute,
		},
	}
	ctrl.SetLogger(logr.Discard()) // components log to their own files via context

	if err := e.StartHub(); err != nil {
		return err
	}

	for i, m := range e.Members {
		labels := map[string]string{"env": "dev", "member": m.Name}
		if opts.MemberLabels != nil {
			for k, v := range opts.MemberLabels(i + 1) {
				labels[k] = v
			}
		}
		joined, err := membership.Join(ctx, e.Hub.RESTConfig, membership.JoinOptions{
			Name:   m.Name,
			Labels: labels,
		})
		if err != nil {
			return fmt.Errorf("joining %s: %w", m.Name, err)
		}
		kubeconfigPath := filepath.Join(e.Dir, m.Name+".agent-hub.kubeconfig")
		if err := os.WriteFile(kubeconfigPath, joined.HubKubeconfig, 0o600); err != nil {
			return fmt.Errorf("writing %s: %w", kubeconfigPath, err)
		}
		hubConfig, err := clientcmd.RESTConfigFromKubeConfig(joined.HubKubeconfig)
		if err != nil {
			return fmt.Errorf("loading the agent kubeconfig of %s: %w", m.Name, err)
		}
		// Every start wipes the members' etcd, so what an agent of an earlier
		// run in this directory recorded is stale: left in place, the new
		// agent would re-apply the old Works to the new member, then prune them.
		stateDir := filepath.Join(m.Dir, "agent-state")
		if err := os.RemoveAll(stateDir); err != nil {
			return fmt.Errorf("removing the previous run's agent state %s: %w", stateDir, err)
		}
		e.ctrl.agentConfigs[m.Name] = agentConfig{
			hub:    hubConfig,
			member: m.RESTConfig,
			opts: agent.Options{
				ClusterName:       m.Name,
				StateDir:          stateDir,
				HeartbeatInterval: opts.HeartbeatInterval,
				ResyncInterval:    opts.ResyncInterval,
				MetricsAddr:       "0",
				ProbeAddr:         "0",
				Version:           version.String(),
			},
			logPath: filepath.Join(m.Dir, "agent.log"),
		}
		if err := e.StartAgent(m.Name); err != nil {
			return err
		}
	}
	return nil
}

// StartHub starts the in-process hub controller (again), with the options it
// was first started with; its log goes on in DIR/hub/controller.log.
func (e *Env) StartHub() error {
	if e.ctrl == nil {
		return errors.New("the environment runs no controllers")
	}
	e.ctrl.mu.Lock()
	defer e.ctrl.mu.Unlock()
	if e.ctrl.hub != nil {
		return errors.New("the hub controller is already running")
	}
	opts := e.ctrl.hubOptions
	r, err := startRunner("hub", filepath.Join(e.Dir, "hub", "controller.log"), func(ctx context.Context) error {
		return hub.Run(ctx, e.Hub.RESTConfig, opts)
	})
	if err != nil {
		return err
	}
	e.ctrl.hub = r
	return nil
}

// StopHub stops the in-process hub controller and waits until it has, as a
// crashed or restarted hub would: agents and control planes keep running.
func (e *Env) StopHub() error {
	if e.ctrl == nil {
		return errors.New("the environment runs no controllers")
	}
	e.ctrl.mu.Lock()
	r := e.ctrl.hub
	e.ctrl.hub = nil
	e.ctrl.mu.Unlock()
	if r == nil {
		return errors.New("the hub controller is not running")
	}
	if err := r.stop(); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// StartAgent starts the in-process agent of member name (again).
func (e *Env) StartAgent(name string) error {
	e.ctrl.mu.Lock()
	defer e.ctrl.mu.Unlock()
	cfg, ok := e.ctrl.agentConfigs[name]
	if !ok {
		return fmt.Errorf("no member %q", name)
	}
	if _, running := e.ctrl.agents[name]; running {
		return fmt.Errorf("the agent of %s is already running", name)
	}
	r, err := startRunner("agent "+name, cfg.logPath, func(ctx context.Context) error {
		return agent.Run(ctx, cfg.hub, cfg.member, cfg.opts)
	})
	if err != nil {
		return err
	}
	e.ctrl.agents[name] = r
	return nil
}

// StopAgent stops the in-process agent of member name and waits until it has.
func (e *Env) StopAgent(name string) error {
	e.ctrl.mu.Lock()
	r, ok := e.ctrl.agents[name]
	delete(e.ctrl.agents, name)
	e.ctrl.mu.Unlock()
	if !ok {
		return fmt.Errorf("the agent of %s is not running", name)
	}
	return r.stop()
}

func (c *controllers) stop() error {
	c.mu.Lock()
	runners := make([]*runner, 0, len(c.agents)+1)
	for _, r := range c.agents {
		runners = append(runners, r)
	}
	c.agents = map[string]*runner{}
	hubRunner := c.hub
	c.hub = nil
	c.mu.Unlock()
	if hubRunner != nil {
		runners = append(runners, hubRunner)
	}
	var errs []error
	for _, r := range runners {
		if err := r.stop(); err != nil && !errors.Is(err, context.Canceled) {
			errs = append(errs, fmt.Errorf("%s: %w", r.name, err))
		}
	}
	return errors.Join(errs...)
}
