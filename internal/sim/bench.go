package sim

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// Benchmark modes: how the Promise change rolls out.
const (
	// ModeImmediate: updatePolicy Immediate, every cluster at once.
	ModeImmediate = "immediate"
	// ModeWaves: three waves (LabelWave 1, 2, 3), no bake, no approvals.
	ModeWaves = "waves"
)

// BenchOptions describe one benchmark run.
type BenchOptions struct {
	// Fleet is the simulated fleet (Dir: where everything goes).
	Fleet Options
	// Mode is ModeImmediate or ModeWaves.
	Mode string
	// HubBinary is the flotilla binary run as `flotilla hub`.
	HubBinary string
	// SteadyWindow is how long request counts are sampled at steady state; 0 skips it.
	SteadyWindow time.Duration
	// Settle is how long to wait after the rollout before sampling.
	Settle time.Duration
	// Progress receives one line per step.
	Progress io.Writer
	// HeapProfile, when set, is where the simulator's heap profile is
	// written after the rollout (what the agents cost, by allocation site).
	HeapProfile string
	// CPUProfileDir, when set, receives CPU profiles of the hub controller
	// and kube-apiserver taken over CPUProfileWindow from the Promise change
	// (hub-controller.pprof, kube-apiserver.pprof).
	CPUProfileDir    string
	CPUProfileWindow time.Duration
	// APIServerArgs are extra flags for the hub's kube-apiserver.
	APIServerArgs []string
	// HubMemoryLimit, when positive, is the hub controller's Go memory limit
	// in bytes (GOMEMLIMIT), as a container's memory limit sets it.
	HubMemoryLimit int64
}

// BenchResult is what a benchmark run measured.
type BenchResult struct {
	Clusters, Offline, Failing int
	Mode                       string
	// Join is how long joining every cluster took (agents started as they joined).
	Join time.Duration
	// FirstReady is from requesting the instance until every running agent
	// reported the first revision Ready.
	FirstReady time.Duration
	// Rollout is from the Promise change until every running agent reported
	// the new revision applied and Ready; RolloutEnded until the Rollout's
	// phase was terminal (as the driver saw it; it polls every 250 ms).
	Rollout, RolloutEnded time.Duration
	Phase                 fleetv1alpha1.RolloutPhase
	// RolloutCPU is each process's CPU time during the rollout; Total its
	// CPU and peak RSS over the whole run.
	RolloutCPU map[string]time.Duration
	Total      map[string]ProcStats
	// RequestsPerClusterMinute is apiserver_request_total's growth over the
	// steady window, per cluster per minute (every client: agents, hub
	// controller, the driver's watch).
	RequestsPerClusterMinute float64
	// JoinRequests, FirstRequests and RolloutRequests count the API
	// server's requests while the fleet joined, the first revision rolled out
	// and the change rolled out; their Refused ones were answered 429 Too
	// Many Requests (the server's in-flight limit: an overloaded server, and
	// the clients retry).
	JoinRequests, FirstRequests, RolloutRequests RequestCounts
	// PerAgent is the simulator's heap and stacks per running agent after
	// the rollout (GC'd), and SimRSS the simulator's RSS.
	PerAgent int64
	SimRSS   int64
	// LoadBefore and LoadAfter are the machine's 1-minute load average at the
	// start and end: other work on the machine skews every figure.
	LoadBefore, LoadAfter string
}

