package fleetview

import (
	"slices"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// withException is w with a DriftException the hub copied into its spec.
func withException(w fleetv1alpha1.Work, name string, expires time.Time) fleetv1alpha1.Work {
	w.Spec.DriftExceptions = append(w.Spec.DriftExceptions, fleetv1alpha1.WorkDriftException{Name: name,
		Resources: []fleetv1alpha1.ResourceSelector{{Kind: "ConfigMap"}, {Group: "apps", Kind: "Deployment"}}, ExpiresAt: metav1.NewTime(expires)})
	return w
}

// Drift is accepted in the view only under a DriftException in force for
// the Work that reports it. An agent's report is its own cluster's word, as
// of when it wrote it: a cluster whose agent went offline (or stopped) while
// an exception was in force kept reporting the drift Accepted after the
// exception expired, so `flotilla drift`, the dashboard and
// flotilla_drift_resources{state="Accepted"} counted it accepted for ever
// (and the Unexplained alert never fired), though the agent itself turns it
// unexplained at expiry. And an agent could name another team's exception on
// a Work the hub never gave it, so the view showed that team's owner as
// accountable for drift on someone else's instance.
func TestAcceptedDriftNeedsAnExceptionInForce(t *testing.T) {
	const U, A = fleetv1alpha1.DriftUnexplained, fleetv1alpha1.DriftAccepted
	expired, inForce := now.Add(-time.Hour), now.Add(time.Hour)
	exceptions := []fleetv1alpha1.DriftException{{
		ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "sale"},
		Spec:       fleetv1alpha1.DriftExceptionSpec{Owner: "alice", Reason: "sale", ExpiresAt: metav1.NewTime(expired)},
	}, {
		ObjectMeta: metav1.ObjectMeta{Namespace: "team-b", Name: "legacy"},
		Spec:       fleetv1alpha1.DriftExceptionSpec{Owner: "bob", Reason: "legacy", ExpiresAt: metav1.NewTime(inForce)},
	}, {
		ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "hotfix"},
		Spec:       fleetv1alpha1.DriftExceptionSpec{Owner: "alice", Reason: "hotfix", ExpiresAt: metav1.NewTime(inForce)},
	}}
	for _, tt := range []struct {
		name         string
		work         fleetv1alpha1.Work
		wantState    fleetv1alpha1.DriftState
		wantFields   []string
		wantAccepted []string
		wantOwner    string
	}{{
		name: "expired, the Work's copy not yet dropped (agent offline)",
		work: withDrift(withException(work("c1", "web", "shop", "web-2", "web-2", healthy), "team-a/sale", expired), 0,
			drifted("ConfigMap", "team-a", "shop", A, 2*time.Hour, "team-a/sale", "data.color")),
		wantState: U, wantFields: []string{"data.color"},
	}, {
		name: "expired and dropped from the Work by the hub (agent offline)",
		work: withDrift(work("c1", "web", "shop", "web-2", "web-2", healthy), 0,
			drifted("ConfigMap", "team-a", "shop", A, 2*time.Hour, "team-a/sale", "data.color")),
		wantState: U, wantFields: []string{"data.color"},
	}, {
		name: "accepted fields beside unexplained ones, exception expired",
		work: withDrift(withException(work("c1", "web", "shop", "web-2", "web-2", healthy), "team-a/sale", expired), 0,
			alsoAccepted(drifted("ConfigMap", "team-a", "shop", U, 2*time.Hour, "team-a/sale", "data.color"), "data.size")),
		wantState: U, wantFields: []string{"data.color", "data.size"},
	}, {
		name: "another team's exception, never in this Work (a lying agent)",
		work: withDrift(work("c1", "web", "shop", "web-2", "web-2", healthy), 0,
			drifted("ConfigMap", "team-a", "shop", A, 2*time.Hour, "team-b/legacy", "data.color")),
		wantState: U, wantFields: []string{"data.color"},
	}, {
		name: "in force and in the Work: accepted",
		work: withDrift(withException(work("c1", "web", "shop", "web-2", "web-2", healthy), "team-a/hotfix", inForce), 0,
			drifted("ConfigMap", "team-a", "shop", A, 2*time.Hour, "team-a/hotfix", "data.color")),
		wantState: A, wantFields: []string{"data.color"}, wantOwner: "alice",
	}} {
		t.Run(tt.name, func(t *testing.T) {
			d := BuildDrift(Snapshot{Now: now, Works: []fleetv1alpha1.Work{tt.work}, DriftExceptions: exceptions}, DriftFilter{}, 0)
			if len(d.Items) != 1 {
				t.Fatalf("items = %+v, want one", d.Items)
			}
			it := d.Items[0]
			if it.State != tt.wantState || !slices.Equal(it.Fields, tt.wantFields) || !slices.Equal(it.AcceptedFields, tt.wantAccepted) {
				t.Errorf("state %s, fields %v, accepted %v; want %s, %v, %v", it.State, it.Fields, it.AcceptedFields,
					tt.wantState, tt.wantFields, tt.wantAccepted)
			}
			wantCounts := DriftCounts{Unexplained: 1, Total: 1}
			if tt.wantState == A {
				wantCounts = DriftCounts{Accepted: 1, Total: 1}
			}
			if d.Resources != wantCounts || d.Clusters != wantCounts {
				t.Errorf("counts: resources %+v, clusters %+v; want %+v", d.Resources, d.Clusters, wantCounts)
			}
			owner := ""
			if it.Exception != nil {
				owner = it.Exception.Owner
			}
			if tt.wantState == A && owner != tt.wantOwner {
				t.Errorf("exception owner %q, want %q", owner, tt.wantOwner)
			}
			if tt.wantState == U && it.Exception != nil && it.Exception.Owner == "bob" {
				t.Errorf("team-b's owner shown accountable for drift on team-a's instance: %+v", it.Exception)
			}
		})
	}
}

