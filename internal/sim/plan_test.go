package sim

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func TestPlanIsDeterministicAndFollowsTheRates(t *testing.T) {
	opts := Options{Clusters: 10000, FailRate: 0.02, OfflineRate: 0.01, Seed: 42}.Default()
	a, b := Plan(opts), Plan(opts)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("the same options planned two different fleets")
	}
	opts.Seed = 43
	if reflect.DeepEqual(a, Plan(opts)) {
		t.Error("another seed planned the same fleet")
	}
	var failing, offline int
	waves := map[int]int{}
	for i, c := range a {
		if c.Failing && c.Offline {
			t.Fatalf("%s is both failing and offline", c.Name)
		}
		if c.Failing {
			failing++
		}
		if c.Offline {
			offline++
		}
		waves[c.Wave]++
		if i > 0 && c.Wave < a[i-1].Wave {
			t.Fatalf("waves are not consecutive slices at %s", c.Name)
		}
	}
	// Within five standard deviations of the rates.
	for _, r := range []struct {
		what string
		got  int
		rate float64
	}{{"failing", failing, 0.02}, {"offline", offline, 0.01}} {
		mean := r.rate * float64(len(a))
		if math.Abs(float64(r.got)-mean) > 5*math.Sqrt(mean) {
			t.Errorf("%d %s clusters of %d, want about %.0f", r.got, r.what, len(a), mean)
		}
	}
	if len(waves) != 3 || waves[1] != 3334 || waves[2] != 3333 || waves[3] != 3333 {
		t.Errorf("wave sizes %v, want three equal slices", waves)
	}
	if a[0].Name != "sim-00001" || a[9999].Name != "sim-10000" {
		t.Errorf("names %s … %s", a[0].Name, a[9999].Name)
	}
}

func TestOptionsValidate(t *testing.T) {
	if err := (Options{Clusters: 10, Dir: "d"}).Default().Validate(); err != nil {
		t.Errorf("valid options: %v", err)
	}
	err := Options{Clusters: 0, FailRate: 0.7, OfflineRate: 0.5, ApplyLatency: -1, Prefix: strings.Repeat("x", 21)}.Validate()
	for _, want := range []string{"clusters 0", "together at most 1", "apply latency", "prefix", "directory"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not mention %q", err, want)
		}
	}
}

func TestOverloaded(t *testing.T) {
	gr := schema.GroupResource{Resource: "leases"}
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{fmt.Errorf("applying Lease x: %w", apierrors.NewTimeoutError("request did not complete within requested timeout", 0)), true},
		{apierrors.NewServerTimeout(gr, "patch", 1), true},
		{apierrors.NewTooManyRequests("slow down", 1), true},
		{apierrors.NewServiceUnavailable("starting"), true},
		{apierrors.NewForbidden(gr, "x", errors.New("no")), false},
		{apierrors.NewInvalid(schema.GroupKind{Kind: "Cluster"}, "x", nil), false},
		{errors.New("connection refused"), false},
	} {
		if got := overloaded(tc.err); got != tc.want {
			t.Errorf("overloaded(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
