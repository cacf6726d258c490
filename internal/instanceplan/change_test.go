package instanceplan

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

func withMetadata(c RevisionContent, md string) RevisionContent {
	c.Metadata = md
	return c
}

func TestDescribeChange(t *testing.T) {
	snap := func(spec, overrides string) RevisionContent {
		return RevisionContent{Spec: []byte(spec), TeamOverrides: overrides, Recorded: true}
	}
	const small, large = `{"size":"small"}`, `{"size":"large"}`
	bigger := `{"name":"bigger","spec":{"type":"Values","patch":{"size":"large"}}}`
	biggest := `{"name":"bigger","spec":{"type":"Values","patch":{"size":"huge"}}}`
	gold := `{"name":"gold","spec":{"type":"JSONMerge","patch":{"metadata":{"labels":{"tier":"gold"}}}}}`
	for _, tc := range []struct {
		name     string
		from, to RevisionContent
		want     string
		read     bool
	}{
		{"spec", snap(small, "[]"), snap(large, "[]"), "the spec", false},
		{"added", snap(small, "[]"), snap(small, "["+bigger+"]"), "the team's Overrides (bigger added)", false},
		{"changed, removed, added", snap(small, "["+bigger+"]"), snap(small, "["+biggest+","+gold+"]"),
			"the team's Overrides (bigger changed, gold added)", false},
		{"removed", snap(small, "["+bigger+","+gold+"]"), snap(small, "["+gold+"]"), "the team's Overrides (bigger removed)", false},
		{"both", snap(small, "[]"), snap(large, "["+gold+"]"), "the spec and the team's Overrides (gold added)", false},
		{"from a revision made before the snapshots", RevisionContent{Spec: []byte(small)}, snap(small, "["+bigger+"]"), "", false},
		{"from a revision made before the snapshots, spec changed", RevisionContent{Spec: []byte(small)}, snap(large, "["+bigger+"]"), "the spec", false},
		{"nothing", snap(small, "["+gold+"]"), snap(small, "["+gold+"]"), "", false},
		{"undecodable", snap(small, "{"), snap(small, "["+gold+"]"), "", false},
		{"labels alone", withMetadata(snap(small, "[]"), `{"labels":{"a":"b"}}`), withMetadata(snap(small, "[]"), `{"labels":{"a":"c"}}`),
			"the instance's labels or annotations, which the Promise's templates read", true},
		{"labels alone, no longer read", withMetadata(snap(small, "[]"), `{"labels":{"a":"b"}}`), withMetadata(snap(small, "[]"), `{"labels":{"a":"c"}}`),
			"the instance's labels or annotations, which the Promise's templates read", false},
		{"labels with the spec, not read: the spec", withMetadata(snap(small, "[]"), `{"labels":{"a":"b"}}`), withMetadata(snap(large, "[]"), `{}`), "the spec", false},
		{"labels with the spec, read: both", withMetadata(snap(small, "[]"), `{"labels":{"a":"b"}}`), withMetadata(snap(large, "[]"), `{}`),
			"the spec and the instance's labels or annotations, which the Promise's templates read", true},
		{"labels with the team's Overrides, read: both", withMetadata(snap(small, "[]"), `{"labels":{"a":"b"}}`), withMetadata(snap(small, "["+gold+"]"), `{}`),
			"the team's Overrides (gold added) and the instance's labels or annotations, which the Promise's templates read", true},
		{"labels from a revision made before they were snapshotted", snap(small, "[]"), withMetadata(snap(small, "[]"), `{}`), "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := DescribeChange(tc.from, tc.to, tc.read); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestRendersEarlierSpec(t *testing.T) {
	live, err := SnapshotOverride(&fleetv1alpha1.Override{
		ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "bigger"},
		// Keys out of order, a number as written: the snapshot sorts and keeps them.
		Spec: fleetv1alpha1.OverrideSpec{Promise: "db", Type: fleetv1alpha1.PatchValues, Patch: runtime.RawExtension{Raw: []byte(`{"size":"large","cpu":1.50}`)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := string(live.Spec.Patch.Raw); got != `{"cpu":1.50,"size":"large"}` {
		t.Fatalf("snapshot patch %s", got)
	}
	same := `{"name":"bigger","spec":{"promise":"db","type":"Values","patch":{"cpu":1.50,"size":"large"}}}`
	earlier := `{"name":"bigger","spec":{"promise":"db","type":"Values","patch":{"size":"small"}}}`
	other := `{"name":"gold","spec":{"type":"JSONMerge","patch":{"metadata":{"labels":{"tier":"gold"}}}}}`
	for _, tc := range []struct {
		name     string
		snapshot string
		recorded bool
		want     bool
	}{
		{"the same spec", "[" + other + "," + same + "]", true, false},
		{"an earlier spec", "[" + earlier + "," + other + "]", true, true},
		{"not snapshotted (another Override's revision)", "[" + other + "]", true, false},
		{"a revision from before the snapshots renders the Override as it is", "", false, false},
		{"undecodable", "{", true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := RendersEarlierSpec(live, tc.snapshot, tc.recorded); got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}
