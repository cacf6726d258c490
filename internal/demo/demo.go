// Package demo runs Flotilla's guided demo (`flotilla demo`, `make demo`): a
// local fleet of one hub and five member clusters sorted into pilot, canary
// and general waves; a Promise and two teams' instances of it; a good change
// rolled out wave by wave with an approval; then a bad one that breaches the
// canary's failure budget and rolls back by itself. Each step says what the
// user sees and which command shows the same, and the demo checks that the
// story ended as it should.
package demo

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/flotilla-dev/flotilla/internal/devenv"
	"github.com/flotilla-dev/flotilla/internal/testenv"
)

// Options configure a demo run.
type Options struct {
	// Dir receives the fleet's kubeconfigs, its logs and the demo's
	// manifests (DIR/manifests).
	Dir string
	// Keep leaves the fleet running after the story, until ctx ends.
	Keep bool
	// Out receives the narration. A terminal gets live views redrawn in
	// place; anything else gets plain lines.
	Out io.Writer
	// BinDir holds the control-plane binaries; empty means testenv.BinDir().
	BinDir string
	// DashboardAddress is where Keep serves the dashboard (a loopback
	// host:port); empty means DefaultDashboardAddress. When that port is
	// taken, any free loopback port is used instead.
	DashboardAddress string
}

// DefaultDashboardAddress is where `flotilla demo --keep` serves the
// dashboard, the same port `flotilla dashboard` uses by default.
const DefaultDashboardAddress = "127.0.0.1:8089"

func (o Options) validate() error {
	var errs []error
	if o.Dir == "" {
		errs = append(errs, errors.New("a directory is required (--dir)"))
	}
	if o.Out == nil {
		errs = append(errs, errors.New("an output writer is required"))
	}
	return errors.Join(errs...)
}

// The fleet of the story: member i (1-based) is in wave waveOf(i), which
// its Cluster carries as the label waveLabel, which the strategy's waves
// select.
const (
	memberCount = 5
	waveLabel   = "wave"
)

func waveOf(i int) string {
	switch {
	case i == 1:
		return "pilot"
	case i <= 3:
		return "canary"
	}
	return "general"
}

// The story's Promise, strategy and images.
const (
	promiseName  = "web"
	strategyName = "pilot-canary-general"
	// approvalWave waits for a person; budgetWave's failure budget stops the bad release.
	approvalWave = "general"
	budgetWave   = "canary"
	// firstImage is what promise.yaml runs; goodImage the good change;
	// badImage the bad one, which never becomes Ready on kwok members.
	firstImage = "nginx:1.27"
	goodImage  = "nginx:1.28"
	badImage   = testenv.FailingImagePrefix + "nginx:1.29"
	// approvalMessage is recorded with the approval.
	approvalMessage = "pilot and canary are healthy"
)

// How long each step may take before the demo gives up. Generous: the
// machine may be busy; a normal run takes a fraction of each.
const (
	clustersTimeout  = 2 * time.Minute
	promiseTimeout   = time.Minute
	instanceTimeout  = 2 * time.Minute
	rolloutTimeout   = 3 * time.Minute
	settleTimeout    = time.Minute
	pollInterval     = 500 * time.Millisecond
	liveViewInterval = 500 * time.Millisecond
)

// steps is the number of headings the story prints.
const steps = 8

// Run runs the demo: it starts a fleet in opts.Dir, tells the story on
// opts.Out and checks its outcome. It returns nil only when every outcome
// was as it should be. The fleet is stopped before Run returns; with Keep it
// first stays up until ctx ends.
func Run(ctx context.Context, opts Options) error {
	if err := opts.validate(); err != nil {
		return err
	}
	started := time.Now()
	n := newNarrator(opts.Out, steps)
	shown := displayPath(opts.Dir)
	n.say("Flotilla demo: a hub and %d member clusters on this machine, a Promise, two teams, and two changes rolled out", memberCount)
	n.say("wave by wave: a good one, then a bad one that rolls back by itself. Everything lands in %s.", shown)
	n.say("The commands shown run against the hub with KUBECONFIG=%s (kubectl: bin/kube/kubectl).",
		filepath.Join(shown, devenv.HubKubeconfig))

	if err := writeAssets(opts.Dir); err != nil {
		return err
	}
	n.heading("A fleet: one hub and five member clusters",
		"The hub runs Flotilla's API and controllers. Each member is a real control plane (etcd, kube-apiserver,",
		"controller-manager, scheduler) with kwok nodes, joined with `flotilla join` and served by its pull agent.",
		"Each member's Cluster is labelled with its wave: pilot (1), canary (2), general (2).")
	n.cmd(fmt.Sprintf("flotilla dev up --members %d --dir %s   # the same fleet, without the wave labels", memberCount, shown),
		"kubectl get clusters -L "+waveLabel)
	env, err := devenv.Up(ctx, devenv.Options{
		Dir:          opts.Dir,
		Members:      memberCount,
		Nodes:        1,
		BinDir:       opts.BinDir,
		MemberLabels: func(i int) map[string]string { return map[string]string{waveLabel: waveOf(i)} },
	})
	if err != nil {
		return fmt.Errorf("starting the fleet: %w", err)
	}
	defer func() {
		n.say("\nStopping the fleet; its logs stay in %s.", shown)
		env.Stop()
	}()

	d, err := newDemo(env, n, shown)
	if err == nil {
		err = d.story(ctx, started)
	}
	if err != nil {
		err = fmt.Errorf("%w\nlogs: %s, %s", err, filepath.Join(shown, "hub", "controller.log"), filepath.Join(shown, "member-*", "agent.log"))
	} else {
		n.say("\nThe demo ended as it should, in %s.", time.Since(started).Round(time.Second))
	}
	if opts.Keep {
		keep(ctx, env, opts.Out, cmp.Or(opts.DashboardAddress, DefaultDashboardAddress))
	}
	return err
}

// story plays the demo on a running fleet, step by step.
func (d *demo) story(ctx context.Context, started time.Time) error {
	if err := d.clustersUp(ctx, started); err != nil {
		return err
	}
	if err := d.rules(ctx); err != nil {
		return err
	}
	if err := d.promise(ctx); err != nil {
		return err
	}
	if err := d.instances(ctx); err != nil {
		return err
	}
	good, err := d.goodChange(ctx)
	if err != nil {
		return err
	}
	if err := d.approve(ctx, good); err != nil {
		return err
	}
	bad, err := d.badChange(ctx)
	if err != nil {
		return err
	}
	return d.aftermath(ctx, bad)
}

// displayPath is path as the user should type it: relative to the working
// directory when it is below it, else absolute.
func displayPath(path string) string {
	abs, err := filepath.Abs(path)
	if err != nil {
		return path
	}
	wd, err := os.Getwd()
	if err != nil {
		return abs
	}
	rel, err := filepath.Rel(wd, abs)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return abs
	}
	return rel
}
