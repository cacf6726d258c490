package fleetview

import (
	"cmp"
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

var now = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

func cluster(name string, avail fleetv1alpha1.ClusterAvailability, labels map[string]string) fleetv1alpha1.Cluster {
	c := fleetv1alpha1.Cluster{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
	c.Status.Availability = avail
	if avail == fleetv1alpha1.ClusterAvailabilityOffline {
		c.Status.LastHeartbeatTime = &metav1.Time{Time: now.Add(-time.Minute)}
		c.Status.Conditions = []metav1.Condition{{Type: fleetv1alpha1.ConditionOffline, Status: metav1.ConditionTrue, Reason: "HeartbeatMissed", Message: "no heartbeat for 1m0s"}}
	}
	return c
}

type workState int

const (
	healthy workState = iota
	failed
	progressing
)

// work is promise's Work for instance ns/name on cluster, asking for rev and
// reporting applied as the agent would.
func work(cluster, promise, instance, rev, applied string, state workState) fleetv1alpha1.Work {
	w := fleetv1alpha1.Work{ObjectMeta: metav1.ObjectMeta{
		Namespace: fleetv1alpha1.ClusterNamespace(cluster), Name: promise + "-" + instance, Generation: 2,
	}}
	w.Spec.Cluster = cluster
	w.Spec.Subject = fleetv1alpha1.WorkSubject{Promise: promise, Instance: &fleetv1alpha1.InstanceReference{Namespace: "team-a", Name: instance}}
	w.Spec.Revision = rev
	w.Status.ObservedGeneration = 2
	w.Status.AppliedRevision = applied
	isTrue := func(t, reason string) metav1.Condition {
		return metav1.Condition{Type: t, Status: metav1.ConditionTrue, Reason: reason, Message: reason + " message"}
	}
	switch state {
	case healthy:
		w.Status.Conditions = []metav1.Condition{isTrue(fleetv1alpha1.ConditionApplied, "Applied"), isTrue(fleetv1alpha1.ConditionReady, "Ready")}
	case failed:
		w.Status.Conditions = []metav1.Condition{isTrue(fleetv1alpha1.ConditionApplied, "Applied"), isTrue(fleetv1alpha1.ConditionStalled, "ImagePullBackOff")}
	case progressing:
		w.Status.ObservedGeneration = 1
	}
	return w
}

func rollout(name string, created time.Time, phase fleetv1alpha1.RolloutPhase, waves ...fleetv1alpha1.WaveStatus) fleetv1alpha1.Rollout {
	r := fleetv1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{
		Namespace: fleetv1alpha1.PlatformNamespace, Name: name, CreationTimestamp: metav1.Time{Time: created},
	}}
	r.Spec.Subject.Promise = "web"
	r.Spec.TargetRevision = "web-2"
	r.Spec.FromRevision = "web-1"
	r.Status.Phase = phase
	r.Status.Waves = waves
	return r
}

func fleetSnapshot() Snapshot {
	web := fleetv1alpha1.Promise{ObjectMeta: metav1.ObjectMeta{Name: "web"}}
	web.Status.LatestRevision = "web-2"
	web.Status.Instances = 2
	return Snapshot{
		Now: now,
		Clusters: []fleetv1alpha1.Cluster{
			cluster("pilot-1", fleetv1alpha1.ClusterAvailabilityAvailable, map[string]string{"ring": "pilot"}),
			cluster("canary-1", fleetv1alpha1.ClusterAvailabilityAvailable, map[string]string{"ring": "canary"}),
			cluster("canary-2", fleetv1alpha1.ClusterAvailabilityAvailable, map[string]string{"ring": "canary"}),
			cluster("general-1", fleetv1alpha1.ClusterAvailabilityOffline, map[string]string{"ring": "general"}),
			cluster("general-2", "", nil),
		},
		Works: []fleetv1alpha1.Work{
			work("pilot-1", "web", "shop", "web-2", "web-2", healthy),
			work("pilot-1", "web", "blog", "web-2", "web-2", healthy),
			work("canary-1", "web", "shop", "web-2", "web-2", failed),
			work("canary-2", "web", "shop", "web-2", "web-1", healthy), // asks for web-2, still runs web-1: mixed with blog, progressing
			work("canary-2", "web", "blog", "web-2", "web-2", healthy),
			work("general-1", "web", "shop", "web-1", "web-1", healthy),
			work("general-2", "web", "shop", "web-1", "", progressing),
			work("general-2", "db", "orders", "db-1", "db-1", healthy),
		},
		Rollouts: []fleetv1alpha1.Rollout{
			rollout("web-1", now.Add(-time.Hour), fleetv1alpha1.RolloutPhaseSucceeded),
			rollout("web-2", now.Add(-time.Minute), fleetv1alpha1.RolloutPhaseWaitingForApproval,
				fleetv1alpha1.WaveStatus{Name: "pilot", Phase: fleetv1alpha1.WavePhaseSucceeded, Clusters: []string{"pilot-1"}},
				fleetv1alpha1.WaveStatus{Name: "canary", Phase: fleetv1alpha1.WavePhaseWaitingForApproval, Clusters: []string{"canary-1", "canary-2"}}),
		},
		Promises: []fleetv1alpha1.Promise{web},
		Freezes: []fleetv1alpha1.FleetFreeze{
			{ObjectMeta: metav1.ObjectMeta{Name: "cve"}, Spec: fleetv1alpha1.FleetFreezeSpec{Reason: "incident", Action: fleetv1alpha1.FreezeHalt}},
			{ObjectMeta: metav1.ObjectMeta{Name: "old"}, Spec: fleetv1alpha1.FleetFreezeSpec{Reason: "done", Until: &metav1.Time{Time: now.Add(-time.Second)}}},
		},
	}
}

func TestBuild(t *testing.T) {
	v := Build(fleetSnapshot())

	if want := (ClusterCounts{Total: 5, Available: 3, Offline: 1, Unknown: 1}); v.Clusters != want {
		t.Errorf("Clusters = %+v, want %+v", v.Clusters, want)
	}
	health := map[string]Health{}
	revisions := map[string]string{}
	waves := map[string]string{}
	for _, tile := range v.Tiles {
		health[tile.Name] = tile.Health
		revisions[tile.Name] = tile.Revisions["web"]
		waves[tile.Name] = tile.Wave
	}
	wantHealth := map[string]Health{
		"pilot-1": HealthHealthy, "canary-1": HealthFailed, "canary-2": HealthProgressing,
		"general-1": HealthOffline, "general-2": HealthProgressing,
	}
	if !reflect.DeepEqual(health, wantHealth) {
		t.Errorf("health = %v, want %v", health, wantHealth)
	}
	wantRevisions := map[string]string{
		"pilot-1": "web-2", "canary-1": "web-2", "canary-2": RevisionMixed,
		"general-1": "web-1", "general-2": RevisionPending,
	}
	if !reflect.DeepEqual(revisions, wantRevisions) {
		t.Errorf("web revisions = %v, want %v", revisions, wantRevisions)
	}
	wantWaves := map[string]string{"pilot-1": "pilot", "canary-1": "canary", "canary-2": "canary", "general-1": "", "general-2": ""}
	if !reflect.DeepEqual(waves, wantWaves) {
		t.Errorf("waves = %v, want %v", waves, wantWaves)
	}
	if v.Tiles[0].Name != "canary-1" || v.Tiles[0].Reason != "ImagePullBackOff" {
		t.Errorf("first tile = %+v, want canary-1 failing with ImagePullBackOff", v.Tiles[0])
	}

	wantPromises := []PromiseView{
		// general-2's agent has not heartbeated (Unknown): its report on
		// db-1 is not counted healthy.
		{Name: "db", Clusters: 1, Revisions: []RevisionShare{{Revision: "db-1", Clusters: 1, NotHealthy: 1, NotHealthyPercent: 100}}},
		// web-2 is applied on two clusters but healthy on one (canary-1
		// fails): 20% of the clusters are on it, 20% more applied it and are
		// not healthy. general-1 is offline: not counted healthy.
		{Name: "web", LatestRevision: "web-2", Instances: 2, Clusters: 5, Revisions: []RevisionShare{
			{Revision: "web-2", Clusters: 2, Healthy: 1, NotHealthy: 1, Percent: 20, NotHealthyPercent: 20, Latest: true},
			{Revision: RevisionMixed, Clusters: 1, NotHealthy: 1, NotHealthyPercent: 20},
			{Revision: RevisionPending, Clusters: 1, NotHealthy: 1, NotHealthyPercent: 20},
			{Revision: "web-1", Clusters: 1, NotHealthy: 1, NotHealthyPercent: 20},
		}},
	}
	if !reflect.DeepEqual(v.Promises, wantPromises) {
		t.Errorf("Promises =\n%+v\nwant\n%+v", v.Promises, wantPromises)
	}

	if v.FailureCount != 1 || len(v.Failures) != 1 {
		t.Fatalf("failures = %d %+v, want 1", v.FailureCount, v.Failures)
	}
	if f := v.Failures[0]; f.Cluster != "canary-1" || f.Reason != "ImagePullBackOff" || f.Instance != "team-a/shop" || f.Promise != "web" {
		t.Errorf("failure = %+v", f)
	}
	if len(v.Offline) != 1 || v.Offline[0].Cluster != "general-1" || v.Offline[0].Reason != "no heartbeat for 1m0s" {
		t.Errorf("offline = %+v", v.Offline)
	}

	if len(v.Rollouts) != 2 || v.Rollouts[0].Name != "web-2" || v.Rollouts[1].Name != "web-1" {
		t.Fatalf("rollouts = %+v, want web-2 in flight, then web-1 finished", v.Rollouts)
	}
	if r := v.Rollouts[0]; r.Finished || r.AwaitingApproval != "canary" || len(r.Waves) != 2 {
		t.Errorf("web-2 = %+v", r)
	}
	if !v.Rollouts[1].Finished {
		t.Errorf("web-1 should be finished")
	}
	if len(v.Freezes) != 1 || v.Freezes[0].Name != "cve" {
		t.Errorf("freezes = %+v, want only cve in force", v.Freezes)
	}
}

// The View does not depend on the order of the snapshot's lists.
func TestBuildIgnoresOrder(t *testing.T) {
	want, err := json.Marshal(Build(fleetSnapshot()))
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20 {
		s := fleetSnapshot()
		rng.Shuffle(len(s.Clusters), func(i, j int) { s.Clusters[i], s.Clusters[j] = s.Clusters[j], s.Clusters[i] })
		rng.Shuffle(len(s.Works), func(i, j int) { s.Works[i], s.Works[j] = s.Works[j], s.Works[i] })
		rng.Shuffle(len(s.Rollouts), func(i, j int) { s.Rollouts[i], s.Rollouts[j] = s.Rollouts[j], s.Rollouts[i] })
		got, err := json.Marshal(Build(s))
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Fatalf("shuffled input gave a different view:\n%s\nwant\n%s", got, want)
		}
	}
}

