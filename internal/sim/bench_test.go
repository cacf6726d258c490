package sim

import "testing"

func TestSumRequests(t *testing.T) {
	const metrics = `# HELP apiserver_request_total Counter of apiserver requests.
# TYPE apiserver_request_total counter
apiserver_request_total{code="200",resource="leases",verb="PATCH"} 168311
apiserver_request_total{code="429",resource="leases",verb="PATCH"} 302648
apiserver_request_total{code="429",resource="works",subresource="status",verb="PUT"} 47364
apiserver_request_total_other{code="429"} 5
apiserver_request_duration_seconds_count{code="429"} 7
`
	for _, tc := range []struct {
		label string
		want  float64
		found bool
	}{
		{"", 518323, true},
		{`code="429"`, 350012, true},
		{`code="504"`, 0, false},
	} {
		got, found, err := sumRequests([]byte(metrics), tc.label)
		if err != nil || got != tc.want || found != tc.found {
			t.Errorf("label %q: %v, %v, %v; want %v, %v", tc.label, got, found, err, tc.want, tc.found)
		}
	}
	for _, bad := range []string{`apiserver_request_total{code="200"} x`, `apiserver_request_total{code="200"}`} {
		if _, _, err := sumRequests([]byte(bad+"\n"), `code="200"`); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}

	since := RequestCounts{Total: 500, Refused: 120, Writes: map[string]float64{"leases PATCH": 7, "works/status PUT": 9}}.
		Sub(RequestCounts{Total: 200, Refused: 20, Writes: map[string]float64{"leases PATCH": 7, "works/status PUT": 4}})
	if since.Total != 300 || since.Refused != 100 || since.String() != "300 (100 refused 429)" || since.WritesString() != "works/status PUT 5" {
		t.Errorf("since = %+v, %q, %q", since, since, since.WritesString())
	}

	writes, err := writesByResource([]byte(metrics))
	if err != nil {
		t.Fatal(err)
	}
	got := RequestCounts{Writes: writes}.WritesString()
	if want := "leases PATCH 470959, works/status PUT 47364"; got != want {
		t.Errorf("writes = %q, want %q", got, want)
	}
}