// Bench starts a hub control plane and a separate hub controller process,
// joins a simulated fleet, creates a Promise and an instance, changes the
// Promise and measures the rollout, the processes' CPU and memory and the
// steady-state request rate.
func Bench(ctx context.Context, o BenchOptions) (*BenchResult, error) {
	if o.Mode != ModeImmediate && o.Mode != ModeWaves {
		return nil, fmt.Errorf("mode %q: must be %s or %s", o.Mode, ModeImmediate, ModeWaves)
	}
	fo := o.Fleet.Default()
	if err := fo.Validate(); err != nil {
		return nil, fmt.Errorf("invalid simulator options: %w", err)
	}
	out := o.Progress
	if out == nil {
		out = io.Discard
	}
	step := func(format string, args ...any) {
		fmt.Fprintf(out, "%s  %s\n", time.Now().Format(time.TimeOnly), fmt.Sprintf(format, args...))
	}
	if err := os.MkdirAll(fo.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating %s: %w", fo.Dir, err)
	}

	step("starting the hub control plane in %s", filepath.Join(fo.Dir, "hub"))
	cp, err := StartControlPlane(ctx, filepath.Join(fo.Dir, "hub"), o.APIServerArgs)
	if err != nil {
		return nil, err
	}
	defer func() { _ = cp.Stop() }()
	procs := map[string]int{}
	for _, pid := range cp.PIDs() {
		procs[ProcessName(pid)] = pid
	}
	var hubArgs []string
	var profiler *cpuProfiler
	if o.CPUProfileDir != "" {
		if err := os.MkdirAll(o.CPUProfileDir, 0o700); err != nil {
			return nil, fmt.Errorf("creating %s: %w", o.CPUProfileDir, err)
		}
		addr, err := freeLocalAddr()
		if err != nil {
			return nil, err
		}
		kc, err := kubernetes.NewForConfig(cp.RESTConfig)
		if err != nil {
			return nil, err
		}
		profiler = &cpuProfiler{dir: o.CPUProfileDir, hubPprof: addr, apiserver: kc.CoreV1().RESTClient()}
		hubArgs = append(hubArgs, "--pprof-bind-address", addr)
	}
	var hubEnv []string
	if o.HubMemoryLimit > 0 {
		hubEnv = append(hubEnv, "GOMEMLIMIT="+strconv.FormatInt(o.HubMemoryLimit, 10))
	}
	hc, err := StartHubProcess(o.HubBinary, cp.KubeconfigPath, filepath.Join(fo.Dir, "hub-controller.log"), hubEnv, hubArgs...)
	if err != nil {
		return nil, err
	}
	defer func() { _ = hc.Stop() }()
	procs["hub-controller"] = hc.PID
	for _, name := range []string{"etcd", "kube-apiserver", "hub-controller"} {
		if procs[name] == 0 {
			return nil, fmt.Errorf("no %s process found among %v", name, procs)
		}
	}
	procs["simulator"] = os.Getpid()
	cpu := func() map[string]time.Duration {
		m := map[string]time.Duration{}
		for name, pid := range procs {
			if st, err := ReadProc(pid); err == nil {
				m[name] = st.CPU
			}
		}
		return m
	}

	agentLog, err := os.OpenFile(filepath.Join(fo.Dir, "agents.log"), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening the agents' log: %w", err)
	}
	defer func() { _ = agentLog.Close() }()
	fleetCtx := logr.NewContext(ctx, zap.New(zap.WriteTo(agentLog), zap.UseDevMode(false)))

	res := &BenchResult{Clusters: fo.Clusters, Mode: o.Mode, LoadBefore: loadAverage()}
	for _, c := range Plan(fo) {
		if c.Offline {
			res.Offline++
		} else if c.Failing {
			res.Failing++
		}
	}
	kc, err := kubernetes.NewForConfig(cp.RESTConfig)
	if err != nil {
		return nil, err
	}
	// counted reads the API server's request counts and returns those since
	// the last call.
	var lastCounts RequestCounts
	counted := func() (RequestCounts, error) {
		now, err := requestCounts(ctx, kc)
		since := now.Sub(lastCounts)
		lastCounts = now
		return since, err
	}
	if _, err := counted(); err != nil {
		return nil, err
	}
	step("joining %d clusters (%d offline, %d failing)", fo.Clusters, res.Offline, res.Failing)
	start := time.Now()
	last := time.Now()
	fleet, err := Join(fleetCtx, cp.RESTConfig, fo, func(n int) {
		if time.Since(last) > 10*time.Second {
			last = time.Now()
			step("joined %d/%d", n, fo.Clusters)
		}
	})
	if err != nil {
		return nil, err
	}
	defer fleet.Stop()
	res.Join = time.Since(start)
	if res.JoinRequests, err = counted(); err != nil {
		return nil, err
	}
	step("joined %d clusters in %s; API requests %s", fo.Clusters, res.Join.Round(time.Millisecond), res.JoinRequests)

	sc, err := NewScenario(ctx, cp.RESTConfig, fo.Prefix)
	if err != nil {
		return nil, err
	}
	defer sc.Close()
	var strategy *fleetv1alpha1.RolloutStrategySpec
	policy := fleetv1alpha1.UpdatePolicy{Mode: fleetv1alpha1.UpdateModeProgressive}
	deadline := &metav1.Duration{Duration: 10 * time.Minute}
	if o.Mode == ModeImmediate {
		policy = fleetv1alpha1.UpdatePolicy{Mode: fleetv1alpha1.UpdateModeImmediate, Reason: "fleet simulator benchmark"}
		strategy = &fleetv1alpha1.RolloutStrategySpec{
			OfflinePolicy: fleetv1alpha1.OfflineSkip,
			Waves:         []fleetv1alpha1.Wave{{Name: "all", ProgressDeadline: deadline}},
			Immediate:     &fleetv1alpha1.ImmediatePolicy{ProgressDeadline: deadline},
		}
	} else {
		strategy = &fleetv1alpha1.RolloutStrategySpec{OfflinePolicy: fleetv1alpha1.OfflineSkip}
		budget := intstr.FromString("100%")
		for i := 1; i <= 3; i++ {
			strategy.Waves = append(strategy.Waves, fleetv1alpha1.Wave{
				Name:             "wave-" + strconv.Itoa(i),
				Selector:         &fleetv1alpha1.WaveSelector{MatchLabels: map[string]string{LabelWave: strconv.Itoa(i)}},
				MaxFailures:      &budget,
				ProgressDeadline: deadline,
			})
		}
	}
	online := fo.Clusters - res.Offline
	start = time.Now()
	v1, err := sc.Setup(ctx, "registry.example/web:1.0", strategy, policy)
	if err != nil {
		return nil, err
	}
	if res.FirstReady, err = sc.WaitWorksReady(ctx, v1, online, 20*time.Minute); err != nil {
		return nil, err
	}
	res.FirstReady = time.Since(start)
	if res.FirstRequests, err = counted(); err != nil {
		return nil, err
	}
	step("first revision ready on %d clusters in %s; API requests %s", online, res.FirstReady.Round(time.Millisecond), res.FirstRequests)

	before := cpu()
	start = time.Now()
	if profiler != nil {
		window := o.CPUProfileWindow
		if window <= 0 {
			window = 30 * time.Second
		}
		step("profiling the hub controller and kube-apiserver for %s into %s", window, o.CPUProfileDir)
		profiler.start(ctx, window)
	}
	name, err := sc.ChangeImage(ctx, "registry.example/web:2.0")
	if err != nil {
		return nil, err
	}
	var target string
	err = poll(ctx, 5*time.Minute, "rollout "+name+" to start", func() (bool, error) {
		ro, err := sc.Rollout(ctx, name)
		if ro != nil {
			target = ro.Spec.TargetRevision
		}
		return target != "", err
	})
	if err != nil {
		return nil, err
	}
	// Clusters that cannot run the change never report it Ready.
	if res.Rollout, err = sc.WaitWorksReady(ctx, target, online-res.Failing, 30*time.Minute); err != nil {
		return nil, err
	}
	res.Rollout = time.Since(start)
	step("new revision ready on %d clusters in %s", online-res.Failing, res.Rollout.Round(time.Millisecond))
	ro, err := sc.WaitRolloutTerminal(ctx, name, 30*time.Minute)
	if err != nil {
		return nil, err
	}
	res.RolloutEnded, res.Phase = time.Since(start), ro.Status.Phase
	after := cpu()
	if res.RolloutRequests, err = counted(); err != nil {
		return nil, err
	}
	res.RolloutCPU = map[string]time.Duration{}
	for n, t := range after {
		res.RolloutCPU[n] = t - before[n]
	}
	step("rollout %s %s in %s; API requests %s; writes: %s", name, ro.Status.Phase, res.RolloutEnded.Round(time.Millisecond), res.RolloutRequests, res.RolloutRequests.WritesString())
	if profiler != nil {
		if err := profiler.wait(); err != nil {
			return nil, err
		}
		// The hub's live heap (after a forced collection) with every Work
		// of both revisions cached.
		if err := profiler.fetchHub(ctx, "heap?gc=1", "hub-controller-heap.pprof"); err != nil {
			return nil, err
		}
		step("wrote CPU profiles and the hub controller's heap profile to %s", o.CPUProfileDir)
	}

	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	if running := fleet.Running(); running > 0 {
		res.PerAgent = int64(ms.HeapInuse+ms.StackInuse) / int64(running)
	}
	if o.HeapProfile != "" {
		if err := writeHeapProfile(o.HeapProfile); err != nil {
			return nil, err
		}
	}

	if o.SteadyWindow > 0 {
		step("settling %s, then counting requests for %s", o.Settle, o.SteadyWindow)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(o.Settle):
		}
		r0, err := requestCounts(ctx, kc)
		if err != nil {
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(o.SteadyWindow):
		}
		r1, err := requestCounts(ctx, kc)
		if err != nil {
			return nil, err
		}
		steady := r1.Sub(r0)
		res.RequestsPerClusterMinute = steady.Total / float64(fo.Clusters) / o.SteadyWindow.Minutes()
		step("%s requests in %s: %.2f per cluster per minute", steady, o.SteadyWindow, res.RequestsPerClusterMinute)
	}

	res.Total = map[string]ProcStats{}
	for n, pid := range procs {
		if st, err := ReadProc(pid); err == nil {
			res.Total[n] = st
		}
	}
	res.SimRSS = res.Total["simulator"].RSS
	res.LoadAfter = loadAverage()
	return res, nil
}

