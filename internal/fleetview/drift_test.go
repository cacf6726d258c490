package fleetview

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// drifted is a resource of a Work reporting drift in state, first seen ago
// before now (never, when ago is 0).
func drifted(kind, ns, name string, state fleetv1alpha1.DriftState, ago time.Duration, exception string, fields ...string) fleetv1alpha1.ResourceStatus {
	r := fleetv1alpha1.ResourceStatus{Version: "v1", Kind: kind, Namespace: ns, Name: name, Result: fleetv1alpha1.ApplyResultApplied,
		Drift: &fleetv1alpha1.ResourceDrift{State: state, Fields: fields, By: "kubectl-edit", Exception: exception}}
	if kind == "Deployment" {
		r.Group = "apps"
	}
	if ago > 0 {
		r.Drift.Since = &metav1.Time{Time: now.Add(-ago)}
	}
	return r
}

// withDrift gives w the resources and corrections an agent would report.
func withDrift(w fleetv1alpha1.Work, corrections int64, resources ...fleetv1alpha1.ResourceStatus) fleetv1alpha1.Work {
	clean := fleetv1alpha1.ResourceStatus{Version: "v1", Kind: "Service", Namespace: "team-a", Name: "clean", Result: fleetv1alpha1.ApplyResultApplied}
	w.Status.Resources = append([]fleetv1alpha1.ResourceStatus{clean}, resources...)
	w.Status.Drift = &fleetv1alpha1.DriftSummary{Corrections: corrections}
	for _, r := range resources {
		if r.Drift.State == fleetv1alpha1.DriftAccepted {
			w.Status.Drift.Accepted++
		} else {
			w.Status.Drift.Unexplained++
		}
	}
	return w
}

// alsoAccepted adds fields an exception accepts to a resource with
// unexplained drift.
func alsoAccepted(r fleetv1alpha1.ResourceStatus, fields ...string) fleetv1alpha1.ResourceStatus {
	r.Drift.AcceptedFields = fields
	return r
}

func fleetWork(cluster, promise string) fleetv1alpha1.Work {
	w := work(cluster, promise, "", "r-1", "r-1", healthy)
	w.Name = promise + "-fleet"
	w.Spec.Subject.Instance = nil
	return w
}

func teamBWork(cluster, promise, instance string) fleetv1alpha1.Work {
	w := work(cluster, promise, instance, "r-1", "r-1", healthy)
	w.Spec.Subject.Instance.Namespace = "team-b"
	return w
}

// driftSnapshot: drift on three clusters, of two Promises, one of it
// accepted by a DriftException the reader sees and one by one it does not.
func driftSnapshot() Snapshot {
	const U, A = fleetv1alpha1.DriftUnexplained, fleetv1alpha1.DriftAccepted
	return Snapshot{
		Now: now,
		Works: []fleetv1alpha1.Work{
			withDrift(withException(work("c1", "web", "shop", "web-2", "web-2", healthy), "team-a/hotfix", now.Add(48*time.Hour)), 3,
				alsoAccepted(drifted("Deployment", "team-a", "shop", U, time.Hour, "team-a/hotfix", "spec.replicas"), "metadata.labels.tier"),
				drifted("ConfigMap", "team-a", "shop", A, 3*time.Hour, "team-a/hotfix", "data.color")),
			withDrift(work("c2", "web", "shop", "web-2", "web-2", healthy), 0,
				drifted("Deployment", "team-a", "shop", U, 2*time.Hour, "", "spec.template.spec.containers[name=app].image")),
			withDrift(withException(teamBWork("c2", "web", "blog"), "team-b/legacy", now.Add(48*time.Hour)), 1,
				drifted("ConfigMap", "team-b", "blog", A, time.Hour, "team-b/legacy", "data.mode")),
			withDrift(fleetWork("c3", "db"), 0,
				drifted("ClusterRole", "", "db-reader", U, 0, "")),
			withDrift(work("c3", "web", "shop", "web-2", "web-2", healthy), 2), // corrected, none left
			work("c4", "web", "shop", "web-2", "web-2", healthy),               // never drifted
		},
		DriftExceptions: []fleetv1alpha1.DriftException{{
			ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "hotfix"},
			Spec: fleetv1alpha1.DriftExceptionSpec{Owner: "team-a-oncall", DeclaredBy: "alice", Reason: "incident 7",
				ExpiresAt: metav1.Time{Time: now.Add(48 * time.Hour)}},
		}},
	}
}