func TestBuildBoundsFailuresAndFinishedRollouts(t *testing.T) {
	s := Snapshot{Now: now}
	for i := range MaxFailures + 7 {
		name := "c-" + string(rune('a'+i/26)) + string(rune('a'+i%26))
		s.Clusters = append(s.Clusters, cluster(name, fleetv1alpha1.ClusterAvailabilityAvailable, nil))
		s.Works = append(s.Works, work(name, "web", "shop", "web-2", "web-2", failed))
	}
	for i := range MaxFinishedRollouts + 3 {
		s.Rollouts = append(s.Rollouts, rollout("web-"+string(rune('a'+i)), now.Add(time.Duration(i)*time.Minute), fleetv1alpha1.RolloutPhaseSucceeded))
	}
	v := Build(s)
	if v.FailureCount != MaxFailures+7 || len(v.Failures) != MaxFailures {
		t.Errorf("failures: count %d, listed %d; want %d and %d", v.FailureCount, len(v.Failures), MaxFailures+7, MaxFailures)
	}
	if len(v.Rollouts) != MaxFinishedRollouts || v.Rollouts[0].Name != "web-h" {
		t.Errorf("finished rollouts = %d, first %q; want %d, newest first (web-h)", len(v.Rollouts), v.Rollouts[0].Name, MaxFinishedRollouts)
	}
}

