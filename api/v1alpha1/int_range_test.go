package v1alpha1_test

import (
	"fmt"
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// TestIntOutOfGoRange: an integer the API server accepts must fit the Go
// field it decodes into (int32 counts, int-or-string budgets); else every
// List of the kind fails on the hub.
func TestIntOutOfGoRange(t *testing.T) {
	ctx, c := newAPIServer(t)
	cases := []struct {
		name string
		path []any
		obj  func() client.Object
	}{
		{"maxConcurrency", []any{"spec", "waves", 0, "maxConcurrency"}, func() client.Object { return validStrategy() }},
		{"maxFailures", []any{"spec", "waves", 0, "maxFailures"}, func() client.Object { return validStrategy() }},
		{"maxConcurrency", []any{"spec", "immediate", "maxConcurrency"}, func() client.Object {
			return with(validStrategy(), func(s *v1.RolloutStrategy) { s.Spec.Immediate = &v1.ImmediatePolicy{} })
		}},
		{"maxFailures", []any{"spec", "immediate", "maxFailures"}, func() client.Object {
			return with(validStrategy(), func(s *v1.RolloutStrategy) { s.Spec.Immediate = &v1.ImmediatePolicy{} })
		}},
		{"failureLimit", []any{"spec", "checks", 0, "failureLimit"}, func() client.Object {
			return with(validStrategy(), func(s *v1.RolloutStrategy) { s.Spec.Checks = []v1.Check{metricCheck()} })
		}},
	}
	for i, tc := range cases {
		t.Run(fmt.Sprintf("%s-%d", tc.name, i), func(t *testing.T) {
			u := toUnstructured(t, c.Scheme(), tc.obj(), fmt.Sprintf("i%d", i))
			setAtAny(t, u.Object, tc.path, int64(3000000000))
			err := c.Create(ctx, u)
			if err == nil {
				var list v1.RolloutStrategyList
				lerr := c.List(ctx, &list)
				_ = c.Delete(ctx, u)
				t.Fatalf("%s 3000000000 accepted; listing RolloutStrategies then: %v", tc.name, lerr)
			}
			expectResult(t, err, []string{tc.name})
		})
	}
}

func setAtAny(t *testing.T, obj map[string]any, path []any, value any) {
	t.Helper()
	var cur any = obj
	for i, p := range path {
		switch k := p.(type) {
		case string:
			m := cur.(map[string]any)
			if i == len(path)-1 {
				m[k] = value
				return
			}
			cur = m[k]
		case int:
			cur = cur.([]any)[k]
		}
	}
}
