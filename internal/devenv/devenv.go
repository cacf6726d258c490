// Package devenv runs a local fleet for development and demos: one hub and N
// member control planes on loopback, built on testenv, with their kubeconfigs
// written to one directory. `flotilla dev up` and `flotilla dev down` wrap it.
package devenv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/flotilla-dev/flotilla/config/crd"
	"github.com/flotilla-dev/flotilla/internal/testenv"
)

// Files written into the environment directory.
const (
	HubKubeconfig = "hub.kubeconfig"
	ReadyFile     = "READY"
	PIDFile       = "dev.pid"
)

// MaxMembers bounds --members: each full member costs ~300 MiB of memory.
const MaxMembers = 20

// Options describe the environment to start.
type Options struct {
	// Dir receives the kubeconfigs, READY and every control plane's files.
	Dir string
	// Members is the number of member clusters (0 is a hub alone).
	Members int
	// Nodes is the number of kwok nodes per member.
	Nodes int
	// BinDir holds the control-plane binaries; empty means testenv.BinDir().
	BinDir string
	// NoControllers starts the control planes only: no hub controller, no agents.
	NoControllers bool
	// HeartbeatInterval is every agent's heartbeat period; the hub marks a
	// member Offline after three missed ones.
	HeartbeatInterval time.Duration
	// ResyncInterval is how often agents re-check health without a change.
	ResyncInterval time.Duration
	// MemberLabels, when set, gives the i-th member (1-based, as in MemberName)
	// extra Cluster labels at join time, merged over the default ones
	// (env=dev, member=<name>); tests use it to sort members into rollout waves.
	MemberLabels func(i int) map[string]string
}

// Defaults for a development fleet: quicker than production, so a stopped
// agent shows up as Offline while you watch.
const (
	DefaultHeartbeatInterval = 5 * time.Second
	DefaultResyncInterval    = 30 * time.Second
)

// Validate checks the options before anything starts.
func (o Options) Validate() error {
	if o.Dir == "" {
		return errors.New("--dir is required")
	}
	if o.Members < 0 || o.Members > MaxMembers {
		return fmt.Errorf("--members must be between 0 and %d, got %d", MaxMembers, o.Members)
	}
	if o.Nodes < 1 || o.Nodes > 100 {
		return fmt.Errorf("--nodes must be between 1 and 100, got %d", o.Nodes)
	}
	if o.HeartbeatInterval < 0 || o.ResyncInterval < 0 {
		return errors.New("intervals must not be negative")
	}
	return nil
}

// MemberName names the i-th member (1-based), as in member-1.kubeconfig.
func MemberName(i int) string { return "member-" + strconv.Itoa(i) }

// Env is a running development environment.
type Env struct {
	Dir     string
	Hub     *testenv.ControlPlane
	Members []*testenv.ControlPlane

	ctrl *controllers // nil with NoControllers
}

// Up starts the hub and members in parallel, installs Flotilla's CRDs on the
// hub, writes DIR/hub.kubeconfig, DIR/member-N.kubeconfig and finally DIR/READY.
// A second Up on a directory whose environment still runs is refused.
func Up(ctx context.Context, opts Options) (*Env, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("resolving --dir: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating %s: %w", dir, err)
	}
	if pid, running := runningPID(dir); running {
		return nil, fmt.Errorf("an environment already runs in %s (pid %d): run `flotilla dev down --dir %s` first", dir, pid, opts.Dir)
	}
	_ = os.Remove(filepath.Join(dir, ReadyFile))
	if err := os.WriteFile(filepath.Join(dir, PIDFile), []byte(strconv.Itoa(os.Getpid())+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("writing pid file: %w", err)
	}

	env := &Env{Dir: dir, Members: make([]*testenv.ControlPlane, opts.Members)}
	if err := env.start(ctx, opts); err != nil {
		env.Stop()
		return nil, err
	}
	return env, nil
}

