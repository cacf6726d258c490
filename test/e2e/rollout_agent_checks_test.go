package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// Story: the checks the agents measure. The hub copies the canary wave's
// agent-placed checks onto the canary members' Works; their agents measure
// them inside the member and report on the Works, and the Rollout judges
// them. First an HTTP check against a loopback server that answers 503
// fails a canary member with AnalysisFailed naming the check and "HTTP
// 503", and the Rollout rolls back by itself. Then a test Job whose Pod
// exits 1 (the kwok stage for images under exit1.invalid/, its
// termination message from the Pod's annotation) fails a canary member
// with the Job's reason, and it rolls back again.
func agentChecksStory(t *testing.T, f *rolloutFleet) {
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "maintenance", http.StatusServiceUnavailable)
	}))
	t.Cleanup(down.Close)
	w, ns := webPromise("web-agentchk"), "team-agentchk"
	f.givenStrategy("agentchk", ringsStrategy(func(s *fleetv1alpha1.RolloutStrategySpec) {
		s.Waves[0].BakeTime = &metav1.Duration{Duration: 2 * time.Second}
	}))
	f.givenWebSite(w, "agentchk", ns)

	smoke := fleetv1alpha1.Check{Name: "smoke", HTTP: &fleetv1alpha1.HTTPCheck{URL: down.URL + "/healthz"},
		Condition: "result.code == 200", Interval: &metav1.Duration{Duration: time.Second}, InconclusiveLimit: 2}
	name := f.whenImageChanges(w, webV2, func(p *fleetv1alpha1.Promise) { p.Spec.Checks = []fleetv1alpha1.Check{smoke} })
	ro := f.thenRolloutPhase(name, fleetv1alpha1.RolloutPhaseRolledBack, 2*time.Minute)
	t.Logf("%s", describe(ro))
	thenCanaryFailed(t, ro, "check smoke failed", "HTTP 503")
	f.thenWebRuns(ns, "shop", webV1, 30*time.Second, allMembers...)

	raw, err := json.Marshal(map[string]any{"template": map[string]any{
		"metadata": map[string]any{"annotations": map[string]string{"kwok.flotilla.dev/termination-message": "GET /checkout: 500 Internal Server Error\nFAIL checkout"}},
		"spec":     map[string]any{"containers": []any{map[string]any{"name": "e2e", "image": "exit1.invalid/smoke:1"}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	e2e := fleetv1alpha1.Check{Name: "e2e", Interval: &metav1.Duration{Duration: 2 * time.Second}, InconclusiveLimit: 2,
		Job: &fleetv1alpha1.JobCheck{Namespace: ns, Template: runtime.RawExtension{Raw: raw}, Timeout: &metav1.Duration{Duration: time.Minute}}}
	name = f.whenImageChanges(w, webV3, func(p *fleetv1alpha1.Promise) { p.Spec.Checks = []fleetv1alpha1.Check{e2e} })
	ro = f.thenRolloutPhase(name, fleetv1alpha1.RolloutPhaseRolledBack, 2*time.Minute)
	t.Logf("%s", describe(ro))
	thenCanaryFailed(t, ro, "check e2e failed", "the Job failed: GET /checkout: 500 Internal Server Error")
	f.thenWebRuns(ns, "shop", webV1, 30*time.Second, allMembers...)
	// Rolled back: the checks left the Works, so the agents stop measuring.
	f.eventually(30*time.Second, "no Work of "+w.promise+" carries checks", func() (bool, string) {
		list := &fleetv1alpha1.WorkList{}
		if err := f.hub.List(context.Background(), list, client.MatchingLabels{fleetv1alpha1.LabelPromise: w.promise}); err != nil {
			return false, err.Error()
		}
		var with []string
		for _, wk := range list.Items {
			if len(wk.Spec.Checks) > 0 {
				with = append(with, wk.Spec.Cluster)
			}
		}
		return len(list.Items) > 0 && len(with) == 0, fmt.Sprintf("%d works, with checks on %v", len(list.Items), with)
	})
}

// thenCanaryFailed checks that a canary member failed with AnalysisFailed,
// its message holding every part of want.
func thenCanaryFailed(t *testing.T, ro *fleetv1alpha1.Rollout, want ...string) {
	t.Helper()
	for _, fl := range ro.Status.Failures {
		if fl.Reason != fleetv1alpha1.ReasonAnalysisFailed || (fl.Cluster != "member-1" && fl.Cluster != "member-2") {
			continue
		}
		found := true
		for _, s := range want {
			found = found && strings.Contains(fl.Message, s)
		}
		if found {
			return
		}
	}
	t.Errorf("failures %+v, want a canary member AnalysisFailed with %q", ro.Status.Failures, want)
}
