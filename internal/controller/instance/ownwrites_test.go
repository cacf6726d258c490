package instance

import (
	"context"
	"errors"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/instanceplan"
)

// A reconcile that starts before the cache saw the last one's update of a
// Work neither writes it again over the cache's older copy (a sure
// conflict) nor leaves it behind when the desired Work moved on since; once
// the cache shows a newer version, it is the one compared.
func TestWriteOverOwnUpdateTheCacheHasNotSeen(t *testing.T) {
	ctx := context.Background()
	scheme := runtime.NewScheme()
	if err := fleetv1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	work := func(rev string) *fleetv1alpha1.Work {
		return &fleetv1alpha1.Work{
			ObjectMeta: metav1.ObjectMeta{Name: "w", Namespace: "flotilla-cluster-c1"},
			Spec:       fleetv1alpha1.WorkSpec{Cluster: "c1", Revision: rev},
		}
	}
	updates, conflicts := 0, 0
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(work("r1")).
		WithInterceptorFuncs(interceptor.Funcs{Update: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.UpdateOption) error {
			err := c.Update(ctx, obj, opts...)
			if apierrors.IsConflict(err) {
				conflicts++
			} else if err == nil {
				updates++
			}
			return err
		}}).Build()
	r := &Reconciler{Client: c, APIReader: c}
	stale := &fleetv1alpha1.Work{}
	if err := c.Get(ctx, client.ObjectKeyFromObject(work("")), stale); err != nil {
		t.Fatal(err)
	}
	write := func(current *fleetv1alpha1.Work, rev string, op instanceplan.Op) *fleetv1alpha1.Work {
		t.Helper()
		out, _, err := r.write(ctx, instanceplan.Write{Cluster: "c1", Current: current, Desired: work(rev), Op: op})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}

	first := write(stale, "r2", instanceplan.Update)
	if updates != 1 || first.Spec.Revision != "r2" {
		t.Fatalf("first write: %d updates, revision %s", updates, first.Spec.Revision)
	}
	// The cache still shows r1: nothing to write, and the Work is r2.
	if again := write(stale, "r2", instanceplan.Update); updates != 1 || conflicts != 0 || again.ResourceVersion != first.ResourceVersion {
		t.Fatalf("second reconcile on the stale cache: %d updates, %d conflicts, resourceVersion %s (want %s)",
			updates, conflicts, again.ResourceVersion, first.ResourceVersion)
	}
	// The plan found the stale copy up to date with a desired r1 (rolled
	// back at once): the Work, which is r2, is written back.
	if back := write(stale, "r1", instanceplan.Unchanged); updates != 2 || conflicts != 0 || back.Spec.Revision != "r1" {
		t.Fatalf("rolled back on the stale cache: %d updates, %d conflicts, revision %s", updates, conflicts, back.Spec.Revision)
	}
	// The cache catches up (or the agent writes status): its copy is compared.
	fresh := &fleetv1alpha1.Work{}
	if err := c.Get(ctx, client.ObjectKeyFromObject(work("")), fresh); err != nil {
		t.Fatal(err)
	}
	if got := write(fresh, "r1", instanceplan.Unchanged); got != fresh || updates != 2 {
		t.Fatalf("cache caught up: wrote %d, returned %p (want the cached %p)", updates, got, fresh)
	}
	if _, ok := r.own.m[client.ObjectKeyFromObject(fresh)]; ok {
		t.Error("the update is still remembered after the cache caught up")
	}
}

