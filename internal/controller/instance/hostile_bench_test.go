package instance_test

import (
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/controller/promise/promisetest"
	"github.com/flotilla-dev/flotilla/internal/hub"
)

// hostileInstances is how many instances try to exhaust the hub's renderer.
const hostileInstances = 16

// BenchmarkBenignInstanceAmongHostileOnes measures how long a benign
// tenant's new instance takes to get its Work while 16 hostile instances of
// the same Promise — whose template ranges over an instance integer set to
// 2^40 — are re-rendered at the same moment. Without a render budget those
// renders never end and hold the hub's workers; with it each is stopped
// (Ready=False, RenderBudgetExceeded) and the benign Work appears within a
// few budgets. It reports s/benign (to the benign Work) and s/refused (to
// every hostile instance reporting RenderBudgetExceeded again).
//
// It is skipped unless FLOTILLA_BENCH_HOSTILE=1. Its setup is not
// repeatable on one hub, so run one iteration per process:
//
//	FLOTILLA_BENCH_HOSTILE=1 go test ./internal/controller/instance/ -run '^$' -bench BenignInstanceAmongHostile -benchtime 1x -count 1
func BenchmarkBenignInstanceAmongHostileOnes(b *testing.B) {
	if os.Getenv("FLOTILLA_BENCH_HOSTILE") == "" {
		b.Skip("a benchmark of its own; set FLOTILLA_BENCH_HOSTILE=1")
	}
	e := newEnv(b)
	startHub(b, hub.Options{})
	const group, kind = "hostile.example.com", "Counter"
	e.Cluster("hostile-1", map[string]string{"story": "hostile"})
	e.Fleet("hostile", map[string]string{"story": "hostile"}, "hostile-team", "benign-team")
	e.Namespace("hostile-team", nil)
	e.Namespace("benign-team", nil)
	p := configMapPromise("hostile-db", group, kind, "hostile")
	p.Spec.API.Schema = promisetest.Raw(map[string]any{"type": "object", "properties": map[string]any{
		"n": map[string]any{"type": "integer", "minimum": 0},
	}})
	p.Spec.Templates.GoTemplates[0].Template = `apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .instance.metadata.name | quote }}
data:
  count: "{{ range .spec.n }}x{{ end }}"
`
	p.Spec.Examples = []fleetv1alpha1.PromiseExample{{Name: "three", Spec: promisetest.Raw(map[string]any{"n": 3})}}
	e.Create(p)
	e.PromiseReady("hostile-db")

	refused := func(name string) func(fleetv1alpha1.InstanceStatus) bool {
		return func(s fleetv1alpha1.InstanceStatus) bool {
			return conditionReason(s.Conditions, fleetv1alpha1.ConditionReady) == fleetv1alpha1.ReasonRenderBudgetExceeded
		}
	}
	for i := range hostileInstances {
		e.Create(instance(group, kind, "hostile-team", fmt.Sprintf("h-%02d", i), map[string]any{"n": int64(1) << 40}))
	}
	for i := range hostileInstances {
		name := fmt.Sprintf("h-%02d", i)
		e.WaitInstance(group, kind, "hostile-team", name, "refused", refused(name))
	}

	b.ResetTimer()
	var benign, settled time.Duration
	for i := range b.N {
		// Every hostile instance changes (a new instance revision: rendered
		// again), and a benign one is created right behind them.
		start := time.Now()
		var wg sync.WaitGroup
		for h := range hostileInstances {
			wg.Go(func() {
				e.UpdateInstance(instance(group, kind, "hostile-team", fmt.Sprintf("h-%02d", h), nil), func(u *unstructured.Unstructured) {
					u.Object["spec"] = map[string]any{"n": int64(1)<<40 + int64(i) + 1}
				})
			})
		}
		wg.Wait()
		name := fmt.Sprintf("b-%03d", i)
		e.Create(instance(group, kind, "benign-team", name, map[string]any{"n": 3}))
		e.WaitWork("hostile-db", "benign-team", name, "hostile-1", func(*fleetv1alpha1.Work) (bool, string) { return true, "" })
		benign += time.Since(start)
		for h := range hostileInstances {
			hn := fmt.Sprintf("h-%02d", h)
			e.WaitInstance(group, kind, "hostile-team", hn, "refused again", func(s fleetv1alpha1.InstanceStatus) bool {
				return refused(hn)(s) && s.ObservedGeneration == int64(i)+2
			})
		}
		settled += time.Since(start)
	}
	b.ReportMetric(benign.Seconds()/float64(b.N), "s/benign")
	b.ReportMetric(settled.Seconds()/float64(b.N), "s/refused")
}
