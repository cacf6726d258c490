package agent

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/testenv"
)

// TestAgentBench is the agent's benchmark (issue 20): the agent build
// (-tags agent, static, as `make build-agent` builds it) as its own process,
// with its production defaults, against a real hub and a real kwok member
// from internal/testenv, managing 50 Works of 10 objects each (a Namespace, a
// Deployment of 1 replica, 8 ConfigMaps). It measures
//
//  1. time to green: from the Works' creation to every object on the member,
//     every Work reported Applied, every Deployment available and every Work
//     reported Ready on the hub; then one more Work, from its Deployment
//     available on the member to Ready on the hub;
//  2. at rest: RSS, CPU and the agent's requests to the member and the hub
//     over an idle window (5m30s holds one resync at the default interval);
//  3. a full re-apply: every Work gets a new revision.
//
// It prints one table, which docs/benchmarks.md records, so that later
// changes are compared on the same harness. Requests are the agent's own
// count (flotilla_agent_api_requests_total). It takes minutes, so it runs only
// when FLOTILLA_AGENT_BENCH is set to the idle window.
// FLOTILLA_AGENT_BENCH_ARGS adds agent flags (e.g. --resync-interval=20s or
// --drift-watch=false); FLOTILLA_AGENT_BENCH_CHECK=1 puts one agent-placed
// metric check, measured every 30 s against a real Prometheus on loopback,
// on the first Work (issue 17's footprint with a check).
func TestAgentBench(t *testing.T) {
	idleWindow, err := time.ParseDuration(os.Getenv("FLOTILLA_AGENT_BENCH"))
	if err != nil {
		t.Skip("set FLOTILLA_AGENT_BENCH=5m30s to run the agent's benchmark (make bench-agent)")
	}
	extraArgs := strings.Fields(os.Getenv("FLOTILLA_AGENT_BENCH_ARGS"))
	var check *fleetv1alpha1.WorkCheck
	if os.Getenv("FLOTILLA_AGENT_BENCH_CHECK") != "" {
		check = benchCheck(t)
	}
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	e.ctx = ctx
	const cluster, works, perWork = "bench", 50, 10
	ag := startAgentProcess(t, e, cluster, extraArgs)
	waitFor(t, time.Minute, "agent connected to the hub", func() (bool, string) {
		resp, err := http.Get("http://" + ag.metricsAddr + "/metrics") //nolint:gosec,noctx // test URL on loopback
		if err != nil {
			return false, err.Error()
		}
		_ = resp.Body.Close()
		return metricValue(t, httpGet(t, "http://"+ag.metricsAddr+"/metrics"), "flotilla_agent_hub_connected") == 1, "not yet"
	})
	table := &benchTable{}
	table.add("agent", fmt.Sprintf("the agent build, its own process, flags %q", extraArgs))

	// 1. Time to green.
	requests0 := ag.requests(t)
	mc := e.memberClient(t)
	names := make([]string, works)
	start := time.Now()
	for i := range works {
		ns := fmt.Sprintf("bench-%02d", i)
		objs := []any{namespaceObj(ns), deploymentObj(ns, 1)}
		for j := 0; len(objs) < perWork; j++ {
			objs = append(objs, configMapObj(ns, fmt.Sprintf("cm-%d", j), map[string]string{"key": strings.Repeat("v", 200)}))
		}
		names[i] = fmt.Sprintf("work-%02d", i)
		w := work(cluster, names[i], objs...)
		if check != nil && i == 0 {
			w.Spec.Checks = []fleetv1alpha1.WorkCheck{*check}
		}
		mustf(t, e.hubClient.Create(ctx, w), "creating work")
	}
	g := waitGreen(t, e, mc, cluster, "bench-", "rev-1", works, perWork, start)
	green := ag.requests(t).minus(requests0)
	table.add(fmt.Sprintf("all %d objects exist on the member", works*perWork), seconds(g.onMember))
	table.add(fmt.Sprintf("all %d Works reported Applied on the hub", works), seconds(g.applied))
	table.add(fmt.Sprintf("all %d Deployments available on the member (the member's pace)", works), seconds(g.available))
	table.add(fmt.Sprintf("all %d Works reported Ready on the hub", works), fmt.Sprintf("%s (%s after the last Deployment)", seconds(g.ready), seconds(g.ready-g.available)))
	table.add("member requests until Ready", fmt.Sprintf("%d (%.1f per object): %s", green.total(serverMember), float64(green.total(serverMember))/(works*perWork), green.describe(serverMember)))
	table.add("hub requests until Ready", fmt.Sprintf("%d: %s", green.total(serverHub), green.describe(serverHub)))

	const one = "extra-one" // not "bench-": waitGreen counts those
	start = time.Now()
	mustf(t, e.hubClient.Create(ctx, work(cluster, "work-one", namespaceObj(one), deploymentObj(one, 1))), "creating work")
	var oneAvailable, oneReady time.Duration
	for oneAvailable == 0 || oneReady == 0 {
		if time.Since(start) > time.Minute {
			t.Fatalf("one work not ready after a minute: available %s, ready %s", oneAvailable, oneReady)
		}
		if oneAvailable == 0 {
			var d appsv1.Deployment
			if err := mc.Get(ctx, client.ObjectKey{Namespace: one, Name: "web"}, &d); err == nil && deploymentAvailable(&d) {
				oneAvailable = time.Since(start)
			}
		}
		if oneReady == 0 {
			if w, err := e.getWork(t, cluster, "work-one"); err == nil && w.Status.ObservedGeneration == w.Generation &&
				conditionTrue(w.Status.Conditions, fleetv1alpha1.ConditionReady) {
				oneReady = time.Since(start)
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	table.add("one Work: Ready on the hub after its Deployment is available", seconds(oneReady-oneAvailable))

	// 2. At rest: heartbeats, the drift watch and resyncs at their intervals.
	time.Sleep(30 * time.Second) // the re-checks of convergence
	measured := func() int32 {
		if check == nil {
			return 0
		}
		w, err := e.getWork(t, cluster, names[0])
		mustf(t, err, "reading the checked work")
		for _, s := range w.Status.Checks {
			if s.Name == check.Name {
				if s.Decisive != nil || s.Failures > 0 || s.Inconclusives > 0 {
					t.Errorf("the benchmark's check did not pass every measurement: %s", describeAny(s))
				}
				return s.Measurements
			}
		}
		t.Fatalf("no state for the benchmark's check: %s", describeAny(w.Status.Checks))
		return 0
	}
	measured0, requests1 := measured(), ag.requests(t)
	cpu0, wall0 := cpuSeconds(t, ag.pid), time.Now()
	rss := sampleRSS(t, ag.pid, idleWindow)
	idle := time.Since(wall0)
	millicores := (cpuSeconds(t, ag.pid) - cpu0) / idle.Seconds() * 1000
	atRest := ag.requests(t).minus(requests1)
	mem := memoryKiB(t, ag.pid)
	heap := metricValue(t, httpGet(t, "http://"+ag.metricsAddr+"/metrics"), "go_memstats_heap_inuse_bytes") / (1 << 20)
	perMinute := func(n int) float64 { return float64(n) / idle.Minutes() }
	table.add("idle RSS (anonymous + file-backed); Go heap in use", fmt.Sprintf("%.1f MiB (%.1f + %.1f); %.1f MiB",
		mib(mem["VmRSS"]), mib(mem["RssAnon"]), mib(mem["RssFile"]), heap))
	table.add("RSS across the window at rest (sampled every second): mean, max", fmt.Sprintf("%.1f MiB, %.1f MiB", rss.mean, rss.max))
	table.add(fmt.Sprintf("idle CPU over %s (resync every %s)", idle.Round(time.Second), resyncInterval(extraArgs)), fmt.Sprintf("%.2f millicores", millicores))
	table.add("member requests at idle", fmt.Sprintf("%d (%.2f a minute): %s", atRest.total(serverMember), perMinute(atRest.total(serverMember)), atRest.describe(serverMember)))
	table.add("hub requests at idle", fmt.Sprintf("%d (%.2f a minute): %s", atRest.total(serverHub), perMinute(atRest.total(serverHub)), atRest.describe(serverHub)))
	if check != nil {
		table.add("check measurements at idle", fmt.Sprintf("%d (every %s)", measured()-measured0, check.Interval.Duration))
	}

	// 3. A full re-apply: every Work gets a new revision.
	cpu1, start := cpuSeconds(t, ag.pid), time.Now()
	for _, n := range names {
		e.updateWork(t, workRef(cluster, n), func(w *fleetv1alpha1.Work) { w.Spec.Revision = "rev-2" })
	}
	r := waitGreen(t, e, mc, cluster, "bench-", "rev-2", works, perWork, start)
	cpu := cpuSeconds(t, ag.pid) - cpu1
	mem = memoryKiB(t, ag.pid)
	table.add("full re-apply (a new revision on every Work) until Ready", fmt.Sprintf("%s, %.2f CPU seconds; peak RSS of the run %.1f MiB",
		seconds(r.ready), cpu, mib(mem["VmHWM"])))
	t.Logf("load average at the end: %s", loadAverage())
	t.Log("\n" + table.String())
}

// agentProcess is the agent build running as its own process.
type agentProcess struct {
	pid         int
	metricsAddr string
}

// startAgentProcess builds the agent build and runs it for cluster (joined
// here) with its production defaults plus extraArgs, until the test ends.
func startAgentProcess(t *testing.T, e *env, cluster string, extraArgs []string) agentProcess {
	t.Helper()
	hubCreds := e.join(t, cluster)
	dir := t.TempDir()
	bin := filepath.Join(dir, "flotilla")
	build := exec.Command("go", "build", "-tags", "agent", "-o", bin, "github.com/flotilla-dev/flotilla/cmd/flotilla")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building flotilla: %v\n%s", err, out)
	}
	hubKubeconfig := filepath.Join(dir, "hub.kubeconfig")
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["hub"] = &clientcmdapi.Cluster{Server: hubCreds.Host, CertificateAuthorityData: hubCreds.CAData}
	cfg.AuthInfos["agent"] = &clientcmdapi.AuthInfo{Token: hubCreds.BearerToken}
	cfg.Contexts["hub"] = &clientcmdapi.Context{Cluster: "hub", AuthInfo: "agent"}
	cfg.CurrentContext = "hub"
	mustf(t, clientcmd.WriteToFile(*cfg, hubKubeconfig), "writing hub kubeconfig")

	metricsAddr := testenv.FreeAddr(t)
	cmd := exec.Command(bin, "agent", "--cluster", cluster, "--hub-kubeconfig", hubKubeconfig,
		"--kubeconfig", e.member.KubeconfigPath, "--state-dir", filepath.Join(dir, "state"),
		"--metrics-bind-address", metricsAddr, "--health-probe-bind-address", "0")
	cmd.Args = append(cmd.Args, extraArgs...)
	logFile, err := os.Create(filepath.Join(dir, "agent.log"))
	mustf(t, err, "creating log")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	mustf(t, cmd.Start(), "starting agent")
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	})
	return agentProcess{pid: cmd.Process.Pid, metricsAddr: metricsAddr}
}