// An empty hub gives empty lists, not nulls, so the dashboard's code needs no
// special cases.
func TestBuildEmpty(t *testing.T) {
	got, err := json.Marshal(Build(Snapshot{Now: now}))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"generatedAt":"2026-11-22T12:00:00Z","clusters":{"total":0,"available":0,"offline":0,"unknown":0},"tiles":[],"promises":[],"rollouts":[],"failures":[],"failureCount":0,"offline":[],"freezes":[],"drift":{"resources":{"unexplained":0,"accepted":0,"total":0},"clusters":{"unexplained":0,"accepted":0,"total":0},"corrections":0,"promises":[],"perCluster":[],"items":[]},"visibility":{"partial":false,"clusters":"All","works":"All","rollouts":"All","promises":"All","fleetFreezes":"All","driftExceptions":"All"}}`
	if string(got) != want {
		t.Errorf("empty view = %s\nwant %s", got, want)
	}
}

func TestPercentRounds(t *testing.T) {
	for _, tt := range []struct {
		n, total int
		want     float64
	}{{0, 0, 0}, {1, 3, 33.3}, {2, 3, 66.7}, {1, 6, 16.7}, {1, 8, 12.5}, {3, 3, 100}} {
		if got := percent(tt.n, tt.total); got != tt.want {
			t.Errorf("percent(%d, %d) = %v, want %v", tt.n, tt.total, got, tt.want)
		}
	}
}

// In a fleet of 2,000 clusters, 1,999 healthy on the new revision and one
// still on the old read "100.0%" for the new and, past 20,000, "0.0%" for
// the old: the release looked done with a cluster not on it. A share that is
// not all the clusters never reads 100 %, and one that is not none never 0 %.
func TestPercentNeverRoundsToAllOrNone(t *testing.T) {
	for _, tt := range []struct {
		n, total int
		want     float64
	}{{1999, 2000, 99.9}, {19999, 20000, 99.9}, {1, 2000, 0.1}, {1, 20001, 0.1}, {2000, 2000, 100}, {0, 2000, 0}} {
		if got := percent(tt.n, tt.total); got != tt.want {
			t.Errorf("percent(%d, %d) = %v, want %v", tt.n, tt.total, got, tt.want)
		}
	}
}

// A cluster whose agent runs in the wrong mode for its delivery shows as
// Failed, saying so, whatever its Works report.
func TestBuildShowsAnAgentModeMismatch(t *testing.T) {
	c := cluster("git-1", fleetv1alpha1.ClusterAvailabilityAvailable, nil)
	c.Status.Conditions = []metav1.Condition{{Type: fleetv1alpha1.ConditionReady, Status: metav1.ConditionFalse,
		Reason: fleetv1alpha1.ReasonAgentModeMismatch, Message: "the agent applies Works itself"}}
	v := Build(Snapshot{Now: now, Clusters: []fleetv1alpha1.Cluster{c}, Works: []fleetv1alpha1.Work{work("git-1", "web", "shop", "web-1", "web-1", healthy)}})
	if tile := v.Tiles[0]; tile.Health != HealthFailed || tile.Reason != "AgentModeMismatch: the agent applies Works itself" {
		t.Errorf("tile = %+v, want Failed with the mismatch", tile)
	}
	if v.Clusters.Available != 1 || v.FailureCount != 0 {
		t.Errorf("clusters %+v, %d failures: want it Available with no Work failing", v.Clusters, v.FailureCount)
	}
}

// A cluster whose agent's Lease is gone (deleted, or re-created by a second
// join) is Unknown, not Offline: the Rollout counts it offline, but the
// shares counted the last reports of its Works healthy on their revision, so
// `flotilla status` and flotilla_promise_clusters_healthy read web-2 on 100 %
// of the fleet while the Rollout said a cluster was offline.
func TestAClusterThatDoesNotHeartbeatIsNotHealthyOnItsLastReport(t *testing.T) {
	web := fleetv1alpha1.Promise{ObjectMeta: metav1.ObjectMeta{Name: "web"}}
	web.Status.LatestRevision = "web-2"
	unknown := cluster("eu-2", fleetv1alpha1.ClusterAvailabilityUnknown, nil)
	unknown.Status.Conditions = []metav1.Condition{{Type: fleetv1alpha1.ConditionAvailable, Status: metav1.ConditionUnknown,
		Reason: fleetv1alpha1.ReasonNeverConnected, Message: "the agent's Lease does not exist"}}
	v := Build(Snapshot{Now: now, Promises: []fleetv1alpha1.Promise{web},
		Clusters: []fleetv1alpha1.Cluster{
			cluster("eu-1", fleetv1alpha1.ClusterAvailabilityAvailable, nil),
			unknown,
		},
		Works: []fleetv1alpha1.Work{work("eu-1", "web", "shop", "web-2", "web-2", healthy), work("eu-2", "web", "shop", "web-2", "web-2", healthy)},
	})
	want := []RevisionShare{{Revision: "web-2", Clusters: 2, Healthy: 1, NotHealthy: 1, Percent: 50, NotHealthyPercent: 50, Latest: true}}
	if got := v.Promises[0].Revisions; !reflect.DeepEqual(got, want) {
		t.Errorf("web shares = %+v, want %+v", got, want)
	}
	// Nor does its tile read Healthy: it says why its reports are not believed.
	if tile := v.Tiles[1]; tile.Name != "eu-2" || tile.Health == HealthHealthy || tile.Reason != "the agent's Lease does not exist" {
		t.Errorf("tile = %+v, want eu-2 not Healthy, with the reason", tile)
	}
}

// The platform's Rollout of web-2, started two days ago, rolled back a
// minute ago; five teams' instance Rollouts started since (each change of an
// instance starts one) finished an hour ago. "Recently finished" kept the
// five newest by start, so the rollback, the fleet's last outcome, was not
// in `flotilla status` nor on the dashboard. Finished Rollouts are the ones
// that finished last.
func TestTheLastRolloutToFinishIsShown(t *testing.T) {
	s := Snapshot{Now: now}
	platform := rollout("web-2", now.Add(-48*time.Hour), fleetv1alpha1.RolloutPhaseRolledBack)
	platform.Status.CompletedAt = &metav1.Time{Time: now.Add(-time.Minute)}
	s.Rollouts = append(s.Rollouts, platform)
	for i := range MaxFinishedRollouts {
		r := rollout("shop-"+string(rune('a'+i)), now.Add(-24*time.Hour+time.Duration(i)*time.Minute), fleetv1alpha1.RolloutPhaseSucceeded)
		r.Namespace = "team-a"
		r.Status.CompletedAt = &metav1.Time{Time: now.Add(-time.Hour)}
		s.Rollouts = append(s.Rollouts, r)
	}
	v := Build(s)
	if len(v.Rollouts) != MaxFinishedRollouts || v.Rollouts[0].Name != "web-2" {
		var names []string
		for _, r := range v.Rollouts {
			names = append(names, r.Namespace+"/"+r.Name)
		}
		t.Errorf("finished rollouts = %v; want %d, the rollback of web-2 first", names, MaxFinishedRollouts)
	}
}

// The attack: a team that may run its instances' Rollouts finishes five of
// them after the platform's Promise Rollout rolled back, and the platform's
// outcome left "recently finished" (flotilla status, the dashboard) for
// everyone. Each Promise's platform Rollout that finished last stays,
// whatever the teams finished since; the teams' share the other places.
func TestTeamsCannotPushThePlatformsOutcomeOutOfView(t *testing.T) {
	s := Snapshot{Now: now}
	platform := rollout("web-2", now.Add(-48*time.Hour), fleetv1alpha1.RolloutPhaseRolledBack)
	platform.Status.CompletedAt = &metav1.Time{Time: now.Add(-time.Hour)}
	older := rollout("web-1", now.Add(-72*time.Hour), fleetv1alpha1.RolloutPhaseSucceeded)
	older.Status.CompletedAt = &metav1.Time{Time: now.Add(-70 * time.Hour)}
	s.Rollouts = append(s.Rollouts, older, platform)
	for i := range MaxFinishedRollouts + 2 {
		r := rollout("shop-"+string(rune('a'+i)), now.Add(-30*time.Minute+time.Duration(i)*time.Minute), fleetv1alpha1.RolloutPhaseSucceeded)
		r.Namespace = "team-a"
		r.Status.CompletedAt = &metav1.Time{Time: now.Add(-10*time.Minute + time.Duration(i)*time.Second)}
		s.Rollouts = append(s.Rollouts, r)
	}
	v := Build(s)
	var names []string
	for _, r := range v.Rollouts {
		names = append(names, r.Namespace+"/"+r.Name)
	}
	if !slices.Contains(names, fleetv1alpha1.PlatformNamespace+"/web-2") || slices.Contains(names, fleetv1alpha1.PlatformNamespace+"/web-1") ||
		len(names) != MaxFinishedRollouts+1 {
		t.Errorf("finished rollouts = %v; want the five that finished last and the platform's web-2, not web-1", names)
	}
}

// The attack: team-a's instances fail on the clusters that sort first (a bad
// image in a value, on purpose or not), more of them than the view lists.
// Failures were listed by cluster and Work, so team-a's filled the list
// (the dashboard's 50, `flotilla status`'s first 10) and the platform's
// failing fleet resources, and team-b's failing instance, were only in the
// count. Each owner now takes its turn: the platform's first, then every
// team's first failure, then every one's second, and so on.
func TestOneTeamsFailuresDoNotHideTheOthers(t *testing.T) {
	s := Snapshot{Now: now}
	add := func(name string, w fleetv1alpha1.Work) {
		if !slices.ContainsFunc(s.Clusters, func(c fleetv1alpha1.Cluster) bool { return c.Name == name }) {
			s.Clusters = append(s.Clusters, cluster(name, fleetv1alpha1.ClusterAvailabilityAvailable, nil))
		}
		s.Works = append(s.Works, w)
	}
	for c := range 6 {
		for i := range 12 {
			name := "a-" + string(rune('a'+c))
			add(name, work(name, "web", "shop-"+string(rune('a'+i)), "web-2", "web-2", failed))
		}
	}
	fleet := work("zz-1", "web", "", "web-2", "web-2", failed)
	fleet.Name, fleet.Spec.Subject.Instance = "web-fleet", nil
	add("zz-1", fleet)
	teamB := work("zz-1", "web", "orders", "web-2", "web-2", failed)
	teamB.Spec.Subject.Instance.Namespace = "team-b"
	add("zz-1", teamB)

	v := Build(s)
	if v.FailureCount != 6*12+2 || len(v.Failures) != MaxFailures {
		t.Fatalf("failures: count %d, listed %d; want %d and %d", v.FailureCount, len(v.Failures), 6*12+2, MaxFailures)
	}
	var first []string
	for _, f := range v.Failures[:3] {
		first = append(first, f.Cluster+" "+cmp.Or(f.Instance, "fleet resources"))
	}
	want := []string{"zz-1 fleet resources", "a-a team-a/shop-a", "zz-1 team-b/orders"}
	if !slices.Equal(first, want) {
		t.Errorf("first failures listed = %q; want %q: the platform's, then each team's first", first, want)
	}
}

// The attack: during the platform's release of web-2, team-a changes its
// instance, and the hub starts that change's Rollout, newer than the
// platform's, in waves of its own over the same clusters. Each tile took the
// wave of the newest Rollout in flight, so the dashboard's grid, grouped by
// wave, showed the clusters in team-a's waves and the platform's canary and
// general waves not at all. A Promise's Rollout now keeps its clusters; a
// team's Rollout names only clusters no Promise's Rollout in flight has.
func TestATeamsRolloutDoesNotTakeTheClustersOfThePlatformsWaves(t *testing.T) {
	s := Snapshot{Now: now}
	for _, name := range []string{"canary-1", "general-1", "lab-1"} {
		s.Clusters = append(s.Clusters, cluster(name, fleetv1alpha1.ClusterAvailabilityAvailable, nil))
	}
	platform := rollout("web-2", now.Add(-time.Hour), fleetv1alpha1.RolloutPhaseWaitingForApproval,
		fleetv1alpha1.WaveStatus{Name: "canary", Phase: fleetv1alpha1.WavePhaseWaitingForApproval, Clusters: []string{"canary-1"}},
		fleetv1alpha1.WaveStatus{Name: "general", Clusters: []string{"general-1"}})
	team := rollout("shop-7", now.Add(-time.Minute), fleetv1alpha1.RolloutPhaseProgressing,
		fleetv1alpha1.WaveStatus{Name: "all", Phase: fleetv1alpha1.WavePhaseProgressing, Clusters: []string{"canary-1", "general-1", "lab-1"}})
	team.Namespace = "team-a"
	team.Spec.Subject.Instance = &fleetv1alpha1.LocalObjectReference{Name: "shop"}
	s.Rollouts = []fleetv1alpha1.Rollout{platform, team}

	got := map[string]string{}
	for _, tile := range Build(s).Tiles {
		got[tile.Name] = tile.Rollout + " " + tile.Wave
	}
	want := map[string]string{
		"canary-1":  "flotilla-system/web-2 canary",
		"general-1": "flotilla-system/web-2 general",
		"lab-1":     "team-a/shop-7 all",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("tiles' waves = %v; want %v", got, want)
	}
}

// The attack: a member's agent (its cluster's name, a-hostile, sorting
// first) reports every Work of its cluster failed: the fleet resources of
// three Promises and twelve teams' instances. Failures were listed each
// owner in turn by cluster, so the platform's first three were the hostile
// cluster's, each team's first too, and the platform's fleet resources
// failing on eu-1 in its release were left out of `flotilla status`'s ten.
// A cluster's failures now take turns too: the hostile cluster shows one a
// round.
func TestOneClustersFailuresDoNotHideTheOthers(t *testing.T) {
	s := Snapshot{Now: now, Clusters: []fleetv1alpha1.Cluster{
		cluster("a-hostile", fleetv1alpha1.ClusterAvailabilityAvailable, nil),
		cluster("eu-1", fleetv1alpha1.ClusterAvailabilityAvailable, nil),
	}}
	fleetFailing := func(c, promise string) fleetv1alpha1.Work {
		w := work(c, promise, "", "r-2", "r-2", failed)
		w.Name, w.Spec.Subject.Instance = promise+"-fleet", nil
		return w
	}
	for _, p := range []string{"cache", "db", "web"} {
		s.Works = append(s.Works, fleetFailing("a-hostile", p))
	}
	for i := range 12 {
		w := work("a-hostile", "web", "shop", "r-2", "r-2", failed)
		w.Spec.Subject.Instance.Namespace = fmt.Sprintf("team-%02d", i)
		w.Name = "web-shop-" + w.Spec.Subject.Instance.Namespace
		s.Works = append(s.Works, w)
	}
	s.Works = append(s.Works, fleetFailing("eu-1", "web"))

	v := Build(s)
	if v.FailureCount != 16 {
		t.Fatalf("failures: count %d; want 16", v.FailureCount)
	}
	shown := v.Failures[:10] // what `flotilla status` prints
	if !slices.ContainsFunc(shown, func(f Failure) bool { return f.Cluster == "eu-1" }) {
		var listed []string
		for _, f := range shown {
			listed = append(listed, f.Cluster+" "+f.Work)
		}
		t.Errorf("the first ten failures listed are %q: the platform's failure on eu-1 is not among them", listed)
	}
}

// The attack: team-a changes its 30 instances one by one before the
// platform starts its release, and the hub starts a Rollout for each.
// Rollouts in flight were listed oldest first, so `flotilla status` printed
// team-a's 30, a wave a line, before the platform's release, and the
// dashboard drew its card after theirs. The platform's Rollouts in flight
// now come first.
func TestATeamsRolloutsDoNotBuryThePlatformsInFlight(t *testing.T) {
	s := Snapshot{Now: now}
	for i := range 30 {
		r := rollout(fmt.Sprintf("shop-%02d-r2", i), now.Add(-time.Hour+time.Duration(i)*time.Second), fleetv1alpha1.RolloutPhaseProgressing)
		r.Namespace = "team-a"
		r.Spec.Subject.Instance = &fleetv1alpha1.LocalObjectReference{Name: fmt.Sprintf("shop-%02d", i)}
		s.Rollouts = append(s.Rollouts, r)
	}
	s.Rollouts = append(s.Rollouts, rollout("web-2", now.Add(-time.Minute), fleetv1alpha1.RolloutPhaseProgressing))
	v := Build(s)
	if len(v.Rollouts) != 31 {
		t.Fatalf("%d rollouts in the view; want 31", len(v.Rollouts))
	}
	if first, next := v.Rollouts[0], v.Rollouts[1]; first.Name != "web-2" || next.Name != "shop-00-r2" {
		t.Errorf("rollouts in flight listed %s/%s, %s/%s first; want the platform's web-2, then team-a's oldest",
			first.Namespace, first.Name, next.Namespace, next.Name)
	}
}
