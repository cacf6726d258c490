package instance_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/controller/promise/promisetest"
	"github.com/flotilla-dev/flotilla/internal/hub"
	"github.com/flotilla-dev/flotilla/internal/kube"
)

// BenchmarkPromiseChange1000Instances measures the time from a change to a
// Promise's templates to every one of its instances re-rendered, with its
// Work written to the hub's API server at the new revision: 1,000 instances
// (FLOTILLA_BENCH_INSTANCES) on one cluster (FLOTILLA_BENCH_CLUSTERS), a
// real kube-apiserver and etcd, the hub as `flotilla hub` runs it. Each
// iteration changes the template once. Run it with `make bench-promise`.
func BenchmarkPromiseChange1000Instances(b *testing.B) {
	f := setupBench(b)
	cur := &fleetv1alpha1.Promise{}
	b.ResetTimer()
	var total time.Duration
	for range b.N {
		// Change what the Promise renders: a new revision for every instance.
		f.changes++
		cpu := processCPU(b)
		requests := requestCounts(b)
		renders := f.renders(b)
		start := time.Now()
		if err := f.c.Get(context.Background(), client.ObjectKey{Name: "bench-db"}, cur); err != nil {
			b.Fatal(err)
		}
		cur.Spec.Templates.GoTemplates[0].Template = f.template + fmt.Sprintf("  change: %q\n", strconv.Itoa(f.changes))
		if err := f.c.Update(context.Background(), cur); err != nil {
			b.Fatal(err)
		}
		var next string
		eventually(b, time.Minute, "a new revision", func() (bool, string) {
			if err := f.c.Get(context.Background(), client.ObjectKey{Name: "bench-db"}, cur); err != nil {
				return false, err.Error()
			}
			next = cur.Status.LatestRevision
			return next != f.rev, next
		})
		f.counter.wait(b, next, f.works)
		elapsed := time.Since(start)
		total += elapsed
		used := processCPU(b).sub(cpu)
		sent := requestCounts(b).sub(requests)
		rendered := f.renders(b) - renders
		// The rest of the change: every instance's status reports the new revision.
		b.StopTimer()
		f.statuses.wait(b, next, f.instances)
		settled := time.Since(start)
		// Renders that come late count too. (The Rollout does not end: no
		// Git server takes the pushes, so the Works report no health.)
		time.Sleep(3 * time.Second)
		all := f.renders(b) - renders
		b.Logf("change %d: %d Works at %s after %s, instance statuses after %s (CPU until Works: hub and benchmark %s, kube-apiserver %s, etcd %s; hub requests: %v; renders until Works %.0f, 3 s after the statuses %.0f: %.2f per Work)",
			f.changes, f.works, next, elapsed.Round(time.Millisecond), settled.Round(time.Millisecond),
			used.self.Round(time.Millisecond), used.apiserver.Round(time.Millisecond), used.etcd.Round(time.Millisecond), sent,
			rendered, all, all/float64(f.works))
		f.rev = next
		b.StartTimer()
	}
	b.ReportMetric(total.Seconds()/float64(b.N), "s/change")
	b.ReportMetric(float64(f.works*b.N)/total.Seconds(), "works/s")
}

// benchFixture is the fleet the benchmark changes. Go runs a benchmark
// function more than once (b.N = 1 first), so it is built once and its hub
// runs until the process ends.
type benchFixture struct {
	c         client.Client
	counter   *revisionCounter
	template  string
	statuses  *revisionCounter
	rev       string
	works     int
	instances int
	changes   int
	// registry holds the hub's own metrics (renders counted).
	registry *prometheus.Registry
}

