package demo

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

func ready(instance, image string) instanceState {
	return instanceState{Instance: instance, Image: image, Ready: true}
}

func TestRolloutFrame(t *testing.T) {
	ro := &fleetv1alpha1.Rollout{
		ObjectMeta: metav1.ObjectMeta{Name: "web-3"},
		Status: fleetv1alpha1.RolloutStatus{
			Phase: fleetv1alpha1.RolloutPhaseProgressing, CurrentWave: "canary", PercentOnTarget: 0, FailureCount: 1,
			Counts: fleetv1alpha1.RolloutCounts{Total: 5},
			Waves: []fleetv1alpha1.WaveStatus{
				{Name: "pilot", Phase: fleetv1alpha1.WavePhaseSucceeded, Clusters: []string{"member-1"}, Counts: fleetv1alpha1.RolloutCounts{Failed: 1}},
				{Name: "canary", Phase: fleetv1alpha1.WavePhaseProgressing, Clusters: []string{"member-2", "member-3"}},
				{Name: "general", Phase: fleetv1alpha1.WavePhaseWaitingForApproval, Clusters: []string{"member-4", "member-5"}},
			},
		},
	}
	members := []memberState{
		{Name: "member-1", Wave: "pilot", Instances: []instanceState{
			{Instance: "team-a/storefront", Image: badImage, Problem: "ImagePullBackOff"},
			{Instance: "team-b/checkout", Image: badImage, Problem: "ImagePullBackOff"},
		}},
		{Name: "member-2", Wave: "canary", Instances: []instanceState{
			ready("team-a/storefront", goodImage), {Instance: "team-b/checkout", Image: badImage},
		}},
	}
	frame := rolloutFrame("web-3", ro, members)
	want := []struct{ key, text string }{
		{"rollout", "rollout web-3: Progressing (wave canary) · 0% on target · 0/5 healthy · 1 failed"},
		{"wave pilot", "wave pilot    succeeded within budget 0/1 healthy, 1 failed   member-1"},
		{"wave canary", "wave canary   progressing"},
		{"wave general", "wave general  waiting for approval"},
		{"member member-1", "member-1  pilot    " + badImage + "  not ready (ImagePullBackOff)"},
		{"member member-2", "team-a/storefront: " + goodImage + " ready; team-b/checkout: " + badImage + " rolling out"},
	}
	if len(frame) != len(want) {
		t.Fatalf("frame has %d lines, want %d: %q", len(frame), len(want), frame)
	}
	for i, w := range want {
		if frame[i].key != w.key || !strings.Contains(frame[i].text, w.text) {
			t.Errorf("line %d = %q %q, want key %q containing %q", i, frame[i].key, frame[i].text, w.key, w.text)
		}
	}

	// After a rollback the counts describe the way back; the failures stay.
	ro.Status.Phase = fleetv1alpha1.RolloutPhaseRolledBack
	ro.Status.Waves[0].Counts.Failed = 0
	ro.Status.Waves[1].Phase = fleetv1alpha1.WavePhaseFailed
	ro.Status.Failures = []fleetv1alpha1.ClusterFailure{{Cluster: "member-1", Wave: "pilot"}, {Cluster: "member-2", Wave: "canary"}, {Cluster: "member-3", Wave: "canary"}}
	frame = rolloutFrame("web-3", ro, nil)
	for i, want := range []string{"RolledBack", "succeeded within budget 0/1 healthy, 1 failed", "failed                  0/2 healthy, 2 failed"} {
		if !strings.Contains(frame[i].text, want) {
			t.Errorf("after the rollback, line %d = %q, want %q in it", i, frame[i].text, want)
		}
	}

	frame = rolloutFrame("web-2", nil, members)
	if len(frame) != 1 || !strings.Contains(frame[0].text, "waiting for the hub to create it") {
		t.Errorf("frame before the rollout exists: %q", frame)
	}
}

func TestRunsText(t *testing.T) {
	for _, tc := range []struct {
		name      string
		instances []instanceState
		want      string
	}{
		{"none", nil, "-"},
		{"agreeing", []instanceState{ready("a/x", "i:1"), ready("b/y", "i:1")}, "i:1  ready"},
		{"absent", []instanceState{{Instance: "a/x"}}, "-  not there"},
		{"different images", []instanceState{ready("a/x", "i:1"), ready("b/y", "i:2")}, "a/x: i:1 ready; b/y: i:2 ready"},
		{"different states", []instanceState{ready("a/x", "i:1"), {Instance: "b/y", Image: "i:1"}}, "a/x: i:1 ready; b/y: i:1 rolling out"},
	} {
		if got := runsText(tc.instances); got != tc.want {
			t.Errorf("%s: runsText = %q, want %q", tc.name, got, tc.want)
		}
	}
}