// RequestCounts is how many requests the API server answered, and how many
// of them it refused with 429 Too Many Requests; Writes counts the
// mutating ones by "resource[/subresource] VERB".
type RequestCounts struct {
	Total, Refused float64
	Writes         map[string]float64
}

// Sub is the count of requests between an earlier reading and this one.
func (c RequestCounts) Sub(earlier RequestCounts) RequestCounts {
	d := RequestCounts{Total: c.Total - earlier.Total, Refused: c.Refused - earlier.Refused}
	for k, v := range c.Writes {
		if n := v - earlier.Writes[k]; n > 0 {
			if d.Writes == nil {
				d.Writes = map[string]float64{}
			}
			d.Writes[k] = n
		}
	}
	return d
}

// WritesString lists the mutating requests by resource and verb, most first.
func (c RequestCounts) WritesString() string {
	keys := make([]string, 0, len(c.Writes))
	for k := range c.Writes {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if c.Writes[keys[i]] != c.Writes[keys[j]] {
			return c.Writes[keys[i]] > c.Writes[keys[j]]
		}
		return keys[i] < keys[j]
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %.0f", k, c.Writes[k])
	}
	return strings.Join(parts, ", ")
}

func (c RequestCounts) String() string {
	return fmt.Sprintf("%.0f (%.0f refused 429)", c.Total, c.Refused)
}

