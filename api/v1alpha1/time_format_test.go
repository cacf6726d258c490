package v1alpha1_test

import (
	"fmt"
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// TestTimeOutOfGoFormat: the API server's date-time format accepts text
// that metav1.Time (time.RFC3339) cannot read: a lowercase t or z, any
// character before the fraction, an offset past ±23:59. Accepted, the object
// decodes in no typed client or informer, so every List of its kind fails.
// A DriftException is a team's: one team's typo must not blind the hub to
// every team's DriftExceptions.
func TestTimeOutOfGoFormat(t *testing.T) {
	ctx, c := newAPIServer(t, v1.PlatformNamespace, teamNS)

	type target struct {
		name string
		obj  func() client.Object
		path []any
		list client.ObjectList
	}
	targets := []target{
		{"expiresAt", func() client.Object { return validDriftException() }, []any{"spec", "expiresAt"}, &v1.DriftExceptionList{}},
		{"until", func() client.Object { return validFleetFreeze() }, []any{"spec", "until"}, &v1.FleetFreezeList{}},
		{"deadline", func() client.Object {
			return with(validRollout(), func(r *v1.Rollout) {
				r.Spec.UpdatePolicy = v1.UpdatePolicy{Mode: v1.UpdateModeDeadline, Deadline: &future}
			})
		}, []any{"spec", "updatePolicy", "deadline"}, &v1.RolloutList{}},
	}
	refused := []string{"2031-01-02t03:04:05z", "2031-01-02T03:04:05z", "2031-01-02T03:04:05x5Z", "2031-01-02T03:04:05+25:00"}
	accepted := []string{"2031-01-02T03:04:05Z", "2031-01-02T03:04:05.123Z", "2031-01-02T03:04:05+02:00"}
	n := 0
	for _, tg := range targets {
		for _, value := range append(refused, accepted...) {
			n++
			want := false
			for _, a := range accepted {
				want = want || a == value
			}
			t.Run(fmt.Sprintf("%s=%s", tg.name, value), func(t *testing.T) {
				u := toUnstructured(t, c.Scheme(), tg.obj(), fmt.Sprintf("t%d", n))
				setAt(t, u.Object, tg.path, value)
				err := c.Create(ctx, u)
				if want {
					if err != nil {
						t.Fatalf("want accepted, got: %v", err)
					}
					return
				}
				if err == nil {
					lerr := c.List(ctx, tg.list)
					_ = c.Delete(ctx, u)
					t.Fatalf("%s %q accepted by the API server; listing the kind then: %v", tg.name, value, lerr)
				}
				expectResult(t, err, []string{tg.name})
			})
		}
	}
}

// TestWorkStatusTimeOutOfGoFormat: an agent writes its Works' status. A time
// in it that the API server's date-time format takes and Go does not
// (lowercase t, z) makes every List of Works fail: one agent, compromised or
// buggy, would blind the hub to every cluster's Works.
func TestWorkStatusTimeOutOfGoFormat(t *testing.T) {
	ctx, c := newAPIServer(t, clusterNS)
	bad := "2031-01-02t03:04:05z"
	cases := []struct {
		name   string
		status map[string]any
	}{
		{"lastAppliedTime", map[string]any{"lastAppliedTime": bad}},
		{"conditions", map[string]any{"conditions": []any{map[string]any{
			"type": "Applied", "status": "True", "reason": "Applied", "message": "", "lastTransitionTime": bad,
		}}}},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := with(validWork(), func(w *v1.Work) { w.Name = fmt.Sprintf("ws%d", i) })
			if err := c.Create(ctx, w); err != nil {
				t.Fatal(err)
			}
			u := toUnstructured(t, c.Scheme(), w, w.Name)
			u.Object["status"] = tc.status
			err := c.Status().Update(ctx, u)
			if err == nil {
				var list v1.WorkList
				lerr := c.List(ctx, &list)
				_ = c.Delete(ctx, w)
				t.Fatalf("status.%s %q accepted by the API server; listing Works then: %v", tc.name, bad, lerr)
			}
			expectResult(t, err, []string{tc.name})
		})
	}
}