func TestBuildDrift(t *testing.T) {
	at := func(ago time.Duration) *time.Time { v := now.Add(-ago); return &v }
	expires := now.Add(48 * time.Hour)
	deployC2 := DriftedResource{Cluster: "c2", Promise: "web", Instance: "team-a/shop", Work: "web-shop", Group: "apps", Kind: "Deployment",
		Namespace: "team-a", Name: "shop", State: fleetv1alpha1.DriftUnexplained,
		Fields: []string{"spec.template.spec.containers[name=app].image"}, By: "kubectl-edit", Since: at(2 * time.Hour)}
	deployC1 := DriftedResource{Cluster: "c1", Promise: "web", Instance: "team-a/shop", Work: "web-shop", Group: "apps", Kind: "Deployment",
		Namespace: "team-a", Name: "shop", State: fleetv1alpha1.DriftUnexplained, Fields: []string{"spec.replicas"}, By: "kubectl-edit", Since: at(time.Hour),
		AcceptedFields: []string{"metadata.labels.tier"}, // and the exception that accepts them:
		Exception:      &DriftExceptionView{Namespace: "team-a", Name: "hotfix", Owner: "team-a-oncall", DeclaredBy: "alice", Reason: "incident 7", ExpiresAt: &expires}}
	roleC3 := DriftedResource{Cluster: "c3", Promise: "db", Work: "db-fleet", Kind: "ClusterRole", Name: "db-reader",
		State: fleetv1alpha1.DriftUnexplained, By: "kubectl-edit"}
	cmC1 := DriftedResource{Cluster: "c1", Promise: "web", Instance: "team-a/shop", Work: "web-shop", Kind: "ConfigMap", Namespace: "team-a", Name: "shop",
		State: fleetv1alpha1.DriftAccepted, Fields: []string{"data.color"}, By: "kubectl-edit", Since: at(3 * time.Hour),
		Exception: &DriftExceptionView{Namespace: "team-a", Name: "hotfix", Owner: "team-a-oncall", DeclaredBy: "alice", Reason: "incident 7", ExpiresAt: &expires}}
	cmC2 := DriftedResource{Cluster: "c2", Promise: "web", Instance: "team-b/blog", Work: "web-blog", Kind: "ConfigMap", Namespace: "team-b", Name: "blog",
		State: fleetv1alpha1.DriftAccepted, Fields: []string{"data.mode"}, By: "kubectl-edit", Since: at(time.Hour),
		Exception: &DriftExceptionView{Namespace: "team-b", Name: "legacy"}} // not in the snapshot: its name only
	counts := func(u, a int) DriftCounts { return DriftCounts{Unexplained: u, Accepted: a, Total: u + a} }

	for _, tt := range []struct {
		name   string
		filter DriftFilter
		limit  int
		want   Drift
	}{{
		name: "the whole fleet",
		want: Drift{
			Resources: counts(3, 2), Clusters: DriftCounts{Unexplained: 3, Accepted: 2, Total: 3}, Corrections: 6,
			Promises: []PromiseDrift{{Promise: "db", Resources: counts(1, 0), Clusters: 1}, {Promise: "web", Resources: counts(2, 2), Clusters: 2}},
			PerCluster: []ClusterDrift{{Cluster: "c1", Resources: counts(1, 1)}, {Cluster: "c2", Resources: counts(1, 1)},
				{Cluster: "c3", Resources: counts(1, 0)}},
			Items: []DriftedResource{deployC2, deployC1, roleC3, cmC1, cmC2},
		},
	}, {
		name:  "bounded: the counts stay whole",
		limit: 2,
		want: Drift{
			Resources: counts(3, 2), Clusters: DriftCounts{Unexplained: 3, Accepted: 2, Total: 3}, Corrections: 6,
			Promises:   []PromiseDrift{{Promise: "db", Resources: counts(1, 0), Clusters: 1}, {Promise: "web", Resources: counts(2, 2), Clusters: 2}},
			PerCluster: []ClusterDrift{{Cluster: "c1", Resources: counts(1, 1)}, {Cluster: "c2", Resources: counts(1, 1)}},
			Items:      []DriftedResource{roleC3, deployC2}, // cut short: the platform's first, then each team's (inTurns)
		},
	}, {
		name:   "one cluster",
		filter: DriftFilter{Cluster: "c2"},
		want: Drift{
			Resources: counts(1, 1), Clusters: DriftCounts{Unexplained: 1, Accepted: 1, Total: 1}, Corrections: 1,
			Promises:   []PromiseDrift{{Promise: "web", Resources: counts(1, 1), Clusters: 1}},
			PerCluster: []ClusterDrift{{Cluster: "c2", Resources: counts(1, 1)}},
			Items:      []DriftedResource{deployC2, cmC2},
		},
	}, {
		name:   "one Promise",
		filter: DriftFilter{Promise: "db"},
		want: Drift{
			Resources: counts(1, 0), Clusters: counts(1, 0),
			Promises:   []PromiseDrift{{Promise: "db", Resources: counts(1, 0), Clusters: 1}},
			PerCluster: []ClusterDrift{{Cluster: "c3", Resources: counts(1, 0)}},
			Items:      []DriftedResource{roleC3},
		},
	}, {
		name:   "one team's instances",
		filter: DriftFilter{Namespace: "team-a"},
		want: Drift{
			Resources: counts(2, 1), Clusters: DriftCounts{Unexplained: 2, Accepted: 1, Total: 2}, Corrections: 5,
			Promises:   []PromiseDrift{{Promise: "web", Resources: counts(2, 1), Clusters: 2}},
			PerCluster: []ClusterDrift{{Cluster: "c1", Resources: counts(1, 1)}, {Cluster: "c2", Resources: counts(1, 0)}},
			Items:      []DriftedResource{deployC2, deployC1, cmC1},
		},
	}, {
		name:   "fleet resources belong to flotilla-system",
		filter: DriftFilter{Namespace: fleetv1alpha1.PlatformNamespace, Cluster: "c3"},
		want: Drift{
			Resources: counts(1, 0), Clusters: counts(1, 0),
			Promises:   []PromiseDrift{{Promise: "db", Resources: counts(1, 0), Clusters: 1}},
			PerCluster: []ClusterDrift{{Cluster: "c3", Resources: counts(1, 0)}},
			Items:      []DriftedResource{roleC3},
		},
	}, {
		name:   "nothing matches",
		filter: DriftFilter{Cluster: "c4"},
		want:   Drift{Promises: []PromiseDrift{}, PerCluster: []ClusterDrift{}, Items: []DriftedResource{}},
	}} {
		t.Run(tt.name, func(t *testing.T) {
			got := BuildDrift(driftSnapshot(), tt.filter, tt.limit)
			if !reflect.DeepEqual(got, tt.want) {
				g, _ := json.MarshalIndent(got, "", " ")
				w, _ := json.MarshalIndent(tt.want, "", " ")
				t.Errorf("got\n%s\nwant\n%s", g, w)
			}
		})
	}
}