// requestCounts reads apiserver_request_total from the API server's metrics.
func requestCounts(ctx context.Context, kc kubernetes.Interface) (RequestCounts, error) {
	data, err := kc.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return RequestCounts{}, fmt.Errorf("reading the API server's metrics: %w", err)
	}
	total, found, err := sumRequests(data, "")
	if err == nil && !found {
		err = errors.New("no apiserver_request_total in the API server's metrics")
	}
	if err != nil {
		return RequestCounts{}, err
	}
	// No sample with code 429 is none refused yet.
	refused, _, err := sumRequests(data, `code="429"`)
	if err != nil {
		return RequestCounts{}, err
	}
	writes, err := writesByResource(data)
	return RequestCounts{Total: total, Refused: refused, Writes: writes}, err
}

// writesByResource sums apiserver_request_total's mutating samples (POST,
// PUT, PATCH, DELETE) by "resource[/subresource] VERB".
func writesByResource(data []byte) (map[string]float64, error) {
	const name = "apiserver_request_total{"
	label := func(labels, key string) string {
		i := strings.Index(labels, ","+key+"=\"")
		if i < 0 {
			if !strings.HasPrefix(labels, key+"=\"") {
				return ""
			}
			i = -1
		}
		rest := labels[i+len(key)+3:]
		if j := strings.IndexByte(rest, '"'); j >= 0 {
			return rest[:j]
		}
		return ""
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name) {
			continue
		}
		end := strings.LastIndexByte(line, '}')
		i := strings.LastIndexByte(line, ' ')
		if end < 0 || i < end {
			return nil, fmt.Errorf("parsing %q: no value", line)
		}
		labels := line[len(name):end]
		verb := label(labels, "verb")
		switch verb {
		case "POST", "PUT", "PATCH", "DELETE":
		default:
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			return nil, fmt.Errorf("parsing %q: %w", line, err)
		}
		key := label(labels, "resource")
		if sub := label(labels, "subresource"); sub != "" {
			key += "/" + sub
		}
		out[key+" "+verb] += v
	}
	return out, sc.Err()
}

