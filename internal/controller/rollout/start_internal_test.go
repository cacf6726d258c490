package rollout

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// An instance change's Rollout is named after the instance's generation;
// a change of the team's Overrides at the same generation (or another
// instance's Rollout holding the name) takes the next free -N; a long name
// is cut before the generation, which always stays.
func TestInstanceRolloutName(t *testing.T) {
	inst := func(name string, generation int64) *unstructured.Unstructured {
		u := &unstructured.Unstructured{}
		u.SetKind("Site")
		u.SetName(name)
		u.SetGeneration(generation)
		return u
	}
	long := strings.Repeat("n", 253)
	for _, tc := range []struct {
		name  string
		inst  *unstructured.Unstructured
		taken []string
		want  string
	}{
		{"first", inst("shop", 3), nil, "site-shop-3"},
		{"others' names", inst("shop", 3), []string{"site-shop-2", "site-shop-4", "site-shop-3-3"}, "site-shop-3"},
		{"same generation", inst("shop", 3), []string{"site-shop-3"}, "site-shop-3-2"},
		{"third", inst("shop", 3), []string{"site-shop-3", "site-shop-3-2"}, "site-shop-3-3"},
		{"another instance's", inst("a", 1), []string{"site-a-1", "site-a-1-2"}, "site-a-1-3"},
		{"long", inst(long, 12), nil, "site-" + long[:253-len("site-")-len("-12")] + "-12"},
		{"long, taken", inst(long, 12), []string{"site-" + long[:253-len("site-")-len("-12")] + "-12"}, "site-" + long[:253-len("site-")-len("-12-2")] + "-12-2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			taken := map[string]bool{}
			for _, n := range tc.taken {
				taken[n] = true
			}
			got := instanceRolloutName(tc.inst, taken)
			if got != tc.want || len(got) > 253 {
				t.Errorf("got %q (%d), want %q", got, len(got), tc.want)
			}
		})
	}
}
