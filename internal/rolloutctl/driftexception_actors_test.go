package rolloutctl

import (
	"context"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/testenv"
)

// The attack: a team member declares drift accepted in the platform's name
// (owner platform-oncall, which anyone may write), or extends a colleague's
// exception by a year, and nothing records who did. Accepted drift is never
// silent only if the exception says who accepted it.
func TestADriftExceptionRecordsWhoDeclaredIt(t *testing.T) {
	ctx := testContext(t)
	team, _, teamCfg, _ := actorsSetup(t, ctx)
	testenv.WaitAllowed(t, teamCfg, authorizationv1.ResourceAttributes{Namespace: actorsNS, Verb: "create", Group: fleetv1alpha1.Group, Resource: "driftexceptions"})
	exception := func(name, declaredBy string) *fleetv1alpha1.DriftException {
		return &fleetv1alpha1.DriftException{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: actorsNS},
			Spec: fleetv1alpha1.DriftExceptionSpec{
				Owner:      "platform-oncall",
				DeclaredBy: declaredBy,
				Reason:     "manual scaling during the sale",
				ExpiresAt:  metav1.NewTime(time.Now().Add(24 * time.Hour).Truncate(time.Second)),
				Resources:  []fleetv1alpha1.ResourceSelector{{Group: "apps", Kind: "Deployment", Name: "orders"}},
			},
		}
	}
	waitRefused(t, ctx, team, exception("dex-probe", platUser))

	wantRefused(t, "declared as the platform engineer", team.Create(ctx, exception("dex-forged", platUser)),
		"set spec.declaredBy to alice")
	wantRefused(t, "declared by no one", team.Create(ctx, exception("dex-anon", "")),
		"set spec.declaredBy to alice")
	own := exception("dex-own", teamUser)
	wantAccepted(t, "declared by the caller", team.Create(ctx, own))
	t.Cleanup(func() { _ = adminClient(t).Delete(context.Background(), own) })

	carol := adminAsTeam(t, "carol")
	extend := func(by string) error {
		return carol.Patch(ctx, own, client.RawPatch(types.MergePatchType, []byte(
			`{"spec":{"expiresAt":"`+time.Now().Add(365*24*time.Hour).UTC().Format(time.RFC3339)+`","declaredBy":"`+by+`"}}`)))
	}
	wantRefused(t, "alice's exception extended by carol in her name", extend(teamUser), "set spec.declaredBy to carol")
	wantAccepted(t, "alice's exception extended by carol in hers", extend("carol"))
	wantAccepted(t, "a label only", team.Patch(ctx, own, client.RawPatch(types.MergePatchType,
		[]byte(`{"metadata":{"labels":{"seen":"yes"}}}`))))

	got := &fleetv1alpha1.DriftException{}
	if err := adminClient(t).Get(ctx, client.ObjectKeyFromObject(own), got); err != nil {
		t.Fatal(err)
	}
	if got.Spec.DeclaredBy != "carol" {
		t.Errorf("declaredBy = %q, want carol (who last changed the spec)", got.Spec.DeclaredBy)
	}
}

