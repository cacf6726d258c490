package rolloutctl

import (
	"testing"
	"time"

	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// FleetFreezes are cluster-scoped, so this one test owns them all.
func TestFreezeAndUnfreeze(t *testing.T) {
	ctx := testContext(t)
	admin := adminClient(t)
	c, _ := newClient(t, admin, clock.RealClock{})

	_, err := c.Unfreeze(ctx, "")
	wantErr(t, err, "no FleetFreeze named fleet-freeze; the fleet is not frozen")
	_, err = c.Freeze(ctx, FreezeOptions{Reason: " "})
	wantErr(t, err, "a reason is required")

	f, err := c.Freeze(ctx, FreezeOptions{Reason: "incident 42"})
	if err != nil {
		t.Fatal(err)
	}
	got := &fleetv1alpha1.FleetFreeze{}
	if err := admin.Get(ctx, client.ObjectKey{Name: DefaultFreezeName}, got); err != nil {
		t.Fatal(err)
	}
	if f.Name != DefaultFreezeName || got.Spec.Action != fleetv1alpha1.FreezeHalt || got.Spec.FrozenBy != adminUser ||
		got.Spec.Reason != "incident 42" || got.Spec.Until != nil {
		t.Fatalf("freeze %+v", got.Spec)
	}
	_, err = c.Freeze(ctx, FreezeOptions{Reason: "again"})
	wantErr(t, err, "FleetFreeze fleet-freeze already exists (Halt, by admin: incident 42)", "flotilla unfreeze fleet-freeze")

	until := time.Now().Add(90*time.Minute + 300*time.Millisecond)
	if _, err := c.Freeze(ctx, FreezeOptions{Name: "incident-43", Reason: "bad image", Action: fleetv1alpha1.FreezeRollback, Until: until}); err != nil {
		t.Fatal(err)
	}
	if err := admin.Get(ctx, client.ObjectKey{Name: "incident-43"}, got); err != nil {
		t.Fatal(err)
	}
	if got.Spec.Action != fleetv1alpha1.FreezeRollback || got.Spec.Until == nil || got.Spec.Until.Time.Before(until) ||
		got.Spec.Until.Sub(until) >= time.Second {
		t.Fatalf("freeze %+v, want until %s rounded up", got.Spec, until)
	}
	_, err = c.Freeze(ctx, FreezeOptions{Name: "past", Reason: "r", Until: time.Now().Add(-time.Minute)})
	wantErr(t, err, "is not in the future")

	_, err = c.Unfreeze(ctx, "incident-44")
	wantErr(t, err, "no FleetFreeze named incident-44; the fleet is frozen by: fleet-freeze, incident-43")
	removed, err := c.Unfreeze(ctx, "")
	if err != nil || removed.Name != DefaultFreezeName || removed.Spec.Reason != "incident 42" {
		t.Fatalf("unfreeze: %+v, %v", removed, err)
	}
	if _, err := c.Freeze(ctx, FreezeOptions{Reason: "third"}); err != nil {
		t.Fatal(err)
	}
	all, err := c.UnfreezeAll(ctx)
	if err != nil || len(all) != 2 || all[0].Name != DefaultFreezeName || all[1].Name != "incident-43" {
		t.Fatalf("unfreeze all: %+v, %v", all, err)
	}
	if left, err := c.ListFreezes(ctx); err != nil || len(left) != 0 {
		t.Fatalf("left: %+v, %v", left, err)
	}
	if all, err := c.UnfreezeAll(ctx); err != nil || len(all) != 0 {
		t.Fatalf("unfreeze all again: %+v, %v", all, err)
	}
}
