package instanceplan

import "testing"

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
	}{
		{"spec", snap(small, "[]"), snap(large, "[]"), "the spec"},
		{"added", snap(small, "[]"), snap(small, "["+bigger+"]"), "the team's Overrides (bigger added)"},
		{"changed, removed, added", snap(small, "["+bigger+"]"), snap(small, "["+biggest+","+gold+"]"),
			"the team's Overrides (bigger changed, gold added)"},
		{"removed", snap(small, "["+bigger+","+gold+"]"), snap(small, "["+gold+"]"), "the team's Overrides (bigger removed)"},
		{"both", snap(small, "[]"), snap(large, "["+gold+"]"), "the spec and the team's Overrides (gold added)"},
		{"from a revision made before the snapshots", RevisionContent{Spec: []byte(small)}, snap(small, "["+bigger+"]"), ""},
		{"from a revision made before the snapshots, spec changed", RevisionContent{Spec: []byte(small)}, snap(large, "["+bigger+"]"), "the spec"},
		{"nothing", snap(small, "["+gold+"]"), snap(small, "["+gold+"]"), ""},
		{"undecodable", snap(small, "{"), snap(small, "["+gold+"]"), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := DescribeChange(tc.from, tc.to); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}
