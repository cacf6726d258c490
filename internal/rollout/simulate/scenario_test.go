package simulate

import (
	"strings"
	"testing"
	"time"
)

func TestParseRejectsTyposAndFillsDefaults(t *testing.T) {
	if _, err := Parse([]byte("rollout: {targetRevision: r2}\nstrategy: {waves: [{name: a}]}\nclusters: [{names: [x]}]\nscriptz: []\n")); err == nil ||
		!strings.Contains(err.Error(), "scriptz") {
		t.Fatalf("unknown field accepted: %v", err)
	}
	if _, err := Parse([]byte("rollout: {targetRevision: r2}\nstrategy: {waves: [{name: a}]}\n")); err == nil {
		t.Fatal("a scenario without clusters was accepted")
	}
	s, err := Parse([]byte(`
rollout: {targetRevision: r2}
strategy: {waves: [{name: a}]}
clusters: [{prefix: m-, count: 12}]
script:
- {at: 2m, cluster: m-01, do: Fail}
- {at: 1m, approve: a}
`))
	if err != nil {
		t.Fatal(err)
	}
	if s.Fleet.HealthyAfter.Duration != 30*time.Second || s.Trace != TraceSteps || s.Rollout.Subject.Promise != "app" {
		t.Fatalf("defaults not filled: %+v", s)
	}
	if s.Script[0].Approve != "a" {
		t.Fatal("script not sorted by time")
	}
	if names := s.Clusters[0].names(); len(names) != 12 || names[0] != "m-01" || names[11] != "m-12" {
		t.Fatalf("generated names %v", names)
	}
}

func TestRunReportsScriptErrors(t *testing.T) {
	s, err := Parse([]byte(`
rollout: {fromRevision: r1, targetRevision: r2}
strategy: {waves: [{name: a}]}
clusters: [{names: [x]}]
script: [{at: 1s, cluster: nope, do: Fail}]
`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Run(s, Options{}); err == nil || !strings.Contains(err.Error(), "no cluster nope") {
		t.Fatalf("err = %v", err)
	}
}

func TestSince(t *testing.T) {
	if got := since(start.Add(26*time.Hour + 3*time.Minute + 4*time.Second)); got != "+26:03:04" {
		t.Fatalf("since = %s", got)
	}
}