// The attack: a team accepts drift for five years (expiresAt is whatever its
// author chose), so the drift is never looked at again. The platform bounds
// a team's exceptions with maxAge in ConfigMap
// flotilla-system/flotilla-drift-exceptions.
func TestATeamsDriftExceptionLastsAtMostWhatThePlatformAllows(t *testing.T) {
	ctx := testContext(t)
	team, platform, teamCfg, platformCfg := actorsSetup(t, ctx)
	testenv.WaitAllowed(t, teamCfg, authorizationv1.ResourceAttributes{Namespace: actorsNS, Verb: "create", Group: fleetv1alpha1.Group, Resource: "driftexceptions"})
	testenv.WaitAllowed(t, platformCfg, authorizationv1.ResourceAttributes{Namespace: fleetv1alpha1.PlatformNamespace, Verb: "create", Group: fleetv1alpha1.Group, Resource: "driftexceptions"})
	admin := adminClient(t)
	ensureNamespace(t, ctx, admin, fleetv1alpha1.PlatformNamespace)
	const day = 24 * time.Hour
	exception := func(ns, name, by string, lasts time.Duration) *fleetv1alpha1.DriftException {
		return &fleetv1alpha1.DriftException{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
			Spec: fleetv1alpha1.DriftExceptionSpec{
				Owner: "team-a-oncall", DeclaredBy: by, Reason: "tuned by hand",
				ExpiresAt: metav1.NewTime(time.Now().Add(lasts).Truncate(time.Second)),
				Resources: []fleetv1alpha1.ResourceSelector{{Kind: "ConfigMap", Name: "settings"}},
			},
		}
	}
	cleanup := func(o client.Object) { t.Cleanup(func() { _ = admin.Delete(context.Background(), o) }) }

	// Without a maximum any expiry passes, as before.
	waitRefused(t, ctx, team, exception(actorsNS, "dex-life-probe", platUser, day))
	old := exception(actorsNS, "dex-five-years", teamUser, 5*365*day)
	wantAccepted(t, "five years, no maximum set", team.Create(ctx, old))
	cleanup(old)

	limits := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: fleetv1alpha1.PlatformNamespace, Name: "flotilla-drift-exceptions"},
		Data: map[string]string{"maxAge": "720h"}}
	if err := admin.Create(ctx, limits); err != nil {
		t.Fatal(err)
	}
	cleanup(limits)
	waitRefused(t, ctx, team, exception(actorsNS, "dex-life-probe", teamUser, 5*365*day))

	wantRefused(t, "five years under a 720h maximum", team.Create(ctx, exception(actorsNS, "dex-again", teamUser, 5*365*day)),
		"is more than 720h after the exception was declared")
	short := exception(actorsNS, "dex-ten-days", teamUser, 10*day)
	wantAccepted(t, "ten days", team.Create(ctx, short))
	cleanup(short)
	wantRefused(t, "ten days extended to forty", team.Patch(ctx, short, client.RawPatch(types.MergePatchType, []byte(
		`{"spec":{"expiresAt":"`+time.Now().Add(40*day).UTC().Format(time.RFC3339)+`"}}`))), "is more than 720h after the exception was declared")
	wantAccepted(t, "ten days extended to twenty", team.Patch(ctx, short, client.RawPatch(types.MergePatchType, []byte(
		`{"spec":{"expiresAt":"`+time.Now().Add(20*day).UTC().Format(time.RFC3339)+`"}}`))))
	wantAccepted(t, "a label on the exception declared before the maximum", team.Patch(ctx, old, client.RawPatch(types.MergePatchType,
		[]byte(`{"metadata":{"labels":{"reviewed":"no"}}}`))))
	platformOwn := exception(fleetv1alpha1.PlatformNamespace, "dex-platform", platUser, 5*365*day)
	wantAccepted(t, "the platform's own, five years", platform.Create(ctx, platformOwn))
	cleanup(platformOwn)

	// A maximum the platform mistyped refuses every team's exception, saying why.
	limits.Data["maxAge"] = "30d"
	if err := admin.Update(ctx, limits); err != nil {
		t.Fatal(err)
	}
	waitRefused(t, ctx, team, exception(actorsNS, "dex-life-probe", teamUser, day))
	wantRefused(t, "any exception under a mistyped maximum", team.Create(ctx, exception(actorsNS, "dex-day", teamUser, day)),
		`maxAge "30d" is not a duration in hours and minutes`)
}

// waitRefused creates probe until the API server refuses it, deleting it
// while accepted: an admission policy and its parameters take effect a
// moment after they are written.
func waitRefused(t *testing.T, ctx context.Context, c client.Client, probe client.Object) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for c.Create(ctx, probe.DeepCopyObject().(client.Object)) == nil {
		if err := adminClient(t).Delete(ctx, probe); err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("creating %s is still accepted after 30s", probe.GetName())
		}
		time.Sleep(200 * time.Millisecond)
	}
}