// requests reads the agent's request counts from its metrics.
func (a agentProcess) requests(t *testing.T) requestCounts {
	t.Helper()
	return parseRequestCounts(httpGet(t, "http://"+a.metricsAddr+"/metrics"))
}

// requestCounts are flotilla_agent_api_requests_total's samples, by server
// and verb.
type requestCounts map[[2]string]int

// parseRequestCounts reads flotilla_agent_api_requests_total from a
// Prometheus text exposition.
func parseRequestCounts(body string) requestCounts {
	out := requestCounts{}
	for _, line := range strings.Split(body, "\n") {
		labels, ok := strings.CutPrefix(line, "flotilla_agent_api_requests_total{")
		if !ok {
			continue
		}
		labels, value, ok := strings.Cut(labels, "} ")
		if !ok {
			continue
		}
		var server, verb string
		for _, kv := range strings.Split(labels, ",") {
			k, v, _ := strings.Cut(kv, "=")
			v = strings.Trim(v, `"`)
			switch k {
			case "server":
				server = v
			case "verb":
				verb = v
			}
		}
		n, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if err == nil {
			out[[2]string{server, verb}] = int(n)
		}
	}
	return out
}

func (c requestCounts) minus(before requestCounts) requestCounts {
	out := requestCounts{}
	for k, n := range c {
		if d := n - before[k]; d != 0 {
			out[k] = d
		}
	}
	return out
}

