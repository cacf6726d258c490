//go:build !agent

package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/hub"
	"github.com/flotilla-dev/flotilla/internal/kube"
	"github.com/flotilla-dev/flotilla/internal/sim"
)

// Where the hub controller of `flotilla sim` runs.
const (
	simHubInProcess = "in-process"
	simHubProcess   = "process"
	simHubNone      = "none"
)

type simOptions struct {
	sim.Options
	kubeconfig    string
	hubController string
	apiserverArgs []string
}

func newSimCommand() *cobra.Command {
	o := &simOptions{}
	cmd := &cobra.Command{
		Use:   "sim",
		Short: "Simulate a fleet of thousands of clusters against a real hub",
		Long: `Join N simulated member clusters to a real hub and run, in this process, the
real agent of each against an in-memory member. Without --kubeconfig it starts a
hub control plane (etcd + kube-apiserver) in DIR/hub. The hub controller runs in
this process (--hub-controller in-process), as a separate 'flotilla hub'
process (process) or not at all (none: one already runs against --kubeconfig).

Clusters are named <prefix>-00001… and labelled sim.flotilla.dev/wave=1..W and
sim.flotilla.dev/fleet=<prefix>. The seed decides which clusters fail (their
member cannot run a changed workload: it never becomes available) and which
are offline (joined, but their agent never starts). It runs until Ctrl-C,
printing how many clusters are joined and Available.`,
		Example: `  flotilla sim --clusters 1000 --fail-rate 0.02 --offline-rate 0.01 --seed 7
  kubectl --kubeconfig .flotilla-sim/hub/admin.kubeconfig get clusters`,
		Args: unknownSubcommand, // no arguments; a word is a mistyped subcommand
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.validate(); err != nil {
				return err
			}
			return o.run(cmd.Context(), cmd.OutOrStdout())
		},
	}
	o.addFlags(cmd.Flags())
	cmd.AddCommand(newSimBenchCommand())
	return cmd
}

func addSimFleetFlags(flags *pflag.FlagSet, o *sim.Options, defaultDir string) {
	flags.IntVar(&o.Clusters, "clusters", 100, "number of simulated member clusters")
	flags.Float64Var(&o.FailRate, "fail-rate", 0, "share of clusters (0-1) whose member cannot run a changed workload")
	flags.Float64Var(&o.OfflineRate, "offline-rate", 0, "share of clusters (0-1) joined whose agent never starts")
	flags.DurationVar(&o.ApplyLatency, "apply-latency", 500*time.Millisecond, "how long a workload takes to become available on a member")
	flags.Uint64Var(&o.Seed, "seed", 1, "seed deciding which clusters fail and which are offline")
	flags.IntVar(&o.Waves, "waves", sim.DefaultWaves, "values of the sim.flotilla.dev/wave label (equal consecutive slices)")
	flags.StringVar(&o.Prefix, "prefix", sim.DefaultPrefix, "cluster name prefix")
	flags.StringVar(&o.Dir, "dir", defaultDir, "directory for the hub, the agents' state and logs")
	flags.DurationVar(&o.HeartbeatInterval, "heartbeat-interval", 0, "agent heartbeat period (0: the agent's default, 60s)")
	flags.DurationVar(&o.ResyncInterval, "resync-interval", 0, "agent health re-check period (0: the agent's default, 5m)")
	flags.IntVar(&o.JoinParallelism, "join-parallelism", sim.DefaultJoinParallelism, "joins at once")
}

func (o *simOptions) addFlags(flags *pflag.FlagSet) {
	addSimFleetFlags(flags, &o.Options, ".flotilla-sim")
	flags.StringVar(&o.kubeconfig, "kubeconfig", "", "admin kubeconfig of an existing hub (default: start one in DIR/hub)")
	flags.StringVar(&o.hubController, "hub-controller", simHubInProcess, "where the hub controller runs: in-process, process or none")
	addAPIServerArgFlag(flags, &o.apiserverArgs)
}

