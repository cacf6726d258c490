package v1alpha1_test

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// TestDurationOutOfRange: a duration field whose text Go cannot hold
// (time.ParseDuration overflows past about 2,562,047h) must be refused by the
// API server. Accepted, the object cannot be decoded by the hub's typed
// clients and informers: every List of the kind fails, so one such
// RolloutStrategy (or a Promise's check) stops the hub from reading any.
// What the API server accepts must also be what the hub writes back after a
// round trip through Go (checks are copied onto Works as time.Duration
// strings: "90m" becomes "1h30m0s", "0.0005s" would become "500µs").
func TestDurationOutOfRange(t *testing.T) {
	ctx, c := newAPIServer(t, clusterNS)
	if err := c.Create(ctx, &v1.RolloutStrategy{ObjectMeta: metav1.ObjectMeta{Name: "good"}, Spec: validStrategySpec()}); err != nil {
		t.Fatal(err)
	}

	type target struct {
		name string
		obj  func() client.Object
		path []any
	}
	targets := []target{
		{"bakeTime", func() client.Object { return validStrategy() }, []any{"spec", "waves", 0, "bakeTime"}},
		{"progressDeadline", func() client.Object { return validStrategy() }, []any{"spec", "waves", 1, "progressDeadline"}},
		{"progressDeadline", func() client.Object {
			return with(validStrategy(), func(s *v1.RolloutStrategy) { s.Spec.Immediate = &v1.ImmediatePolicy{} })
		}, []any{"spec", "immediate", "progressDeadline"}},
		{"interval", func() client.Object {
			return with(validPromise(), func(p *v1.Promise) { p.Spec.Checks = []v1.Check{httpCheck()} })
		}, []any{"spec", "checks", 0, "interval"}},
		{"timeout", func() client.Object {
			return with(validStrategy(), func(s *v1.RolloutStrategy) { s.Spec.Checks = []v1.Check{jobCheck()} })
		}, []any{"spec", "checks", 0, "job", "timeout"}},
	}
	refused := []string{"9999999999h", "3000000h", "99999999999999999999s", "2000000h2000000h", "1000000h", "999999h60m", "0.0005s", "30s1m", "1h1h"}
	accepted := []string{"0s", "1ms", "1.5ms", "90s", "1h30m", "1h0m0s", "999999h59m59.999999999s", "0.5s", "2562047ms"}

	n := 0
	for _, tg := range targets {
		for _, value := range append(refused, accepted...) {
			if tg.name == "interval" && value == "0s" {
				continue // an interval must be more than 0s: below
			}
			n++
			want := false
			for _, a := range accepted {
				if a == value {
					want = true
				}
			}
			t.Run(fmt.Sprintf("%s=%s", tg.name, value), func(t *testing.T) {
				u := toUnstructured(t, c.Scheme(), tg.obj(), "d"+strconv.Itoa(n))
				setAt(t, u.Object, tg.path, value)
				err := c.Create(ctx, u)
				if want {
					if err != nil {
						t.Fatalf("want accepted, got: %v", err)
					}
					if tg.name == "interval" {
						// The hub copies a check onto Works as Go writes it.
						d, perr := time.ParseDuration(value)
						if perr != nil {
							t.Fatalf("accepted %q, which Go cannot parse: %v", value, perr)
						}
						w := with(validWork(), func(w *v1.Work) {
							w.Name = "w" + strconv.Itoa(n)
							w.Spec.Checks = []v1.WorkCheck{{Check: with2(httpCheck(), func(c *v1.Check) { c.Interval = &metav1.Duration{Duration: d} }), Rollout: "r", Wave: "canary"}}
						})
						if err := c.Create(ctx, w); err != nil {
							t.Fatalf("a Work carrying the check as the hub writes it (interval %s) is refused: %v", d, err)
						}
					}
					// What the API server holds decodes, and Go writes it back in a form it accepts.
					if u.GetKind() == "RolloutStrategy" {
						var got v1.RolloutStrategy
						if err := c.Get(ctx, client.ObjectKey{Name: u.GetName()}, &got); err != nil {
							t.Fatalf("reading it back: %v", err)
						}
						got.Name, got.ResourceVersion, got.UID = got.Name+"-rt", "", ""
						if err := c.Create(ctx, &got); err != nil {
							t.Fatalf("writing back Go's form: %v", err)
						}
					}
					return
				}
				if err == nil {
					var list v1.RolloutStrategyList
					lerr := c.List(ctx, &list)
					var plist v1.PromiseList
					perr := c.List(ctx, &plist)
					_ = c.Delete(ctx, u)
					var werr error
					if d, err := time.ParseDuration(value); err == nil && tg.name == "interval" {
						werr = c.Create(ctx, with(validWork(), func(w *v1.Work) {
							w.Name = "w" + strconv.Itoa(n)
							w.Spec.Checks = []v1.WorkCheck{{Check: with2(httpCheck(), func(c *v1.Check) { c.Interval = &metav1.Duration{Duration: d} }), Rollout: "r", Wave: "canary"}}
						}))
					}
					t.Fatalf("%s %q accepted by the API server; listing RolloutStrategies: %v; listing Promises: %v; a Work carrying it as Go writes it: %v", tg.name, value, lerr, perr, werr)
				}
				expectResult(t, err, []string{tg.name})
			})
		}
	}

	// A check's interval of 0s is one verify.Policy cannot measure with: the
	// Rollout that reaches the check would stall (InvalidCheck) long after
	// the Promise or strategy was accepted.
	for i, obj := range []client.Object{
		with(validPromise(), func(p *v1.Promise) { p.Spec.Checks = []v1.Check{httpCheck()} }),
		with(validStrategy(), func(s *v1.RolloutStrategy) { s.Spec.Checks = []v1.Check{metricCheck()} }),
	} {
		t.Run(fmt.Sprintf("zero interval %d", i), func(t *testing.T) {
			u := toUnstructured(t, c.Scheme(), obj, "zero-interval-"+strconv.Itoa(i))
			setAt(t, u.Object, []any{"spec", "checks", 0, "interval"}, "0s")
			expectResult(t, c.Create(ctx, u), []string{"spec.checks[0].interval", "more than 0s"})
		})
	}
}

// setAt sets value at a path of map keys (string) and list indexes (int).
func setAt(t *testing.T, obj map[string]any, path []any, value string) {
	t.Helper()
	var cur any = obj
	for i, p := range path {
		last := i == len(path)-1
		switch k := p.(type) {
		case string:
			m, ok := cur.(map[string]any)
			if !ok {
				t.Fatalf("path %v: %v is not a map", path, k)
			}
			if last {
				m[k] = value
				return
			}
			if _, ok := m[k]; !ok {
				m[k] = map[string]any{}
			}
			cur = m[k]
		case int:
			l, ok := cur.([]any)
			if !ok || k >= len(l) {
				t.Fatalf("path %v: no item %d", path, k)
			}
			cur = l[k]
		}
	}
}
