package verify

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestRenderQuery(t *testing.T) {
	vars := QueryVars{
		Cluster: "eu-1", Labels: map[string]string{"region": `eu"west`}, Clusters: []string{"eu-1", "eu.2"},
		Wave: "canary", Revision: "web-7d4f", FromRevision: "web-1a2b",
	}
	for _, tc := range []struct{ tpl, want, err string }{
		{tpl: `sum(rate(http_requests_total{cluster="{{ .Cluster }}",code=~"5.."}[1m]))`,
			want: `sum(rate(http_requests_total{cluster="eu-1",code=~"5.."}[1m]))`},
		{tpl: `up{region={{ quote .Labels.region }}}`, want: `up{region="eu\"west"}`},
		{tpl: `up{cluster=~{{ regex .Clusters }}}`, want: `up{cluster=~"^(?:eu-1|eu\\.2)$"}`},
		{tpl: `x{rev="{{ .Revision }}",from="{{ .FromRevision }}",wave="{{ .Wave }}"}`, want: `x{rev="web-7d4f",from="web-1a2b",wave="canary"}`},
		// A label the cluster does not have is an error, not "" (which would match everything).
		{tpl: `up{zone={{ quote .Labels.zone }}}`, err: "map has no entry for key"},
		{tpl: `{{ .Nosuch }}`, err: "can't evaluate field Nosuch"},
		{tpl: `{{ range .Clusters }}{{ range $.Clusters }}{{ printf "%0999d" 1 }}{{ end }}{{ end }}{{ printf "%0299999d" 1 }}`, err: "longer than"},
		{tpl: `{{ .Cluster`, err: "query template"},
	} {
		got, err := RenderQuery(tc.tpl, vars)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: %q, %v; want an error with %q", tc.tpl, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%s:\n got %q, %v\nwant %q", tc.tpl, got, err, tc.want)
		}
	}
}

func TestParseQuery(t *testing.T) {
	if err := ParseQuery(`up{cluster="{{ .Cluster }}",region={{ quote .Labels.region }}}`); err != nil {
		t.Errorf("a valid template: %v", err)
	}
	if err := ParseQuery(`up{cluster="{{ .Cluster }"}`); err == nil || !strings.Contains(err.Error(), "query template") {
		t.Errorf("an unterminated action: %v", err)
	}
	if err := ParseQuery(`{{ nosuch .Cluster }}`); err == nil {
		t.Error("an unknown function parsed")
	}
}

func TestSplitBy(t *testing.T) {
	r := MetricResult{Samples: []Sample{
		{Labels: map[string]string{"cluster": "a"}, Value: 1},
		{Labels: map[string]string{"cluster": "b"}, Value: 2},
		{Labels: map[string]string{"cluster": "a"}, Value: 3},
		{Labels: map[string]string{"job": "x"}, Value: 4},
	}}
	got := SplitBy(r, "cluster")
	if len(got) != 2 || len(got["a"].Samples) != 2 || got["a"].Samples[1].Value != 3 || got["b"].Samples[0].Value != 2 {
		t.Errorf("SplitBy: %+v", got)
	}
}

// TestAQueryTemplateLoopIsBounded: a platform engineer's query template
// that loops over a number, or calls itself twice, ran in the hub's
// reconcile for hours (or for ever), writing nothing for the length bound to
// stop; every Rollout of the strategy stalled with the hub's workers. Such a
// template is refused when the check is validated, and a render stops at
// the step bound.
func TestAQueryTemplateLoopIsBounded(t *testing.T) {
	for _, tpl := range []string{
		`{{ range 1000000000000 }}{{ end }}up`,
		`{{ define "x" }}{{ template "x" . }}{{ template "x" . }}{{ end }}{{ template "x" . }}up`,
		`{{ range $i := 100000 }}{{ range $j := 100000 }}{{ end }}{{ end }}up`,
	} {
		start := time.Now()
		if err := ParseQuery(tpl); err == nil || !strings.Contains(err.Error(), "steps") {
			t.Errorf("%s: validated with %v", tpl, err)
		}
		if _, err := RenderQuery(tpl, QueryVars{Cluster: "a"}); err == nil || !strings.Contains(err.Error(), "steps") {
			t.Errorf("%s: rendered with %v", tpl, err)
		}
		if took := time.Since(start); took > 5*time.Second {
			t.Errorf("%s: took %v", tpl, took)
		}
	}

	// A loop the clusters' number decides renders up to the bound, and a
	// whole-wave query over 10,000 clusters fits.
	many := make([]string, 10_000)
	for i := range many {
		many[i] = fmt.Sprintf("c%d", i)
	}
	nested := `{{ range .Clusters }}{{ range $.Clusters }}{{ end }}{{ end }}up`
	if err := ParseQuery(nested); err != nil {
		t.Errorf("a nested range over the clusters refused with none: %v", err)
	}
	if _, err := RenderQuery(nested, QueryVars{Clusters: many}); err == nil || !strings.Contains(err.Error(), "steps") {
		t.Errorf("a nested range over 10,000 clusters rendered: %v", err)
	}
	each := `{{ define "c" }}{{ . }}{{ end }}up{cluster=~"{{ range $i, $c := .Clusters }}{{ if $i }}|{{ end }}{{ template "c" $c }}{{ end }}"}`
	if q, err := RenderQuery(each, QueryVars{Clusters: many}); err != nil || !strings.HasSuffix(q, "|c9999\"}") {
		t.Errorf("a query over 10,000 clusters: %.40q…, %v", q, err)
	}
}
