package instance_test

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/flotilla-dev/flotilla/internal/hub"
	"github.com/flotilla-dev/flotilla/internal/hub/hubtest"
)

// TestHubStartBench measures how long a hub restart takes until the
// instance controller starts its workers, with FLOTILLA_HUB_START_BENCH
// clusters and instances ("3000x1000"); the instances are placed nowhere,
// so no Work is written. Not part of `make test`: docs/benchmarks.md.
func TestHubStartBench(t *testing.T) {
	var clusters, instances int
	if _, err := fmt.Sscanf(os.Getenv("FLOTILLA_HUB_START_BENCH"), "%dx%d", &clusters, &instances); err != nil {
		t.Skip("set FLOTILLA_HUB_START_BENCH=<clusters>x<instances> to run")
	}
	e := newEnv(t)
	const group, kind = "startbench.example.com", "Bench"
	for i := range clusters {
		e.Cluster(fmt.Sprintf("sb-%d", i), map[string]string{"story": "startbench"})
	}
	e.Fleet("sb", map[string]string{"story": "none"}, "sb-a")
	e.Namespace("sb-a", nil)
	stop := startHub(t, hub.Options{AdmitLatest: true})
	e.Create(configMapPromise("sb-db", group, kind, "sb"))
	e.PromiseReady("sb-db")
	for i := range instances {
		e.Create(instance(group, kind, "sb-a", fmt.Sprintf("i%d", i), map[string]any{"size": "small"}))
	}
	stop()
	for run := range 3 {
		spy := hubtest.NewStartSpy(t, "instance")
		begin := time.Now()
		stop := hubtest.Start(spy, hubCP.RESTConfig, hub.Options{AdmitLatest: true})
		took := spy.WaitStarted(begin, 3*time.Minute)
		t.Logf("run %d, %d clusters, %d instances: the instance controller started its workers %s after the hub",
			run+1, clusters, instances, took.Round(time.Millisecond))
		stop()
	}
}
