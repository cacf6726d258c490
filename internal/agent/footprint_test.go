package agent

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/testenv"
)

// TestFootprint measures the agent binary's RSS and CPU with 50 Works of 10
// resources each (500 objects), idle and during a full re-apply. It takes
// minutes, so it only runs when FLOTILLA_AGENT_FOOTPRINT is set (to the idle
// window to measure, e.g. 5m); docs/agent.md records the results.
// FLOTILLA_AGENT_FOOTPRINT_ARGS adds agent flags (e.g. --drift-watch=false,
// to compare). With FLOTILLA_AGENT_FOOTPRINT_CHECK=1 (make bench-agent-check)
// the first Work carries one agent-placed metric check measured every 30 s
// against a real Prometheus on loopback (issue 17: the idle footprint with
// one such check stays under the agent's targets).
func TestFootprint(t *testing.T) {
	idleWindow, err := time.ParseDuration(os.Getenv("FLOTILLA_AGENT_FOOTPRINT"))
	if err != nil {
		t.Skip("set FLOTILLA_AGENT_FOOTPRINT=5m to measure the agent's footprint")
	}
	var check *fleetv1alpha1.WorkCheck
	if os.Getenv("FLOTILLA_AGENT_FOOTPRINT_CHECK") != "" {
		check = footprintCheck(t)
	}
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	e.ctx = ctx
	const cluster, works, perWork = "footprint", 50, 10
	hubCreds := e.join(t, cluster)
	dir := t.TempDir()
	bin := filepath.Join(dir, "flotilla")
	// The agent build (-tags agent, static) is what members run, as `make
	// build-agent` builds it: see docs/agent.md.
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
	cmd.Args = append(cmd.Args, strings.Fields(os.Getenv("FLOTILLA_AGENT_FOOTPRINT_ARGS"))...)
	logFile, err := os.Create(filepath.Join(dir, "agent.log"))
	mustf(t, err, "creating log")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	mustf(t, cmd.Start(), "starting agent")
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	})

	names := make([]string, works)
	for i := range works {
		ns := fmt.Sprintf("fp-%02d", i)
		objs := []any{namespaceObj(ns), deploymentObj(ns, 1)}
		for j := 0; len(objs) < perWork; j++ {
			objs = append(objs, configMapObj(ns, fmt.Sprintf("cm-%d", j), map[string]string{"key": strings.Repeat("v", 200)}))
		}
		names[i] = fmt.Sprintf("work-%02d", i)
		w := work(cluster, names[i], objs...)
		if check != nil && i == 0 {
			w.Spec.Checks = []fleetv1alpha1.WorkCheck{*check}
		}
		mustf(t, e.hubClient.Create(e.ctx, w), "creating work")
	}
	waitAll := func(rev string) {
		waitFor(t, 5*time.Minute, "every work Ready at "+rev, func() (bool, string) {
			for _, n := range names {
				w, err := e.getWork(t, cluster, n)
				if err != nil {
					return false, err.Error()
				}
				if w.Status.AppliedRevision != rev || !conditionTrue(w.Status.Conditions, fleetv1alpha1.ConditionReady) || w.Status.ObservedGeneration != w.Generation {
					return false, n + ": " + describeStatus(w)
				}
			}
			return true, ""
		})
	}
	start := time.Now()
	waitAll("rev-1")
	t.Logf("initial apply of %d works / %d objects took %s", works, works*perWork, time.Since(start).Round(100*time.Millisecond))

	// Idle: heartbeats, watch and health re-checks at their default intervals.
	time.Sleep(30 * time.Second) // let the first re-checks settle
	measured := func() int32 {
		if check == nil {
			return 0
		}
		w, err := e.getWork(t, cluster, names[0])
		mustf(t, err, "reading the checked work")
		for _, s := range w.Status.Checks {
			if s.Name == check.Name {
				if s.Decisive != nil || s.Failures > 0 || s.Inconclusives > 0 {
					t.Errorf("the footprint check did not pass every measurement: %s", describeAny(s))
				}
				return s.Measurements
			}
		}
		t.Fatalf("no state for the footprint check: %s", describeAny(w.Status.Checks))
		return 0
	}
	measured0 := measured()
	cpu0, wall0 := cpuSeconds(t, cmd.Process.Pid), time.Now()
	time.Sleep(idleWindow)
	idleMillicores := (cpuSeconds(t, cmd.Process.Pid) - cpu0) / time.Since(wall0).Seconds() * 1000
	if check != nil {
		t.Logf("the metric check was measured %d times in the idle window (every %s)", measured()-measured0, check.Interval.Duration)
	}
	mem := memoryKiB(t, cmd.Process.Pid)
	body := httpGet(t, "http://"+metricsAddr+"/metrics")
	t.Logf("idle over %s: %.2f millicores; RSS %.1f MiB (anonymous %.1f MiB, file-backed %.1f MiB), peak so far %.1f MiB; Go heap in use %.1f MiB",
		idleWindow, idleMillicores, mib(mem["VmRSS"]), mib(mem["RssAnon"]), mib(mem["RssFile"]), mib(mem["VmHWM"]),
		metricValue(t, body, "go_memstats_heap_inuse_bytes")/(1<<20))

	// Full re-apply: every Work gets a new revision.
	cpu1, wall1 := cpuSeconds(t, cmd.Process.Pid), time.Now()
	for _, n := range names {
		e.updateWork(t, workRef(cluster, n), func(w *fleetv1alpha1.Work) { w.Spec.Revision = "rev-2" })
	}
	waitAll("rev-2")
	took := time.Since(wall1)
	cpu := cpuSeconds(t, cmd.Process.Pid) - cpu1
	mem = memoryKiB(t, cmd.Process.Pid)
	t.Logf("full re-apply of %d objects: %s, %.2f CPU seconds (%.0f millicores on average); RSS %.1f MiB (anonymous %.1f MiB), peak RSS %.1f MiB",
		works*perWork, took.Round(100*time.Millisecond), cpu, cpu/took.Seconds()*1000, mib(mem["VmRSS"]), mib(mem["RssAnon"]), mib(mem["VmHWM"]))
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

// footprintCheck is one agent-placed metric check, every 30 s, against a real
// Prometheus on loopback (Debian's, installed when missing) that scrapes a
// tiny exporter in the test process, not the agent: scraping the agent would
// add its own cost to what is measured.
func footprintCheck(t *testing.T) *fleetv1alpha1.WorkCheck {
	t.Helper()
	bin := testenv.NeedDebianPackage(t, "prometheus", testenv.PrometheusBinary)
	app := testenv.StartMetricExporter(t)
	app.Set("footprint", 0.01)
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
