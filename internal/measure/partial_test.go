package measure

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/flotilla-dev/flotilla/internal/verify"
)

// A Thanos querier (the docs' example endpoint) answers by default with
// the data of the stores it reached and a warning for each it did not:
// "success". A whole-wave error rate without the store of the cluster
// whose change fails is the healthy clusters' rate alone; a grouped or
// per-cluster one reads only part of a cluster's series (VictoriaMetrics'
// cluster version answers likewise, marked isPartial). Such an answer
// is not judged: the measurement is Inconclusive and says why. An info
// annotation (Prometheus' "PromQL info: …", e.g. a counter's name) leaves
// the data whole and is judged as before.
func TestAPartialResponseIsNotJudged(t *testing.T) {
	answer := func(warning string) *httptest.Server {
		return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, `{"status":"success","data":{"resultType":"vector","result":[
				{"metric":{"cluster":"eu-1"},"value":[1733400000,"0.01"]}]},"warnings":[%q],"infos":["PromQL info: metric might not be a counter"]}`, warning)
		}))
	}
	partial := answer(`receive series from Addr: thanos-sidecar.eu-2:10901 LabelSets: {cluster="eu-2"}: rpc error: code = Unavailable desc = connection refused`)
	defer partial.Close()
	info := answer(`PromQL info: metric might not be a counter, name does not end in _total/_sum/_count/_bucket: "app_errors"`)
	defer info.Close()
	ctx := context.Background()
	cond, err := verify.Compile(verify.KindMetric, "result.all(v, v < 0.05)")
	if err != nil {
		t.Fatal(err)
	}

	if m := Metric(ctx, &Prometheus{URL: partial.URL}, cond, "x", nil, time.Now()); m.Outcome != verify.Inconclusive ||
		!strings.Contains(m.Message, "partial") || !strings.Contains(m.Message, "thanos-sidecar.eu-2") {
		t.Errorf("a whole-wave query answered in part: %+v, want Inconclusive naming the warning", m)
	}
	for i, m := range MetricByCluster(ctx, &Prometheus{URL: partial.URL}, cond, "x", "cluster", []string{"eu-1", "eu-2"}, time.Now()) {
		if m.Outcome != verify.Inconclusive {
			t.Errorf("a grouped query answered in part, cluster %d: %+v, want Inconclusive", i, m)
		}
	}
	vm := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"status":"success","isPartial":true,"data":{"resultType":"vector","result":[
			{"metric":{"cluster":"eu-1"},"value":[1733400000,"0.01"]}]}}`)
	}))
	defer vm.Close()
	if m := Metric(ctx, &Prometheus{URL: vm.URL}, cond, "x", nil, time.Now()); m.Outcome != verify.Inconclusive || !strings.Contains(m.Message, "partial") {
		t.Errorf("a VictoriaMetrics answer marked isPartial: %+v, want Inconclusive", m)
	}
	if m := Metric(ctx, &Prometheus{URL: info.URL}, cond, "x", nil, time.Now()); m.Outcome != verify.Passed {
		t.Errorf("an answer with an info annotation only: %+v, want Passed", m)
	}
}