// The Work's watch event forgets an update the cache has caught up with, so
// no copy of it outlives the change (a reconcile may not come for long);
// an event that still shows the version the update replaced keeps it. The
// copy kept leaves out the Work's managedFields.
func TestOwnWritesForgetWhatTheCacheHasSeen(t *testing.T) {
	w := func(rv string) *fleetv1alpha1.Work {
		return &fleetv1alpha1.Work{ObjectMeta: metav1.ObjectMeta{Name: "w", Namespace: "flotilla-cluster-c1", UID: "u", ResourceVersion: rv,
			ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "flotilla"}}}}
	}
	var o ownWrites
	updated := w("2")
	o.record("1", updated)
	if updated.ManagedFields != nil {
		t.Error("the recorded Work keeps its managedFields")
	}
	o.seen(w("1"))
	if got := o.latest(w("1")); got != updated {
		t.Fatalf("an event of the replaced version forgot the update: latest = %v", got)
	}
	o.seen(w("2"))
	if len(o.m) != 0 {
		t.Errorf("the update's own event left it remembered: %v", o.m)
	}
	o.record("2", w("3"))
	o.seen(w("4")) // someone wrote since: the cache's copy is the newer one
	if len(o.m) != 0 {
		t.Errorf("a newer version left the update remembered: %v", o.m)
	}
}

// A create that finds the Work exists (the cache has not seen this
// controller's create yet) compares with the API server's copy instead of
// failing the reconcile as an error; a Work of another subject, or one the
// hub does not own, holding the name is left as it is and named; the
// subject's own Work still being deleted is waited for.
func TestCreateOverAWorkTheCacheHasNotSeen(t *testing.T) {
	ctx := context.Background()
	scheme := runtime.NewScheme()
	if err := fleetv1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	work := func(instance, rev string, hubOwned bool) *fleetv1alpha1.Work {
		w := &fleetv1alpha1.Work{
			ObjectMeta: metav1.ObjectMeta{Name: "w", Namespace: "flotilla-cluster-c1"},
			Spec: fleetv1alpha1.WorkSpec{Cluster: "c1", Revision: rev, Subject: fleetv1alpha1.WorkSubject{
				Promise: "p", Instance: &fleetv1alpha1.InstanceReference{Namespace: "team", Name: instance}}},
		}
		if hubOwned {
			w.Labels = map[string]string{fleetv1alpha1.LabelManagedBy: fleetv1alpha1.ManagedByValue}
		}
		return w
	}
	deleting := work("a", "r1", true)
	deleting.Finalizers = []string{"agent.example/prune"}
	deleting.DeletionTimestamp = &metav1.Time{Time: time.Now()}
	for _, tc := range []struct {
		name     string
		live     *fleetv1alpha1.Work
		desired  string
		wantErr  error
		wantSent bool
	}{
		{name: "already as desired", live: work("a", "r1", true), desired: "r1"},
		{name: "created, then moved on", live: work("a", "r1", true), desired: "r2", wantSent: true},
		{name: "another instance's Work", live: work("b", "r1", true), desired: "r1", wantErr: instanceplan.ErrWorkNameTaken},
		{name: "a hand-made Work", live: work("a", "r0", false), desired: "r1", wantErr: instanceplan.ErrWorkNameTaken},
		{name: "its own Work being deleted", live: deleting, desired: "r1", wantErr: errWorkBeingDeleted},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(tc.live).Build()
			r := &Reconciler{Client: c, APIReader: c}
			out, sent, err := r.write(ctx, instanceplan.Write{Cluster: "c1", Desired: work("a", tc.desired, true), Op: instanceplan.Create})
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				stored := &fleetv1alpha1.Work{}
				if err := c.Get(ctx, client.ObjectKeyFromObject(tc.live), stored); err != nil {
					t.Fatal(err)
				}
				if stored.Spec.Revision != tc.live.Spec.Revision || stored.Spec.Subject.Instance.Name != tc.live.Spec.Subject.Instance.Name {
					t.Fatalf("the Work was written over: %+v", stored.Spec)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if sent != tc.wantSent || out.Spec.Revision != tc.desired {
				t.Fatalf("sent %v (want %v), the Work at %s (want %s)", sent, tc.wantSent, out.Spec.Revision, tc.desired)
			}
		})
	}
}