// renders is how many (instance, cluster) renders the hub has done.
func (f *benchFixture) renders(tb testing.TB) float64 {
	tb.Helper()
	families, err := f.registry.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	for _, fam := range families {
		if fam.GetName() == "flotilla_render_duration_seconds" {
			for _, m := range fam.GetMetric() {
				return float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return 0
}

var (
	benchOnce sync.Once
	bench     *benchFixture
)

func setupBench(b *testing.B) *benchFixture {
	benchOnce.Do(func() {
		instances := envInt(b, "FLOTILLA_BENCH_INSTANCES", 1000)
		clusters := envInt(b, "FLOTILLA_BENCH_CLUSTERS", 1)
		e := &promisetest.Env{TB: b, Ctx: context.Background(), C: adminClient(b)}
		ctx := context.Background()
		// controller-runtime's global logger (used by the caches below) stays quiet.
		ctrl.SetLogger(logr.Discard())
		if path := os.Getenv("FLOTILLA_BENCH_LOG"); path != "" {
			logFile, err := os.Create(path)
			if err != nil {
				b.Fatal(err)
			}
			ctx = ctrl.LoggerInto(ctx, zap.New(zap.WriteTo(logFile)))
		}
		registry := prometheus.NewRegistry()
		go func() {
			opts := hub.Options{MetricsAddr: "0", ProbeAddr: "0", MetricsRegistry: registry}
			_ = hub.Run(ctx, hubCP.RESTConfig, opts)
		}()
		const group, kind = "bench.example.com", "Bench"
		// Git-delivered clusters without a health source count as online
		// with no agent, so the Promise change's Rollout admits them at once
		// (no RolloutStrategy: one wave, every cluster): the benchmark times
		// the whole path, Rollout included.
		for i := range clusters {
			name := fmt.Sprintf("bench-%d", i)
			e.Namespace(fleetv1alpha1.ClusterNamespace(name), nil)
			e.Create(&fleetv1alpha1.Cluster{
				ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"story": "bench"}},
				Spec: fleetv1alpha1.ClusterSpec{Delivery: fleetv1alpha1.Delivery{Mode: fleetv1alpha1.DeliveryGit,
					Git: &fleetv1alpha1.GitDelivery{URL: "https://git.example.com/fleet.git", HealthSource: fleetv1alpha1.GitHealthNone}}},
			})
		}
		e.Fleet("bench", map[string]string{"story": "bench"}, "bench-team")
		e.Namespace("bench-team", nil)
		p := configMapPromise("bench-db", group, kind, "bench")
		e.Create(p)
		f := &benchFixture{c: e.C, template: p.Spec.Templates.GoTemplates[0].Template, works: instances * clusters, instances: instances,
			registry: registry}
		f.rev = e.PromiseReady("bench-db")
		// Count Works by revision with a metadata-only informer (the revision is a label).
		f.counter = watchWorkRevisions(b, "bench-db")
		f.statuses = watchInstanceRevisions(b, group, kind)
		fast := rest.CopyConfig(hubCP.RESTConfig)
		fast.QPS, fast.Burst = 1000, 2000
		c, err := client.New(fast, client.Options{Scheme: kube.NewScheme()})
		if err != nil {
			b.Fatal(err)
		}
		var wg sync.WaitGroup
		var failed atomic.Int32
		sem := make(chan struct{}, 32)
		for i := range instances {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer func() { <-sem; wg.Done() }()
				if err := c.Create(e.Ctx, instance(group, kind, "bench-team", fmt.Sprintf("db-%04d", i), map[string]any{"size": "small"})); err != nil {
					failed.Add(1)
				}
			}()
		}
		wg.Wait()
		if failed.Load() > 0 {
			b.Fatalf("%d instances not created", failed.Load())
		}
		f.counter.wait(b, f.rev, f.works)
		f.statuses.wait(b, f.rev, f.instances)
		bench = f
	})
	if bench == nil {
		b.Fatal("the benchmark fixture failed to build")
	}
	return bench
}

// requests counts this process's API requests by method (client-go's metric).
type requests map[string]float64

func requestCounts(tb testing.TB) requests {
	tb.Helper()
	families, err := metrics.Registry.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	out := requests{}
	for _, f := range families {
		if f.GetName() != "rest_client_requests_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "method" {
					out[l.GetValue()] += m.GetCounter().GetValue()
				}
			}
		}
	}
	return out
}

func (r requests) sub(o requests) requests {
	out := requests{}
	for k, v := range r {
		if d := v - o[k]; d > 0 {
			out[k] = d
		}
	}
	return out
}

// cpuTimes is CPU time used by this process and by the hub's control plane.
type cpuTimes struct{ self, apiserver, etcd time.Duration }

func (a cpuTimes) sub(b cpuTimes) cpuTimes {
	return cpuTimes{a.self - b.self, a.apiserver - b.apiserver, a.etcd - b.etcd}
}

