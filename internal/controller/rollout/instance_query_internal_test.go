package rollout

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/rollout"
	"github.com/flotilla-dev/flotilla/internal/verify"
)

// The hub's query of an instance's own Rollout names the instance
// (TestAnInstanceRolloutsQueryNamesItsInstance in internal/rollout): it
// reads that instance's metrics, not every team's on the cluster.
func TestTheHubsQueryOfAnInstanceRolloutNamesItsInstance(t *testing.T) {
	var mu sync.Mutex
	var queries []string
	prom := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		queries = append(queries, r.FormValue("query"))
		mu.Unlock()
		fmt.Fprint(w, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1733400000,"0.01"]}]}}`)
	}))
	defer prom.Close()
	ro := &fleetv1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Name: "site-shop-3", Namespace: "team-a"},
		Spec: fleetv1alpha1.RolloutSpec{Subject: fleetv1alpha1.RolloutSubject{Promise: "web", Instance: &fleetv1alpha1.LocalObjectReference{Name: "shop"}},
			TargetRevision: "site-shop-b2"}}
	check := fleetv1alpha1.Check{Name: "errors", Condition: "result[0] < 0.05", Metric: &fleetv1alpha1.MetricCheck{Address: prom.URL,
		Query: `errors{cluster="{{ .Cluster }}",namespace={{ quote .Namespace }},instance={{ quote .Instance }}}`}}
	r := &Reconciler{}
	ms := r.measureCheck(context.Background(), ro, rollout.CheckTask{Wave: "canary", Check: check,
		Clusters: []rollout.TaskCluster{{Name: "eu-1"}}}, time.Now())
	if len(ms) != 1 || ms[0].Outcome != verify.Passed {
		t.Fatalf("measurements %+v", ms)
	}
	if len(queries) != 1 || queries[0] != `errors{cluster="eu-1",namespace="team-a",instance="shop"}` {
		t.Errorf("queries %q", queries)
	}
}
