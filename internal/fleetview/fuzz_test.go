package fleetview

import (
	"encoding/json"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/rollup"
)

// workStatusSeeds are Work statuses as an agent writes them: conditions,
// resources with health, causes and drift (accepted under an exception or
// not), check reports.
var workStatusSeeds = []string{
	`{}`,
	`{"observedGeneration":1,"appliedRevision":"web-2","conditions":[` +
		`{"type":"Applied","status":"True","reason":"Applied","message":"","lastTransitionTime":"2026-11-22T11:00:00Z"},` +
		`{"type":"Ready","status":"True","reason":"Ready","message":"","lastTransitionTime":"2026-11-22T11:00:00Z"},` +
		`{"type":"Healthy","status":"True","reason":"Healthy","message":"","lastTransitionTime":"2026-11-22T11:00:00Z"}],` +
		`"resources":[{"group":"apps","version":"v1","kind":"Deployment","namespace":"team-a","name":"shop","result":"Applied","health":"Current",` +
		`"drift":{"state":"Accepted","fields":["spec.replicas"],"by":"kubectl-edit","exception":"team-a/hotfix","since":"2026-11-22T10:00:00Z"}},` +
		`{"version":"v1","kind":"ConfigMap","namespace":"team-a","name":"shop","result":"Applied",` +
		`"drift":{"state":"Unexplained","fields":["data.color"],"acceptedFields":["data.mode"],"exception":"team-a/hotfix"}}],` +
		`"drift":{"unexplained":1,"accepted":1,"corrections":3}}`,
	`{"observedGeneration":1,"conditions":[{"type":"Applied","status":"False","reason":"ApplyFailed","message":"boom\u001b[1A","lastTransitionTime":"2026-11-22T11:00:00Z"},` +
		`{"type":"Stalled","status":"True","reason":"ProgressDeadlineExceeded","message":"stuck","lastTransitionTime":"2026-11-22T11:00:00Z"}],` +
		`"resources":[{"version":"v1","kind":"Pod","name":"x","result":"Refused","health":"Failed","message":"outside",` +
		`"cause":{"reason":"ImagePullBackOff","severity":"Failing","object":"Pod/x","container":"app"}},` +
		`{"version":"v1","kind":"Secret","namespace":"team-b","name":"x","result":"Conflict","drift":{"state":"Accepted","exception":"/"}}]}`,
	`{"observedGeneration":-1,"resources":[{"version":"","kind":"","name":"","result":"","drift":{"state":"","exception":"a/b/c","fields":["","["]}}],` +
		`"checks":[{"name":"error-rate","state":{"since":"2026-11-22T11:00:00Z","failures":5}}]}`,
}

// FuzzBuildFromAgentStatus builds the fleet view, its drift roll-up and a
// Work roll-up over a Work whose status is anything an agent can write:
// neither panics, and what they count adds up.
//
//	go test ./internal/fleetview -run '^$' -fuzz FuzzBuildFromAgentStatus -fuzztime 1m
func FuzzBuildFromAgentStatus(f *testing.F) {
	for _, seed := range workStatusSeeds {
		f.Add(seed, "team-a/hotfix")
	}
	f.Fuzz(func(t *testing.T, statusJSON, exception string) {
		var st fleetv1alpha1.WorkStatus
		if err := json.Unmarshal([]byte(statusJSON), &st); err != nil {
			return
		}
		s := fleetSnapshot()
		w := work("canary-1", "web", "shop", "web-2", "web-2", healthy)
		w.Generation = 1
		w.Status = st
		w.Spec.DriftExceptions = []fleetv1alpha1.WorkDriftException{{Name: exception,
			Resources: []fleetv1alpha1.ResourceSelector{{Group: "*", Kind: "Deployment"}, {Kind: "ConfigMap"}},
			Paths:     []string{"spec", "data.mode"}, ExpiresAt: metav1.Time{Time: now.Add(time.Hour)}}}
		s.Works = append(s.Works, w, w)
		s.DriftExceptions = []fleetv1alpha1.DriftException{{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "hotfix"},
			Spec: fleetv1alpha1.DriftExceptionSpec{Owner: "alice", ExpiresAt: metav1.Time{Time: now.Add(time.Hour)}}}}

		v := Build(s)
		if v.Clusters.Total != len(s.Clusters) {
			t.Fatalf("view counts %d clusters of %d", v.Clusters.Total, len(s.Clusters))
		}
		for _, limit := range []int{0, 1} {
			d := BuildDrift(s, DriftFilter{}, limit)
			if d.Resources.Total != d.Resources.Unexplained+d.Resources.Accepted {
				t.Fatalf("drift counts do not add up: %+v", d.Resources)
			}
		}
		sum := rollup.SummarizeWorks(s.Works)
		if sum.Total != len(s.Works) || sum.Healthy+sum.Failed+sum.Progressing != sum.Total {
			t.Fatalf("roll-up counts do not add up: %+v", sum.Counts)
		}
	})
}
