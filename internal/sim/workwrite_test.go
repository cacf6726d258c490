package sim

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
)

// BenchmarkWorkWrite measures what one Work write costs the hub's API server
// (and etcd), in CPU time per write, for each way a Work is written during a
// change: the hub's update of the spec and the agent's report of its status.
// A cluster-wide watch of Works (the hub's informer) and one watch per
// namespace (the agents') receive every event, as in a fleet. With
// FLOTILLA_BENCH_PROFILE_DIR set it writes the API server's CPU profile of
// each kind of write there.
//
//	go test -run '^$' -bench BenchmarkWorkWrite -benchtime 2048x ./internal/sim/
func BenchmarkWorkWrite(b *testing.B) {
	ctx := context.Background()
	cp, err := StartControlPlane(ctx, b.TempDir(), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = cp.Stop() })
	procs := map[string]int{}
	for _, pid := range cp.PIDs() {
		procs[ProcessName(pid)] = pid
	}
	kc := kubernetes.NewForConfigOrDie(cp.RESTConfig)
	cfg := *cp.RESTConfig
	cfg.QPS, cfg.Burst = 5000, 5000
	dc := dynamic.NewForConfigOrDie(&cfg)
	works := schema.GroupVersionResource{Group: "fleet.flotilla.dev", Version: "v1alpha1", Resource: "works"}

	data, err := os.ReadFile("testdata/work.json")
	if err != nil {
		b.Fatal(err)
	}
	const namespaces, perNamespace = 128, 8 // 1,024 Works: each writer goroutine keeps its own
	stored := make([]*unstructured.Unstructured, 0, namespaces*perNamespace)
	for n := range namespaces {
		ns := fmt.Sprintf("flotilla-cluster-b%03d", n)
		if _, err := kc.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			b.Fatal(err)
		}
		watchWorks(ctx, b, dc.Resource(works).Namespace(ns))
		for i := range perNamespace {
			w := &unstructured.Unstructured{}
			if err := json.Unmarshal(data, &w.Object); err != nil {
				b.Fatal(err)
			}
			w.SetNamespace(ns)
			w.SetName(fmt.Sprintf("%s-%d", w.GetName(), i))
			status := w.Object["status"]
			created, err := dc.Resource(works).Namespace(ns).Create(ctx, w, metav1.CreateOptions{})
			if err != nil {
				b.Fatal(err)
			}
			created.Object["status"] = status
			if created, err = dc.Resource(works).Namespace(ns).UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
				b.Fatal(err)
			}
			stored = append(stored, created)
		}
	}
	watchWorks(ctx, b, dc.Resource(works))

	writes := map[string]func(ctx context.Context, w *unstructured.Unstructured, flip bool) (*unstructured.Unstructured, error){
		"spec-update": func(ctx context.Context, w *unstructured.Unstructured, flip bool) (*unstructured.Unstructured, error) {
			image := "registry.example/web:2.0"
			if flip {
				image = "registry.example/web:3.0"
			}
			manifests, _, _ := unstructured.NestedSlice(w.Object, "spec", "manifests")
			_ = unstructured.SetNestedField(manifests[0].(map[string]any), []any{map[string]any{"name": "web", "image": image}},
				"spec", "template", "spec", "containers")
			_ = unstructured.SetNestedSlice(w.Object, manifests, "spec", "manifests")
			return dc.Resource(works).Namespace(w.GetNamespace()).Update(ctx, w, metav1.UpdateOptions{})
		},
		"status-update": func(ctx context.Context, w *unstructured.Unstructured, flip bool) (*unstructured.Unstructured, error) {
			setReady(w, flip)
			return dc.Resource(works).Namespace(w.GetNamespace()).UpdateStatus(ctx, w, metav1.UpdateOptions{})
		},
		"status-merge-patch": func(ctx context.Context, w *unstructured.Unstructured, flip bool) (*unstructured.Unstructured, error) {
			setReady(w, flip)
			patch, err := json.Marshal(map[string]any{
				"metadata": map[string]any{"resourceVersion": w.GetResourceVersion()},
				"status":   w.Object["status"],
			})
			if err != nil {
				return nil, err
			}
			return dc.Resource(works).Namespace(w.GetNamespace()).Patch(ctx, w.GetName(), types.MergePatchType, patch, metav1.PatchOptions{}, "status")
		},
	}
	for _, name := range []string{"spec-update", "status-update", "status-merge-patch"} {
		write := writes[name]
		b.Run(name, func(b *testing.B) {
			const parallel = 16
			time.Sleep(2 * time.Second) // the watches drain the last run's events
			before := map[string]ProcStats{}
			for p, pid := range procs {
				before[p], _ = ReadProc(pid)
			}
			profiled := profileAPIServer(ctx, b, kc, name)
			b.ResetTimer()
			var wg sync.WaitGroup
			errs := make(chan error, parallel)
			for g := range parallel {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := g; i < b.N; i += parallel {
						k := i % len(stored)
						w := stored[k].DeepCopy()
						w.SetManagedFields(nil) // the hub and the agent keep none
						out, err := write(ctx, w, (i/len(stored))%2 == 0)
						if err != nil {
							errs <- err
							return
						}
						stored[k] = out
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			close(errs)
			for err := range errs {
				b.Fatal(err)
			}
			time.Sleep(2 * time.Second) // the watches' events are part of the cost
			<-profiled
			for p, pid := range procs {
				after, _ := ReadProc(pid)
				b.ReportMetric(float64((after.CPU-before[p].CPU).Microseconds())/float64(b.N), p+"-cpu-µs/op")
			}
		})
	}
}

func setReady(w *unstructured.Unstructured, flip bool) {
	conditions, _, _ := unstructured.NestedSlice(w.Object, "status", "conditions")
	c := conditions[2].(map[string]any)
	c["status"], c["reason"], c["message"] = "True", "Succeeded", "revision sim-web-8c9ba5dde6 applied and healthy"
	if flip {
		c["status"], c["reason"], c["message"] = "False", "Progressing", "1/1 applied, waiting for health"
	}
	_ = unstructured.SetNestedSlice(w.Object, conditions, "status", "conditions")
}

// watchWorks drains a watch of Works until the benchmark ends.
func watchWorks(ctx context.Context, b *testing.B, ri dynamic.ResourceInterface) {
	ctx, cancel := context.WithCancel(ctx)
	b.Cleanup(cancel)
	w, err := ri.Watch(ctx, metav1.ListOptions{})
	if err != nil {
		b.Fatal(err)
	}
	go func() {
		for range w.ResultChan() {
		}
	}()
}

// profileAPIServer writes a 10 s CPU profile of the API server to
// $FLOTILLA_BENCH_PROFILE_DIR/<name>.pprof when that is set.
func profileAPIServer(ctx context.Context, b *testing.B, kc kubernetes.Interface, name string) <-chan struct{} {
	done := make(chan struct{})
	dir := os.Getenv("FLOTILLA_BENCH_PROFILE_DIR")
	if dir == "" {
		close(done)
		return done
	}
	go func() {
		defer close(done)
		data, err := kc.CoreV1().RESTClient().Get().AbsPath("/debug/pprof/profile").Param("seconds", "10").Timeout(time.Minute).DoRaw(ctx)
		if err == nil {
			err = os.WriteFile(filepath.Join(dir, name+".pprof"), data, 0o600)
		}
		if err != nil {
			b.Logf("profiling the API server: %v", err)
		}
	}()
	return done
}
