package rollout_test

import (
	"strings"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/kube"
	"github.com/flotilla-dev/flotilla/internal/testenv"
)

// The attack: spec.policyChange records who changed a Rollout's strategy or
// update policy, which only the platform may do. The admission policy
// required a new policyChange to name the caller, and a policy change to
// come from the platform, but not that a new policyChange come with a
// policy change: a team member patched a policyChange alone onto its
// instance's Rollout (the per-team how-to's patch right), and the hub
// recorded it as a history entry "strategy or update policy changed (mode
// …)" by the team member and a PolicyChanged Event, a change that never
// happened by someone who may not make one; on a Rollout the platform had
// switched to Immediate, the team's record replaced the platform's as the
// one who did. A policyChange is now the platform's record only.
func TestATeamCannotRecordAPolicyChangeThatDidNotHappen(t *testing.T) {
	s := newStory(t, "pcrec.example.com")
	const name, team, user = "pcrec", "pcrec-team", "mallory"
	s.strategy(name, fleetv1alpha1.FailureHalt, wave("canary"), wave("general", func(w *fleetv1alpha1.Wave) {
		w.Approval = fleetv1alpha1.ApprovalRequired
	}))
	s.givenSite(name, name)

	// The team's rights of the per-team how-to on its Rollouts.
	s.Create(&rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "tenant", Namespace: team}, Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{fleetv1alpha1.Group}, Resources: []string{"rollouts"}, Verbs: []string{"get", "list", "watch", "patch"}},
	}})
	s.Create(&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "tenant", Namespace: team},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "tenant"},
		Subjects: []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: "Group", Name: team}}})
	cfg := rest.CopyConfig(hubCP.RESTConfig)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user, Groups: []string{team, "system:authenticated"}}
	testenv.WaitAllowed(t, cfg, authorizationv1.ResourceAttributes{Namespace: team, Verb: "patch", Group: fleetv1alpha1.Group, Resource: "rollouts"})
	alice, err := client.New(cfg, client.Options{Scheme: kube.NewScheme()})
	if err != nil {
		t.Fatal(err)
	}

	s.editShop(team, func(u *unstructured.Unstructured) { _ = unstructured.SetNestedField(u.Object, "large", "spec", "size") })
	ro := s.waitTeamRollout(team, "site-shop-2", "started", func(ro *fleetv1alpha1.Rollout) bool { return len(ro.Status.History) > 0 })
	if ro.Spec.PolicyChange != nil {
		t.Fatalf("policyChange %+v before the attack", ro.Spec.PolicyChange)
	}

	at := metav1.Now().Rfc3339Copy()
	body := `{"spec":{"policyChange":{"by":"` + user + `","at":"` + at.UTC().Format(time.RFC3339) +
		`","message":"switched to Immediate with the CTO's sign-off"}}}`
	err = alice.Patch(s.Ctx, &fleetv1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Namespace: team, Name: "site-shop-2"}},
		client.RawPatch(types.MergePatchType, []byte(body)))
	if err == nil {
		// What the hub made of it.
		got := s.waitTeamRollout(team, "site-shop-2", "recording the policyChange", func(ro *fleetv1alpha1.Rollout) bool {
			return ro.Status.ObservedPolicyChange != nil
		})
		for _, h := range got.Status.History {
			if strings.Contains(h.Message, "policy changed") {
				t.Errorf("history: %s %s → %s by %s: %q", h.Time.UTC().Format(time.RFC3339), h.From, h.To, h.Actor, h.Message)
			}
		}
		t.Fatalf("a policyChange alone, by team member %s, was admitted: policyChange %+v, no change of strategy or update policy",
			user, got.Spec.PolicyChange)
	}
	if !strings.Contains(err.Error(), "policyChange") {
		t.Errorf("refused with %v, want the admission policy's word on policyChange", err)
	}
	if got := s.waitTeamRollout(team, "site-shop-2", "read", func(*fleetv1alpha1.Rollout) bool { return true }); got.Spec.PolicyChange != nil {
		t.Errorf("policyChange = %+v, want none", got.Spec.PolicyChange)
	}
}