func (c requestCounts) total(server string) int {
	n := 0
	for k, v := range c {
		if k[0] == server {
			n += v
		}
	}
	return n
}

// describe lists server's counts by verb, largest first.
func (c requestCounts) describe(server string) string {
	type count struct {
		verb string
		n    int
	}
	var counts []count
	for k, v := range c {
		if k[0] == server {
			counts = append(counts, count{k[1], v})
		}
	}
	slices.SortFunc(counts, func(a, b count) int {
		if a.n != b.n {
			return b.n - a.n
		}
		return strings.Compare(a.verb, b.verb)
	})
	parts := make([]string, len(counts))
	for i, c := range counts {
		parts[i] = fmt.Sprintf("%s %d", c.verb, c.n)
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// greenTimes are when, after a start, every object of the Works was on the
// member, every Work Applied, every Deployment available, every Work Ready.
type greenTimes struct{ onMember, applied, available, ready time.Duration }

// waitGreen polls the member and the hub every 50 ms until the works Works
// of cluster (namespaces with prefix on the member) are Ready at revision.
// On the member it counts objects, whatever their revision: after a first
// apply, onMember and available are at once.
func waitGreen(t *testing.T, e *env, mc client.Client, cluster, prefix, revision string, works, perWork int, start time.Time) greenTimes {
	t.Helper()
	var g greenTimes
	selector := client.HasLabels{fleetv1alpha1.LabelWork}
	for g.onMember == 0 || g.available == 0 || g.applied == 0 || g.ready == 0 {
		if time.Since(start) > 5*time.Minute {
			t.Fatalf("not green after 5 minutes: %+v", g)
		}
		if g.onMember == 0 || g.available == 0 {
			var cms corev1.ConfigMapList
			var deps appsv1.DeploymentList
			mustf(t, mc.List(e.ctx, &cms, selector), "listing configmaps")
			mustf(t, mc.List(e.ctx, &deps, selector), "listing deployments")
			nCM, nDep, nAvailable := 0, 0, 0
			for _, c := range cms.Items {
				if strings.HasPrefix(c.Namespace, prefix) {
					nCM++
				}
			}
			for _, d := range deps.Items {
				if !strings.HasPrefix(d.Namespace, prefix) {
					continue
				}
				nDep++
				if deploymentAvailable(&d) {
					nAvailable++
				}
			}
			if g.onMember == 0 && nCM == works*(perWork-2) && nDep == works {
				g.onMember = time.Since(start)
			}
			if g.available == 0 && nAvailable == works {
				g.available = time.Since(start)
			}
		}
		var list fleetv1alpha1.WorkList
		mustf(t, e.hubClient.List(e.ctx, &list, client.InNamespace(fleetv1alpha1.ClusterNamespace(cluster))), "listing works")
		nApplied, nReady := 0, 0
		for _, w := range list.Items {
			if w.Status.ObservedGeneration != w.Generation || w.Status.AppliedRevision != revision {
				continue
			}
			if conditionTrue(w.Status.Conditions, fleetv1alpha1.ConditionApplied) {
				nApplied++
			}
			if conditionTrue(w.Status.Conditions, fleetv1alpha1.ConditionReady) {
				nReady++
			}
		}
		if g.applied == 0 && nApplied == works {
			g.applied = time.Since(start)
		}
		if g.ready == 0 && nReady == works {
			g.ready = time.Since(start)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return g
}

// benchTable is the benchmark's result, printed as a Markdown table.
type benchTable struct{ rows [][2]string }

func (b *benchTable) add(what, figure string) { b.rows = append(b.rows, [2]string{what, figure}) }

func (b *benchTable) String() string {
	var s strings.Builder
	s.WriteString("| what | figure |\n|---|---|\n")
	for _, r := range b.rows {
		fmt.Fprintf(&s, "| %s | %s |\n", r[0], r[1])
	}
	return s.String()
}

func seconds(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }

// resyncInterval is the --resync-interval among args, or the default.
func resyncInterval(args []string) string {
	for i, a := range args {
		if v, ok := strings.CutPrefix(a, "--resync-interval="); ok {
			return v
		}
		if a == "--resync-interval" && i+1 < len(args) {
			return args[i+1]
		}
	}
	return DefaultResyncInterval.String()
}

func loadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	return strings.Join(strings.Fields(string(data))[:3], " ")
}

// deploymentAvailable: the Deployment's controller has seen its spec and
// says it is available, as kstatus would judge it Current.
func deploymentAvailable(d *appsv1.Deployment) bool {
	if d.Status.ObservedGeneration != d.Generation || d.Spec.Replicas == nil ||
		d.Status.UpdatedReplicas != *d.Spec.Replicas || d.Status.AvailableReplicas != *d.Spec.Replicas {
		return false
	}
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentAvailable && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

// memberClient is a controller-runtime client of the member, as the admin.
func (e *env) memberClient(t *testing.T) client.Client {
	t.Helper()
	c, err := client.New(e.member.RESTConfig, client.Options{})
	mustf(t, err, "member client")
	return c
}

// cpuSeconds is the user+system CPU time of a process so far.
func cpuSeconds(t *testing.T, pid int) float64 {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	mustf(t, err, "reading stat")
	// Fields after the command name (which may contain spaces) in parentheses.
	fields := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+2:]))
	utime, _ := strconv.ParseFloat(fields[11], 64)
	stime, _ := strconv.ParseFloat(fields[12], 64)
	const clockTicks = 100 // USER_HZ on Linux
	return (utime + stime) / clockTicks
}

func mib(kib int) float64 { return float64(kib) / 1024 }

// rssOverWindow is a process's RSS sampled across a window, in MiB: a single
// sample at the end of the window would miss what a resync inside it grows.
type rssOverWindow struct{ mean, max float64 }

// sampleRSS samples a process's RSS every second for the window.
func sampleRSS(t *testing.T, pid int, window time.Duration) rssOverWindow {
	t.Helper()
	var sum, peak float64
	n := 0
	for end := time.Now().Add(window); time.Now().Before(end); time.Sleep(time.Second) {
		v := mib(memoryKiB(t, pid)["VmRSS"])
		sum += v
		peak = max(peak, v)
		n++
	}
	return rssOverWindow{mean: sum / float64(max(n, 1)), max: peak}
}

// memoryKiB returns a process's memory figures from /proc/PID/status, in KiB:
// VmRSS, VmHWM (peak RSS), RssAnon, RssFile.
func memoryKiB(t *testing.T, pid int) map[string]int {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	mustf(t, err, "reading status")
	defer func() { _ = f.Close() }()
	out := map[string]int{}
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) < 2 {
			continue
		}
		v, _ := strconv.Atoi(fields[1])
		out[strings.TrimSuffix(fields[0], ":")] = v
	}
	return out
}

// benchCheck is one agent-placed metric check, every 30 s, against a real
// Prometheus on loopback (Debian's, installed when missing) that scrapes a
// tiny exporter in the test process, not the agent: scraping the agent would
// add its own cost to what is measured.
func benchCheck(t *testing.T) *fleetv1alpha1.WorkCheck {
	t.Helper()
	bin := testenv.NeedDebianPackage(t, "prometheus", testenv.PrometheusBinary)
	app := testenv.StartMetricExporter(t)
	app.Set("bench", 0.01)
	prom := testenv.StartPrometheus(t, bin, app.Target())
	const query = `max(app_error_ratio)`
	app.WaitScraped(t)
	return &fleetv1alpha1.WorkCheck{Rollout: "web", Wave: "canary", Check: fleetv1alpha1.Check{
		Name:      "error-rate",
		Interval:  &metav1.Duration{Duration: 30 * time.Second},
		Metric:    &fleetv1alpha1.MetricCheck{Placement: fleetv1alpha1.CheckOnAgent, Address: prom.URL, Query: query},
		Condition: "result[0] < 0.05",
	}}
}
