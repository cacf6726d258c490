package rolloutctl

import (
	"context"
	"os"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/kube"
	"github.com/flotilla-dev/flotilla/internal/testenv"
)

// hub is one control plane with Flotilla's CRDs shared by the package's
// tests; each test uses Rollouts of its own names.
var hub *testenv.ControlPlane

// adminUser is the username the test hub's admin kubeconfig authenticates
// as (its client certificate's common name).
const adminUser = "admin"

func TestMain(m *testing.M) {
	os.Exit(testenv.MainWithHub(m, func(h *testenv.ControlPlane) { hub = h }))
}

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// adminClient is a raw client of the hub, for setting up and checking.
func adminClient(t *testing.T) client.WithWatch {
	t.Helper()
	c, err := client.NewWithWatch(hub.RESTConfig, client.Options{Scheme: kube.NewScheme()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// newClient is the Client under test, with warnings collected in *warnings.
func newClient(t *testing.T, c client.WithWatch, clk clock.PassiveClock) (*Client, *[]string) {
	t.Helper()
	var warnings []string
	return NewForClient(c, clk, func(s string) { warnings = append(warnings, s) }), &warnings
}

// ensureNamespace creates ns unless it exists.
func ensureNamespace(t *testing.T, ctx context.Context, c client.Client, ns string) {
	t.Helper()
	err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

// givenRollout creates a Rollout of promise "app" in flotilla-system moving
// app-r1 → app-r2, with status st written through the status subresource.
func givenRollout(t *testing.T, ctx context.Context, c client.Client, name string, st fleetv1alpha1.RolloutStatus, edit ...func(*fleetv1alpha1.Rollout)) *fleetv1alpha1.Rollout {
	t.Helper()
	ensureNamespace(t, ctx, c, fleetv1alpha1.PlatformNamespace)
	r := &fleetv1alpha1.Rollout{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: fleetv1alpha1.PlatformNamespace},
		Spec: fleetv1alpha1.RolloutSpec{
			Subject:        fleetv1alpha1.RolloutSubject{Promise: "app"},
			FromRevision:   "app-r1",
			TargetRevision: "app-r2",
		},
	}
	for _, fn := range edit {
		fn(r)
	}
	create(t, ctx, c, r)
	setStatus(t, ctx, c, r, st)
	return r
}

// create creates obj and deletes it when the test ends, so that the
// package's tests can run again against the same hub (-count).
func create(t *testing.T, ctx context.Context, c client.Client, obj client.Object) {
	t.Helper()
	if err := c.Create(ctx, obj); err != nil {
		t.Fatalf("creating %s: %v", obj.GetName(), err)
	}
	t.Cleanup(func() {
		if err := deleteWithUID(c, obj); err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("deleting %s: %v", obj.GetName(), err)
		}
	})
}

// deleteWithUID deletes obj with its UID as a precondition, as the hub
// does: the admission policy flotilla-rollout-deletion refuses deleting a
// Rollout otherwise, to admins too.
func deleteWithUID(c client.Client, obj client.Object) error {
	uid := obj.GetUID()
	return c.Delete(context.Background(), obj, client.Preconditions{UID: &uid})
}

// setStatus writes st as r's status, as the controller would.
func setStatus(t *testing.T, ctx context.Context, c client.Client, r *fleetv1alpha1.Rollout, st fleetv1alpha1.RolloutStatus) {
	t.Helper()
	r.Status = st
	if err := c.Status().Update(ctx, r); err != nil {
		t.Fatalf("writing the status of rollout %s: %v", r.Name, err)
	}
}

// threeWaves is the status of a started rollout waiting in phase at wave current.
func threeWaves(phase fleetv1alpha1.RolloutPhase, current string) fleetv1alpha1.RolloutStatus {
	st := fleetv1alpha1.RolloutStatus{Phase: phase, CurrentWave: current}
	for _, w := range []string{"canary", "prod", "remaining"} {
		wp := fleetv1alpha1.WavePhasePending
		if w == current && phase == fleetv1alpha1.RolloutPhaseWaitingForApproval {
			wp = fleetv1alpha1.WavePhaseWaitingForApproval
		}
		st.Waves = append(st.Waves, fleetv1alpha1.WaveStatus{Name: w, Phase: wp, Clusters: []string{w + "-1"}})
	}
	return st
}

// get reads the Rollout back.
func get(t *testing.T, ctx context.Context, c client.Client, name string) *fleetv1alpha1.Rollout {
	t.Helper()
	r := &fleetv1alpha1.Rollout{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: fleetv1alpha1.PlatformNamespace, Name: name}, r); err != nil {
		t.Fatal(err)
	}
	return r
}

// recentRecord checks a ChangeRecord made by the admin between start and now.
func recentRecord(t *testing.T, rec fleetv1alpha1.ChangeRecord, start time.Time, message string) {
	t.Helper()
	if rec.By != adminUser || rec.Message != message || rec.At == nil ||
		rec.At.Before(&metav1.Time{Time: start.Truncate(time.Second)}) || rec.At.After(time.Now()) {
		t.Fatalf("change record %+v, want by %s with message %q at about %s", rec, adminUser, message, start)
	}
}