// processCPU reads user+system CPU time from /proc (Linux; zero elsewhere).
func processCPU(tb testing.TB) cpuTimes {
	tb.Helper()
	read := func(pid string) (time.Duration, string) {
		stat, err := os.ReadFile("/proc/" + pid + "/stat")
		if err != nil {
			return 0, ""
		}
		s := string(stat)
		i := strings.LastIndexByte(s, ')')
		comm := s[strings.IndexByte(s, '(')+1 : i]
		fields := strings.Fields(s[i+2:])
		utime, _ := strconv.ParseInt(fields[11], 10, 64)
		stime, _ := strconv.ParseInt(fields[12], 10, 64)
		return time.Duration(utime+stime) * time.Second / 100, comm // USER_HZ is 100 on Linux
	}
	var t cpuTimes
	t.self, _ = read("self")
	for _, pid := range hubCP.PIDs() {
		d, comm := read(strconv.Itoa(pid))
		switch {
		case strings.Contains(comm, "apiserver"):
			t.apiserver += d
		case strings.Contains(comm, "etcd"):
			t.etcd += d
		}
	}
	return t
}

func envInt(tb testing.TB, name string, def int) int {
	tb.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		tb.Fatalf("%s=%q: want a positive integer", name, v)
	}
	return n
}

// revisionCounter counts a Promise's Works by their revision label, or its
// instances by status.revision.
type revisionCounter struct {
	mu    sync.Mutex
	byRev map[string]map[string]bool // revision -> namespace/name
	work  map[string]string          // namespace/name -> revision
}

func (rc *revisionCounter) set(obj any, deleted bool) {
	if d, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	m, ok := obj.(client.Object)
	if !ok {
		return
	}
	rev := m.GetLabels()[fleetv1alpha1.LabelRevision]
	if u, ok := obj.(*unstructured.Unstructured); ok {
		rev, _, _ = unstructured.NestedString(u.Object, "status", "revision")
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	key := m.GetNamespace() + "/" + m.GetName()
	if old, ok := rc.work[key]; ok {
		delete(rc.byRev[old], key)
		delete(rc.work, key)
	}
	if deleted {
		return
	}
	if rc.byRev[rev] == nil {
		rc.byRev[rev] = map[string]bool{}
	}
	rc.byRev[rev][key] = true
	rc.work[key] = rev
}

func (rc *revisionCounter) count(rev string) int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.byRev[rev])
}

func (rc *revisionCounter) wait(tb testing.TB, rev string, want int) {
	const within = 5 * time.Minute
	tb.Helper()
	deadline := time.Now().Add(within)
	for rc.count(rev) < want {
		if time.Now().After(deadline) {
			tb.Fatalf("only %d of %d Works at %s after %s", rc.count(rev), want, rev, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// watchInstanceRevisions counts instances by status.revision.
func watchInstanceRevisions(tb testing.TB, group, kind string) *revisionCounter {
	tb.Helper()
	cc, err := cache.New(hubCP.RESTConfig, cache.Options{Scheme: kube.NewScheme()})
	if err != nil {
		tb.Fatal(err)
	}
	ctx := context.Background()
	go func() { _ = cc.Start(ctx) }()
	inf, err := cc.GetInformer(ctx, instance(group, kind, "", "", nil))
	if err != nil {
		tb.Fatal(err)
	}
	return countWith(tb, inf)
}

func countWith(tb testing.TB, inf cache.Informer) *revisionCounter {
	tb.Helper()
	rc := &revisionCounter{byRev: map[string]map[string]bool{}, work: map[string]string{}}
	if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { rc.set(obj, false) },
		UpdateFunc: func(_, obj any) { rc.set(obj, false) },
		DeleteFunc: func(obj any) { rc.set(obj, true) },
	}); err != nil {
		tb.Fatal(err)
	}
	return rc
}

func watchWorkRevisions(tb testing.TB, promise string) *revisionCounter {
	tb.Helper()
	sel := labels.SelectorFromSet(labels.Set{fleetv1alpha1.LabelPromise: promise})
	cc, err := cache.New(hubCP.RESTConfig, cache.Options{
		Scheme:               kube.NewScheme(),
		DefaultLabelSelector: sel,
	})
	if err != nil {
		tb.Fatal(err)
	}
	// Like the fixture's hub, it runs until the process ends.
	ctx := context.Background()
	go func() { _ = cc.Start(ctx) }()
	meta := &metav1.PartialObjectMetadata{}
	meta.SetGroupVersionKind(fleetv1alpha1.GroupVersion.WithKind("Work"))
	inf, err := cc.GetInformer(ctx, meta)
	if err != nil {
		tb.Fatal(err)
	}
	return countWith(tb, inf)
}