// An agent names, for drift of its choosing, a DriftException the hub did
// give its Work, in force, but that does not cover that drift: the
// platform's, which accepts one ConfigMap key. Before the fix the view
// counted the Deployment's image (or the ConfigMap's other key) accepted and
// named the platform's owner accountable for it, and the unexplained-drift
// alert stayed quiet. Now drift is accepted in the view only where the
// exception's resources select the resource and its paths cover the fields.
func TestAcceptedDriftNeedsAnExceptionThatCoversIt(t *testing.T) {
	const U, A = fleetv1alpha1.DriftUnexplained, fleetv1alpha1.DriftAccepted
	inForce := now.Add(time.Hour)
	exceptions := []fleetv1alpha1.DriftException{{
		ObjectMeta: metav1.ObjectMeta{Namespace: fleetv1alpha1.PlatformNamespace, Name: "incident"},
		Spec:       fleetv1alpha1.DriftExceptionSpec{Owner: "platform-oncall", Reason: "incident", ExpiresAt: metav1.NewTime(inForce)},
	}}
	w := work("c1", "web", "shop", "web-2", "web-2", healthy)
	w.Spec.DriftExceptions = []fleetv1alpha1.WorkDriftException{{Name: "flotilla-system/incident",
		Resources: []fleetv1alpha1.ResourceSelector{{Kind: "ConfigMap", Name: "settings"}}, Paths: []string{"data.size"},
		ExpiresAt: metav1.NewTime(inForce)}}
	for _, tt := range []struct {
		name       string
		resource   fleetv1alpha1.ResourceStatus
		wantState  fleetv1alpha1.DriftState
		wantFields []string
	}{{
		name:      "another kind",
		resource:  drifted("Deployment", "shop", "web", A, time.Hour, "flotilla-system/incident", "spec.template.spec.containers[name=app].image"),
		wantState: U, wantFields: []string{"spec.template.spec.containers[name=app].image"},
	}, {
		name:      "another name",
		resource:  drifted("ConfigMap", "shop", "other", A, time.Hour, "flotilla-system/incident", "data.size"),
		wantState: U, wantFields: []string{"data.size"},
	}, {
		name:      "a field its paths do not cover",
		resource:  drifted("ConfigMap", "shop", "settings", A, time.Hour, "flotilla-system/incident", "data.color", "data.size"),
		wantState: U, wantFields: []string{"data.color", "data.size"},
	}, {
		name:      "accepted beside unexplained, a field its paths do not cover",
		resource:  alsoAccepted(drifted("ConfigMap", "shop", "settings", U, time.Hour, "flotilla-system/incident", "data.mode"), "data.color"),
		wantState: U, wantFields: []string{"data.mode", "data.color"},
	}, {
		name:      "covered: accepted",
		resource:  drifted("ConfigMap", "shop", "settings", A, time.Hour, "flotilla-system/incident", "data.size"),
		wantState: A, wantFields: []string{"data.size"},
	}} {
		t.Run(tt.name, func(t *testing.T) {
			d := BuildDrift(Snapshot{Now: now, Works: []fleetv1alpha1.Work{withDrift(w, 0, tt.resource)}, DriftExceptions: exceptions}, DriftFilter{}, 0)
			if len(d.Items) != 1 {
				t.Fatalf("items = %+v, want one", d.Items)
			}
			it := d.Items[0]
			if it.State != tt.wantState || !slices.Equal(it.Fields, tt.wantFields) || len(it.AcceptedFields) != 0 {
				t.Errorf("state %s, fields %v, accepted %v; want %s, %v", it.State, it.Fields, it.AcceptedFields, tt.wantState, tt.wantFields)
			}
			if tt.wantState == U && it.Exception != nil {
				t.Errorf("the platform's exception named accountable for drift it does not cover: %+v", it.Exception)
			}
		})
	}
}