func (e *Env) start(ctx context.Context, opts Options) error {
	crds, err := crd.CRDs()
	if err != nil {
		return fmt.Errorf("loading CRDs: %w", err)
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	startOne := func(opts testenv.Options, assign func(*testenv.ControlPlane)) {
		defer wg.Done()
		cp, err := testenv.Start(ctx, opts)
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			errs = append(errs, err)
			return
		}
		assign(cp)
	}
	wg.Add(1 + opts.Members)
	go startOne(testenv.Options{Name: "hub", Role: testenv.RoleHub, Dir: filepath.Join(e.Dir, "hub"), BinDir: opts.BinDir},
		func(cp *testenv.ControlPlane) { e.Hub = cp })
	for i := range opts.Members {
		name := MemberName(i + 1)
		go startOne(testenv.Options{Name: name, Role: testenv.RoleMember, Dir: filepath.Join(e.Dir, name), Nodes: opts.Nodes, BinDir: opts.BinDir},
			func(cp *testenv.ControlPlane) { e.Members[i] = cp })
	}
	wg.Wait()
	if len(errs) > 0 {
		return errors.Join(errs...)
	}

	if err := e.Hub.InstallCRDs(ctx, crds); err != nil {
		return fmt.Errorf("installing CRDs on the hub: %w", err)
	}
	if !opts.NoControllers {
		if opts.HeartbeatInterval == 0 {
			opts.HeartbeatInterval = DefaultHeartbeatInterval
		}
		if opts.ResyncInterval == 0 {
			opts.ResyncInterval = DefaultResyncInterval
		}
		if err := e.startControllers(ctx, opts); err != nil {
			return err
		}
	}
	if err := copyFile(e.Hub.KubeconfigPath, filepath.Join(e.Dir, HubKubeconfig)); err != nil {
		return err
	}
	for _, m := range e.Members {
		if err := copyFile(m.KubeconfigPath, filepath.Join(e.Dir, m.Name+".kubeconfig")); err != nil {
			return err
		}
	}
	return os.WriteFile(filepath.Join(e.Dir, ReadyFile), []byte(e.Summary()), 0o600)
}

// Summary describes what runs, one control plane a line.
func (e *Env) Summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-10s %-8s %-24s %s\n", "NAME", "ROLE", "SERVER", "KUBECONFIG")
	fmt.Fprintf(&b, "%-10s %-8s %-24s %s\n", "hub", "hub", e.Hub.Server, filepath.Join(e.Dir, HubKubeconfig))
	for _, m := range e.Members {
		fmt.Fprintf(&b, "%-10s %-8s %-24s %s\n", m.Name, "member", m.Server, filepath.Join(e.Dir, m.Name+".kubeconfig"))
	}
	if e.ctrl != nil {
		fmt.Fprintf(&b, "in-process: the hub controller (log: %s) and %d joined agents (logs: %s)\n",
			filepath.Join(e.Dir, "hub", "controller.log"), len(e.Members), filepath.Join(e.Dir, "member-*", "agent.log"))
	}
	return b.String()
}

// Stop stops every control plane and removes READY and the pid file. Control
// plane directories are kept for their logs.
func (e *Env) Stop() {
	if e.ctrl != nil {
		_ = e.ctrl.stop()
	}
	var wg sync.WaitGroup
	for _, cp := range append([]*testenv.ControlPlane{e.Hub}, e.Members...) {
		if cp == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = cp.Stop()
		}()
	}
	wg.Wait()
	_ = os.Remove(filepath.Join(e.Dir, ReadyFile))
	_ = os.Remove(filepath.Join(e.Dir, PIDFile))
}

// Down stops the environment running in dir: it sends SIGTERM to the `dev up`
// process, which stops its control planes in order, and waits for it to exit.
// Its children die with it in any case (Pdeathsig), so a SIGKILL after the
// grace period still leaves nothing behind.
func Down(ctx context.Context, dir string, grace time.Duration) error {
	pid, running := runningPID(dir)
	if !running {
		_ = os.Remove(filepath.Join(dir, ReadyFile))
		_ = os.Remove(filepath.Join(dir, PIDFile))
		return nil
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		return fmt.Errorf("stopping pid %d: %w", pid, err)
	}
	if waitGone(ctx, pid, grace) {
		return nil
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
	if !waitGone(ctx, pid, 10*time.Second) {
		return fmt.Errorf("pid %d did not exit", pid)
	}
	_ = os.Remove(filepath.Join(dir, ReadyFile))
	_ = os.Remove(filepath.Join(dir, PIDFile))
	return nil
}

// runningPID reads dir's pid file and reports whether that process is alive.
func runningPID(dir string) (int, bool) {
	data, err := os.ReadFile(filepath.Join(dir, PIDFile))
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 0 {
		return 0, false
	}
	return pid, testenv.ProcessAlive(pid)
}

func waitGone(ctx context.Context, pid int, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for testenv.ProcessAlive(pid) {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
	return true
}

func copyFile(from, to string) error {
	data, err := os.ReadFile(from)
	if err != nil {
		return fmt.Errorf("reading %s: %w", from, err)
	}
	if err := os.WriteFile(to, data, 0o600); err != nil {
		return fmt.Errorf("writing %s: %w", to, err)
	}
	return nil
}