// The strategy of fleet.yaml sorts the demo's members into the waves the
// story expects, with the budgets it narrates.
func TestStrategyTableOfTheDemoFleet(t *testing.T) {
	objs, err := decodeAsset(fleetAsset)
	if err != nil {
		t.Fatal(err)
	}
	var strategy *fleetv1alpha1.RolloutStrategy
	for _, o := range objs {
		if o.GetKind() == "RolloutStrategy" {
			strategy = &fleetv1alpha1.RolloutStrategy{}
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, strategy); err != nil {
				t.Fatal(err)
			}
		}
	}
	if strategy == nil || strategy.Name != strategyName {
		t.Fatalf("fleet.yaml has no RolloutStrategy %s", strategyName)
	}
	if strategy.Spec.OnFailure != fleetv1alpha1.FailureRollback {
		t.Errorf("onFailure %q, want Rollback", strategy.Spec.OnFailure)
	}
	var members []memberState
	for i := 1; i <= memberCount; i++ {
		members = append(members, memberState{Name: "member-" + string(rune('0'+i)), Wave: waveOf(i)})
	}
	table, err := strategyTable(&strategy.Spec, members)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(table, "\n"), "\n")
	want := [][]string{
		{"WAVE", "CLUSTERS", "FAILURES ALLOWED", "BAKE", "APPROVAL", "DEADLINE"},
		{"pilot", "member-1", "1", "5s", "-", "15s"},
		{"canary", "member-2, member-3", "1", "5s", "-", "15s"},
		{approvalWave, "member-4, member-5", "0", "-", "required", "15s"},
	}
	if len(lines) != len(want) {
		t.Fatalf("table:\n%s", table)
	}
	for i, cells := range want {
		got := strings.Fields(strings.ReplaceAll(lines[i], ", ", ","))
		exp := strings.Fields(strings.ReplaceAll(strings.Join(cells, " "), ", ", ","))
		if strings.Join(got, " ") != strings.Join(exp, " ") {
			t.Errorf("line %d = %q, want %q", i, lines[i], cells)
		}
	}
}

func TestImageTable(t *testing.T) {
	table := imageTable([]memberState{
		{Name: "member-1", Wave: "pilot", Instances: []instanceState{ready("team-a/storefront", goodImage), {Instance: "team-b/checkout"}}},
	})
	for _, want := range []string{"TEAM-A/STOREFRONT", "TEAM-B/CHECKOUT", "member-1", goodImage + " ready", "- not there"} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}
}

func TestFailureList(t *testing.T) {
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	long := "not healthy within the progress deadline (15s): " + strings.Repeat("x", 200)
	ro := &fleetv1alpha1.Rollout{Status: fleetv1alpha1.RolloutStatus{Failures: []fleetv1alpha1.ClusterFailure{
		{Cluster: "member-3", Wave: "canary", Reason: "ProgressDeadlineExceeded", Message: long, Time: metav1.NewTime(now.Add(2 * time.Second))},
		{Cluster: "member-1", Wave: "pilot", Reason: "ProgressDeadlineExceeded", Message: "first", Time: metav1.NewTime(now)},
		{Cluster: "member-2", Wave: "pilot", Reason: "ApplyFailed", Message: "\x1b[1A\x1b[2Kerased", Time: metav1.NewTime(now)},
	}}}
	got := failureList(ro, 0)
	if strings.Contains(got, "\x1b") {
		t.Errorf("an escape sequence of a message reached the terminal (the live view keeps them whole):\n%q", got)
	}
	if i, j := strings.Index(got, "member-1 (wave pilot)"), strings.Index(got, "member-3 (wave canary)"); i < 0 || j < i {
		t.Errorf("want member-1 then member-3, oldest first:\n%s", got)
	}
	if !strings.Contains(got, long) {
		t.Errorf("without a width the message is whole:\n%s", got)
	}
	for _, l := range strings.Split(strings.TrimRight(failureList(ro, 80), "\n"), "\n") {
		if n := len([]rune(l)); n > 80 {
			t.Errorf("line of %d characters at width 80: %q", n, l)
		}
	}
}

func TestHistoryTable(t *testing.T) {
	ro := &fleetv1alpha1.Rollout{Status: fleetv1alpha1.RolloutStatus{History: []fleetv1alpha1.HistoryEntry{
		{Time: metav1.Now(), To: fleetv1alpha1.RolloutPhaseProgressing, Wave: "pilot", Actor: "hub", Message: "started"},
		{Time: metav1.Now(), From: fleetv1alpha1.RolloutPhaseWaitingForApproval, To: fleetv1alpha1.RolloutPhaseProgressing,
			Wave: "general", Actor: "admin", Message: "wave general approved by admin"},
		{Time: metav1.Now(), To: fleetv1alpha1.RolloutPhasePaused, Wave: "general", Actor: "team-a", Message: "paused: \x1b[1A\x1b[2K"},
	}}}
	got := historyTable(ro)
	if strings.Contains(got, "\x1b") {
		t.Errorf("an escape sequence of a message reached the terminal:\n%q", got)
	}
	for _, want := range []string{"- → Progressing", "WaitingForApproval → Progressing", "admin", "wave general approved by admin"} {
		if !strings.Contains(got, want) {
			t.Errorf("history lacks %q:\n%s", want, got)
		}
	}
}