// validateAPIServerArgs refuses what kube-apiserver would only refuse after
// sim spent a minute starting etcd: each value is one --flag[=value].
func validateAPIServerArgs(args []string) error {
	for _, a := range args {
		if !strings.HasPrefix(a, "--") || len(a) < 3 {
			return fmt.Errorf("--apiserver-arg %q: must be a kube-apiserver flag, like --feature-gates=DetectCacheInconsistency=false", a)
		}
	}
	return nil
}

// addAPIServerArgFlag adds --apiserver-arg: extra flags for the hub
// control plane's kube-apiserver that sim starts.
func addAPIServerArgFlag(flags *pflag.FlagSet, args *[]string) {
	flags.StringArrayVar(args, "apiserver-arg", nil,
		"extra kube-apiserver flag for the hub control plane sim starts, e.g. --apiserver-arg=--feature-gates=DetectCacheInconsistency=false (repeatable)")
}

func (o *simOptions) validate() error {
	var errs []error
	if err := o.Default().Validate(); err != nil {
		errs = append(errs, err)
	}
	switch o.hubController {
	case simHubInProcess, simHubProcess, simHubNone:
	default:
		errs = append(errs, fmt.Errorf("--hub-controller %q: must be in-process, process or none", o.hubController))
	}
	if o.kubeconfig != "" && len(o.apiserverArgs) > 0 {
		errs = append(errs, errors.New("--apiserver-arg: only for the hub sim starts, not with --kubeconfig"))
	}
	errs = append(errs, validateAPIServerArgs(o.apiserverArgs))
	return errors.Join(errs...)
}

func (o *simOptions) run(ctx context.Context, out io.Writer) error {
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return fmt.Errorf("creating %s: %w", o.Dir, err)
	}
	ctrl.SetLogger(logr.Discard()) // components log to files
	kubeconfig := o.kubeconfig
	var config *rest.Config
	if kubeconfig == "" {
		fmt.Fprintf(out, "starting a hub control plane in %s\n", filepath.Join(o.Dir, "hub"))
		cp, err := sim.StartControlPlane(ctx, filepath.Join(o.Dir, "hub"), o.apiserverArgs)
		if err != nil {
			return err
		}
		defer func() { _ = cp.Stop() }()
		kubeconfig, config = cp.KubeconfigPath, cp.RESTConfig
	} else {
		var err error
		if config, err = restConfig(kubeconfig); err != nil {
			return err
		}
	}

	var hc *sim.HubController
	var err error
	switch o.hubController {
	case simHubInProcess:
		hc, err = sim.RunHubInProcess(config, hub.Options{}, filepath.Join(o.Dir, "hub-controller.log"))
	case simHubProcess:
		binary, berr := os.Executable()
		if berr != nil {
			return fmt.Errorf("finding the flotilla binary: %w", berr)
		}
		hc, err = sim.StartHubProcess(binary, kubeconfig, filepath.Join(o.Dir, "hub-controller.log"), nil)
	}
	if err != nil {
		return err
	}
	if hc != nil {
		defer func() { _ = hc.Stop() }()
	}

	logFile, err := os.OpenFile(filepath.Join(o.Dir, "agents.log"), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("opening the agents' log: %w", err)
	}
	defer func() { _ = logFile.Close() }()
	fleetCtx := logr.NewContext(ctx, zap.New(zap.WriteTo(logFile), zap.UseDevMode(false)))

	opts := o.Default()
	fmt.Fprintf(out, "joining %d clusters (hub kubeconfig: %s; agent logs: %s)\n", opts.Clusters, kubeconfig, logFile.Name())
	start, last := time.Now(), time.Now()
	fleet, err := sim.Join(fleetCtx, config, opts, func(n int) {
		if time.Since(last) >= 5*time.Second || n == opts.Clusters {
			last = time.Now()
			fmt.Fprintf(out, "joined %d/%d\n", n, opts.Clusters)
		}
	})
	if err != nil {
		return err
	}
	defer fleet.Stop()
	fmt.Fprintf(out, "joined %d clusters in %s; %d agents running; Ctrl-C stops\n",
		opts.Clusters, time.Since(start).Round(time.Millisecond), fleet.Running())

	c, err := client.New(config, client.Options{Scheme: kube.NewScheme()})
	if err != nil {
		return fmt.Errorf("connecting to the hub: %w", err)
	}
	tick := time.NewTicker(10 * time.Second)
	defer tick.Stop()
	previous := -1
	for {
		list := &fleetv1alpha1.ClusterList{}
		if err := c.List(ctx, list, client.MatchingLabels{sim.LabelFleet: opts.Prefix}); err == nil {
			available := 0
			for i := range list.Items {
				if list.Items[i].Status.Availability == fleetv1alpha1.ClusterAvailabilityAvailable {
					available++
				}
			}
			if available != previous {
				fmt.Fprintf(out, "%s  joined %d, available %d\n", time.Now().Format(time.TimeOnly), len(list.Items), available)
				previous = available
			}
		}
		select {
		case <-ctx.Done():
			fmt.Fprintln(out, "stopping")
			return nil
		case <-tick.C:
		}
	}
}