// The View carries the fleet's drift, bounded.
func TestBuildBoundsDrift(t *testing.T) {
	s := Snapshot{Now: now}
	for i := range MaxDriftItems + 3 {
		name := "c-" + string(rune('a'+i/26)) + string(rune('a'+i%26))
		s.Works = append(s.Works, withDrift(work(name, "web", "shop", "web-2", "web-2", healthy), 0,
			drifted("ConfigMap", "team-a", "shop", fleetv1alpha1.DriftUnexplained, time.Duration(i+1)*time.Minute, "", "data.x")))
	}
	d := Build(s).Drift
	if d.Resources.Total != MaxDriftItems+3 || d.Clusters.Unexplained != MaxDriftItems+3 || len(d.Items) != MaxDriftItems {
		t.Errorf("drift: %d resources on %d clusters, %d listed; want %d, %d and %d",
			d.Resources.Total, d.Clusters.Unexplained, len(d.Items), MaxDriftItems+3, MaxDriftItems+3, MaxDriftItems)
	}
	if first := d.Items[0]; first.Cluster != "c-ca" { // the oldest: 53 minutes
		t.Errorf("first listed = %s, want the oldest drift, on c-ca", first.Cluster)
	}
}

// Drift does not depend on the order of the Works, their resources or the
// DriftExceptions.
func TestBuildDriftIgnoresOrder(t *testing.T) {
	want, err := json.Marshal(BuildDrift(driftSnapshot(), DriftFilter{}, 0))
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 20 {
		s := driftSnapshot()
		s.DriftExceptions = append(s.DriftExceptions, fleetv1alpha1.DriftException{ObjectMeta: metav1.ObjectMeta{Namespace: "team-c", Name: "other"}})
		rng.Shuffle(len(s.Works), func(i, j int) { s.Works[i], s.Works[j] = s.Works[j], s.Works[i] })
		rng.Shuffle(len(s.DriftExceptions), func(i, j int) {
			s.DriftExceptions[i], s.DriftExceptions[j] = s.DriftExceptions[j], s.DriftExceptions[i]
		})
		for i := range s.Works {
			r := s.Works[i].Status.Resources
			rng.Shuffle(len(r), func(i, j int) { r[i], r[j] = r[j], r[i] })
		}
		got, err := json.Marshal(BuildDrift(s, DriftFilter{}, 0))
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Fatalf("shuffled input gave different drift:\n%s\nwant\n%s", got, want)
		}
	}
}

