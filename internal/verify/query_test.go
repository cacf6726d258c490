package verify

import (
	"strings"
	"testing"
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