// sumRequests adds up the samples of apiserver_request_total in Prometheus
// text format whose labels contain label (every sample when label is
// empty), and says whether there was any.
func sumRequests(data []byte, label string) (float64, bool, error) {
	const name = "apiserver_request_total"
	var sum float64
	found := false
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			return 0, false, fmt.Errorf("parsing %q: no value", line)
		}
		if label != "" && !strings.Contains(line[:i], label) {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			return 0, false, fmt.Errorf("parsing %q: %w", line, err)
		}
		sum += v
		found = true
	}
	if err := sc.Err(); err != nil {
		return 0, false, err
	}
	return sum, found, nil
}

// Table renders a result as Markdown rows: what, figure.
func (r *BenchResult) Table() string {
	var b strings.Builder
	row := func(what, figure string) { fmt.Fprintf(&b, "| %s | %s |\n", what, figure) }
	b.WriteString("| what | figure |\n|---|---|\n")
	row("clusters (offline, failing)", fmt.Sprintf("%d (%d, %d)", r.Clusters, r.Offline, r.Failing))
	row("mode", r.Mode)
	row("join every cluster", r.Join.Round(time.Millisecond).String())
	row("first revision Ready everywhere", r.FirstReady.Round(time.Millisecond).String())
	row("Promise change until every cluster reports it Ready", r.Rollout.Round(time.Millisecond).String())
	row("Promise change until the Rollout is "+string(r.Phase), r.RolloutEnded.Round(time.Millisecond).String())
	for _, n := range []string{"hub-controller", "kube-apiserver", "etcd", "simulator"} {
		st := r.Total[n]
		row(n+" CPU during the rollout / whole run", fmt.Sprintf("%.1f s / %.1f s", r.RolloutCPU[n].Seconds(), st.CPU.Seconds()))
		row(n+" peak RSS", mib(st.PeakRSS))
	}
	row("API requests during join / first revision / the change", fmt.Sprintf("%s / %s / %s", r.JoinRequests, r.FirstRequests, r.RolloutRequests))
	if len(r.RolloutRequests.Writes) > 0 {
		row("API writes during the change, by resource", r.RolloutRequests.WritesString())
	}
	row("simulator heap+stacks per running agent", fmt.Sprintf("%.1f KiB", float64(r.PerAgent)/1024))
	if r.RequestsPerClusterMinute > 0 {
		row("API requests per cluster per minute at steady state", fmt.Sprintf("%.2f", r.RequestsPerClusterMinute))
	}
	row("machine load average (1 min) at start / end", r.LoadBefore+" / "+r.LoadAfter)
	return b.String()
}

func mib(b int64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }

// loadAverage is the machine's 1-minute load average, "?" when unknown.
func loadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	fields := strings.Fields(string(data))
	if len(fields) == 0 {
		return "?"
	}
	return fields[0]
}

func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("creating the heap profile: %w", err)
	}
	if err := pprof.WriteHeapProfile(f); err != nil {
		_ = f.Close()
		return fmt.Errorf("writing the heap profile: %w", err)
	}
	return f.Close()
}
