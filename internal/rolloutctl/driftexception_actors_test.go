package rolloutctl

import (
	"context"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
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
	waitDriftExceptionPolicy(t, ctx, team, exception("dex-probe", platUser))

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

// waitDriftExceptionPolicy waits until the API server enforces
// flotilla-driftexception-actors (policies load a moment after they are
// created): it creates probe, declared by someone else, until refused.
func waitDriftExceptionPolicy(t *testing.T, ctx context.Context, team client.Client, probe *fleetv1alpha1.DriftException) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for team.Create(ctx, probe.DeepCopy()) == nil {
		if err := adminClient(t).Delete(ctx, probe); err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatal("the admission policy flotilla-driftexception-actors is not enforced after 30s")
		}
		time.Sleep(200 * time.Millisecond)
	}
}
