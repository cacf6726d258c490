package promise

import (
	"slices"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

func rev(name string, n int64) fleetv1alpha1.PromiseRevision {
	return fleetv1alpha1.PromiseRevision{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: fleetv1alpha1.PromiseRevisionSpec{Revision: n}}
}

func work(cluster, ns, name, revision, applied string) fleetv1alpha1.Work {
	w := fleetv1alpha1.Work{Spec: fleetv1alpha1.WorkSpec{Cluster: cluster, Revision: revision}, Status: fleetv1alpha1.WorkStatus{AppliedRevision: applied}}
	if name != "" {
		w.Spec.Subject.Instance = &fleetv1alpha1.InstanceReference{Namespace: ns, Name: name}
	}
	return w
}

func TestWorkUsage(t *testing.T) {
	usage, inUse := WorkUsage([]fleetv1alpha1.Work{
		work("c1", "a", "x", "r2", "r1"),
		work("c2", "a", "x", "r2", "r2"),
		work("c1", "a", "y", "r2", ""),
		work("c3", "", "", "r1", "r1"), // fleet resources
	})
	if got := usage["r2"]; got.Instances != 2 || got.Clusters != 2 {
		t.Errorf("r2 usage %+v", got)
	}
	if got := usage["r1"]; got.Instances != 0 || got.Clusters != 1 {
		t.Errorf("r1 usage %+v", got)
	}
	if !inUse["r1"] || !inUse["r2"] || inUse["r3"] {
		t.Errorf("in use %v", inUse)
	}
}

func TestRevisionsToDelete(t *testing.T) {
	revs := []fleetv1alpha1.PromiseRevision{rev("r1", 1), rev("r2", 2), rev("r3", 3), rev("r4", 4), rev("r5", 5), rev("r6", 6)}
	for _, tc := range []struct {
		name   string
		latest string
		inUse  []string
		limit  int
		want   []string
	}{
		{"keep the limit newest unused besides latest", "r6", nil, 2, []string{"r1", "r2", "r3"}},
		{"never a revision in use", "r6", []string{"r1", "r4"}, 1, []string{"r2", "r3"}},
		{"never the latest, even an old one", "r2", nil, 1, []string{"r1", "r3", "r4", "r5"}},
		{"nothing beyond the limit", "r6", nil, 10, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inUse := map[string]bool{}
			for _, r := range tc.inUse {
				inUse[r] = true
			}
			if got := RevisionsToDelete(revs, tc.latest, inUse, tc.limit); !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestRevisionStatuses(t *testing.T) {
	revs := []fleetv1alpha1.PromiseRevision{rev("r1", 1), rev("r3", 3), rev("r2", 2)}
	got := RevisionStatuses(revs, []string{"r2"}, map[string]Usage{"r3": {Instances: 4, Clusters: 2}})
	want := []fleetv1alpha1.RevisionUsage{{Name: "r3", Revision: 3, Instances: 4, Clusters: 2}, {Name: "r1", Revision: 1}}
	if !slices.Equal(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if NextRevisionNumber(revs) != 4 || NextRevisionNumber(nil) != 1 {
		t.Error("NextRevisionNumber")
	}
}

func TestNewConditions(t *testing.T) {
	now := time.Date(2031, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		name                  string
		o                     outcome
		ready, stalled, recon metav1.ConditionStatus
		reason, api, rendered string
	}{
		{name: "serving", o: outcome{established: true, rendered: true, latest: "p-1", latestNumber: 1},
			ready: metav1.ConditionTrue, stalled: metav1.ConditionFalse, recon: metav1.ConditionFalse,
			reason: fleetv1alpha1.ReasonSucceeded, api: fleetv1alpha1.ReasonSucceeded, rendered: fleetv1alpha1.ReasonSucceeded},
		{name: "waiting for the CRD", o: outcome{rendered: true},
			ready: metav1.ConditionFalse, stalled: metav1.ConditionFalse, recon: metav1.ConditionTrue,
			reason: fleetv1alpha1.ReasonProgressing, api: fleetv1alpha1.ReasonProgressing, rendered: fleetv1alpha1.ReasonSucceeded},
		{name: "broken template keeps the old revision serving",
			o: outcome{established: true, latest: "p-1", problem: &problem{condition: fleetv1alpha1.ConditionRendered,
				reason: fleetv1alpha1.ReasonRenderFailed, message: "boom", stalled: true}},
			ready: metav1.ConditionFalse, stalled: metav1.ConditionTrue, recon: metav1.ConditionFalse,
			reason: fleetv1alpha1.ReasonRenderFailed, api: fleetv1alpha1.ReasonSucceeded, rendered: fleetv1alpha1.ReasonRenderFailed},
		{name: "unreachable repository is retried, not stalled",
			o:     outcome{problem: &problem{condition: fleetv1alpha1.ConditionRendered, reason: fleetv1alpha1.ReasonChartNotFound, message: "timeout"}},
			ready: metav1.ConditionFalse, stalled: metav1.ConditionFalse, recon: metav1.ConditionTrue,
			reason: fleetv1alpha1.ReasonChartNotFound, api: fleetv1alpha1.ReasonChartNotFound, rendered: fleetv1alpha1.ReasonChartNotFound},
		{name: "API conflict",
			o:     outcome{rendered: true, problem: &problem{condition: fleetv1alpha1.ConditionAPIEstablished, reason: fleetv1alpha1.ReasonAPIConflict, message: "taken", stalled: true}},
			ready: metav1.ConditionFalse, stalled: metav1.ConditionTrue, recon: metav1.ConditionFalse,
			reason: fleetv1alpha1.ReasonAPIConflict, api: fleetv1alpha1.ReasonAPIConflict, rendered: fleetv1alpha1.ReasonSucceeded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := fleetv1alpha1.PromiseStatus{}
			newConditions(&st, 3, tc.o, now)
			check := func(typ string, status metav1.ConditionStatus, reason string) {
				t.Helper()
				c := meta.FindStatusCondition(st.Conditions, typ)
				if c == nil || c.Status != status || (reason != "" && c.Reason != reason) || c.ObservedGeneration != 3 {
					t.Errorf("%s = %+v, want %s/%s", typ, c, status, reason)
				}
			}
			check(fleetv1alpha1.ConditionReady, tc.ready, tc.reason)
			check(fleetv1alpha1.ConditionStalled, tc.stalled, "")
			check(fleetv1alpha1.ConditionReconciling, tc.recon, "")
			if tc.api != "" {
				c := meta.FindStatusCondition(st.Conditions, fleetv1alpha1.ConditionAPIEstablished)
				if c == nil || c.Reason != tc.api {
					t.Errorf("APIEstablished = %+v, want reason %s", c, tc.api)
				}
			}
			if c := meta.FindStatusCondition(st.Conditions, fleetv1alpha1.ConditionRendered); tc.rendered != "" && (c == nil || c.Reason != tc.rendered) {
				t.Errorf("Rendered = %+v, want reason %s", c, tc.rendered)
			}
		})
	}
}