type simBenchOptions struct {
	sim.BenchOptions
	hubMemoryLimit string
}

func newSimBenchCommand() *cobra.Command {
	o := &simBenchOptions{}
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure a Promise rollout across a simulated fleet",
		Long: `Start a hub control plane, run the hub controller as a separate 'flotilla hub'
process, join a simulated fleet, create a Promise and an instance, then change
the Promise and measure: time until every cluster reports the new revision
Ready, until the Rollout ends, CPU and peak RSS of the hub controller,
kube-apiserver and etcd, and API requests per cluster per minute at steady
state. --mode immediate rolls out with updatePolicy Immediate; waves with three
waves (sim.flotilla.dev/wave 1, 2, 3), no bake, no approvals.`,
		Example: `  flotilla sim bench --clusters 1000 --mode waves --dir /dev/shm/flotilla-bench`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := validateAPIServerArgs(o.APIServerArgs); err != nil {
				return err
			}
			if o.hubMemoryLimit != "" {
				q, err := resource.ParseQuantity(o.hubMemoryLimit)
				if err != nil || q.Value() <= 0 {
					return fmt.Errorf("--hub-memory-limit %q: want a positive quantity of bytes, like 460Mi", o.hubMemoryLimit)
				}
				o.HubMemoryLimit = q.Value()
			}
			binary, err := os.Executable()
			if err != nil {
				return fmt.Errorf("finding the flotilla binary: %w", err)
			}
			o.HubBinary = binary
			o.Progress = cmd.ErrOrStderr()
			ctrl.SetLogger(logr.Discard())
			res, err := sim.Bench(cmd.Context(), o.BenchOptions)
			if err != nil {
				return err
			}
			fmt.Fprint(cmd.OutOrStdout(), res.Table())
			return nil
		},
	}
	addSimFleetFlags(cmd.Flags(), &o.Fleet, ".flotilla-sim-bench")
	cmd.Flags().StringVar(&o.Mode, "mode", sim.ModeImmediate, "immediate or waves")
	cmd.Flags().DurationVar(&o.Settle, "settle", 30*time.Second, "wait after the rollout before counting requests")
	cmd.Flags().StringVar(&o.HeapProfile, "heap-profile", "", "write the simulator's heap profile here after the rollout")
	cmd.Flags().StringVar(&o.CPUProfileDir, "cpu-profile-dir", "",
		"write CPU profiles of the hub controller, kube-apiserver and the simulator, taken from the Promise change on, to this directory")
	cmd.Flags().DurationVar(&o.CPUProfileWindow, "cpu-profile-window", 30*time.Second, "how long the CPU profiles sample")
	// Five minutes: the hub refreshes every Cluster's heartbeat time once per
	// 5 min, so a shorter window over- or under-counts those writes.
	cmd.Flags().DurationVar(&o.SteadyWindow, "steady-window", 5*time.Minute, "how long to count requests at steady state (0 skips it)")
	addAPIServerArgFlag(cmd.Flags(), &o.APIServerArgs)
	cmd.Flags().StringVar(&o.hubMemoryLimit, "hub-memory-limit", "",
		"run the hub controller with this Go memory limit (GOMEMLIMIT), as a container memory limit of about 1/0.9 of it would set it, e.g. 460Mi")
	return cmd
}