// The attack: under a Promise whose drift policy is Report, team-a edits 60
// of its objects on a member and leaves them so. Drift was listed oldest
// first, so team-a's filled the dashboard's 50 and the drift someone made
// later to the platform's fleet resources (its NetworkPolicy) and to
// team-b's instance was only in the counts. Each owner now takes its turn,
// the platform first, as with failures.
func TestOneTeamsDriftDoesNotHideTheOthers(t *testing.T) {
	var res []fleetv1alpha1.ResourceStatus
	for i := range 60 {
		res = append(res, drifted("ConfigMap", "team-a", "cm-"+string(rune('a'+i/26))+string(rune('a'+i%26)), fleetv1alpha1.DriftUnexplained, 48*time.Hour, "", "data"))
	}
	s := Snapshot{Now: now, Works: []fleetv1alpha1.Work{
		withDrift(work("eu-1", "web", "shop", "r-1", "r-1", healthy), 0, res...),
		withDrift(fleetWork("eu-1", "web"), 0, drifted("NetworkPolicy", "web-system", "deny-all", fleetv1alpha1.DriftUnexplained, time.Minute, "", "spec")),
		withDrift(teamBWork("eu-1", "web", "orders"), 0, drifted("Deployment", "team-b", "orders", fleetv1alpha1.DriftUnexplained, time.Minute, "", "spec")),
	}}
	d := BuildDrift(s, DriftFilter{}, MaxDriftItems)
	if d.Resources.Unexplained != 62 || len(d.Items) != MaxDriftItems {
		t.Fatalf("drift: %d unexplained, %d listed; want 62 and %d", d.Resources.Unexplained, len(d.Items), MaxDriftItems)
	}
	var first []string
	for _, it := range d.Items[:3] {
		first = append(first, it.Kind+" "+it.Namespace+"/"+it.Name)
	}
	want := []string{"NetworkPolicy web-system/deny-all", "ConfigMap team-a/cm-aa", "Deployment team-b/orders"}
	if !reflect.DeepEqual(first, want) {
		t.Errorf("first drift listed = %q; want %q: the platform's, then each team's oldest", first, want)
	}
}

// The attack: a member's agent (a-hostile) reports 60 drifted resources on
// each Work of its cluster, the platform's and twelve teams', each first
// seen, it says, in 1970. Drift was listed oldest first, each owner in turn,
// so the hostile cluster's filled every owner's turns and the dashboard's
// 50, and drift made to the platform's NetworkPolicy on eu-1 was only in the
// counts. A cluster's drift now takes turns too.
func TestOneClustersDriftDoesNotHideTheOthers(t *testing.T) {
	const U = fleetv1alpha1.DriftUnexplained
	longAgo := now.Sub(time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC))
	hostile := func(w fleetv1alpha1.Work) fleetv1alpha1.Work {
		var res []fleetv1alpha1.ResourceStatus
		for i := range 60 {
			res = append(res, drifted("ConfigMap", "x", fmt.Sprintf("cm-%02d", i), U, longAgo, "", "data"))
		}
		return withDrift(w, 0, res...)
	}
	s := Snapshot{Now: now, Works: []fleetv1alpha1.Work{hostile(fleetWork("a-hostile", "web"))}}
	for i := range 12 {
		w := work("a-hostile", "web", "shop", "r-1", "r-1", healthy)
		w.Spec.Subject.Instance.Namespace = fmt.Sprintf("team-%02d", i)
		w.Name = "web-shop-" + w.Spec.Subject.Instance.Namespace
		s.Works = append(s.Works, hostile(w))
	}
	s.Works = append(s.Works, withDrift(fleetWork("eu-1", "web"), 0,
		drifted("NetworkPolicy", "web-system", "deny-all", U, time.Minute, "", "spec")))

	d := BuildDrift(s, DriftFilter{}, MaxDriftItems)
	if d.Resources.Unexplained != 13*60+1 || len(d.Items) != MaxDriftItems {
		t.Fatalf("drift: %d unexplained, %d listed; want %d and %d", d.Resources.Unexplained, len(d.Items), 13*60+1, MaxDriftItems)
	}
	if !slices.ContainsFunc(d.Items, func(it DriftedResource) bool { return it.Cluster == "eu-1" }) {
		t.Errorf("the drift listed is all a-hostile's: the NetworkPolicy drifted on eu-1 is not among the %d", len(d.Items))
	}
	if first := d.Items[:2]; first[0].Cluster != "a-hostile" || first[1].Cluster != "eu-1" {
		t.Errorf("first two listed on %s and %s; want a-hostile's oldest, then eu-1's", first[0].Cluster, first[1].Cluster)
	}
}
