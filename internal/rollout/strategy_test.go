package rollout

import (
	"errors"
	"testing"

	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// The strategy a Rollout follows, resolved the one way both controllers
// use: inline, its strategyRef, its Promise's, "default", all at once.
func TestResolveStrategy(t *testing.T) {
	spec := func(wave string) fleetv1alpha1.RolloutStrategySpec {
		return fleetv1alpha1.RolloutStrategySpec{Waves: []fleetv1alpha1.Wave{{Name: wave}}}
	}
	stored := map[string]*fleetv1alpha1.RolloutStrategy{
		"named":   {ObjectMeta: metav1.ObjectMeta{Name: "named"}, Spec: spec("named")},
		"promise": {ObjectMeta: metav1.ObjectMeta{Name: "promise"}, Spec: spec("promise")},
		"default": {ObjectMeta: metav1.ObjectMeta{Name: "default"}, Spec: spec("default")},
	}
	lookup := func(without ...string) StrategyLookup {
		return func(name string) (*fleetv1alpha1.RolloutStrategy, error) {
			for _, w := range without {
				if w == name {
					return nil, nil
				}
			}
			if name == "broken" {
				return nil, errors.New("boom")
			}
			return stored[name], nil
		}
	}
	ref := func(n string) *fleetv1alpha1.LocalObjectReference {
		return &fleetv1alpha1.LocalObjectReference{Name: n}
	}
	inline := spec("inline")
	for _, tc := range []struct {
		name     string
		ro       fleetv1alpha1.RolloutSpec
		promise  *fleetv1alpha1.LocalObjectReference
		without  []string
		want     fleetv1alpha1.RolloutStrategySpec
		wantName string
		notFound string
		err      bool
	}{
		{name: "inline wins", ro: fleetv1alpha1.RolloutSpec{Strategy: &inline, StrategyRef: ref("named")}, promise: ref("promise"), want: inline},
		{name: "the rollout's ref", ro: fleetv1alpha1.RolloutSpec{StrategyRef: ref("named")}, promise: ref("promise"), want: spec("named"), wantName: "named"},
		{name: "the promise's ref", promise: ref("promise"), want: spec("promise"), wantName: "promise"},
		{name: "default", want: spec("default"), wantName: "default"},
		{name: "all at once", without: []string{"default"}, want: AllAtOnce(), wantName: "default"},
		{name: "a named one missing", ro: fleetv1alpha1.RolloutSpec{StrategyRef: ref("named")}, without: []string{"named"}, notFound: "named", wantName: "named"},
		{name: "the promise's missing", promise: ref("promise"), without: []string{"promise"}, notFound: "promise", wantName: "promise"},
		{name: "unreadable", ro: fleetv1alpha1.RolloutSpec{StrategyRef: ref("broken")}, err: true, wantName: "broken"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ro := &fleetv1alpha1.Rollout{Spec: tc.ro}
			p := &fleetv1alpha1.Promise{}
			p.Spec.StrategyRef = tc.promise
			got, err := ResolveStrategy(ro, p, lookup(tc.without...))
			var nf *StrategyNotFoundError
			switch {
			case tc.notFound != "":
				if !errors.As(err, &nf) || nf.Name != tc.notFound {
					t.Fatalf("err = %v, want RolloutStrategy %s not found", err, tc.notFound)
				}
			case tc.err:
				if err == nil || errors.As(err, &nf) {
					t.Fatalf("err = %v, want a read error", err)
				}
			case err != nil:
				t.Fatal(err)
			case !equality.Semantic.DeepEqual(got, tc.want):
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
			if n := StrategyName(ro, p); n != tc.wantName {
				t.Errorf("StrategyName = %q, want %q", n, tc.wantName)
			}
		})
	}
}
