package rollout_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/controller/promise/promisetest"
	"github.com/flotilla-dev/flotilla/internal/hub"
)

// The attack: a team makes, with an Override of its own instance, the very
// change the Promise's strategy would roll out wave by wave behind an
// approval, and during a FleetFreeze. Every cluster used to take it at once.
// A team's Overrides are now part of the instance's revision: a change of
// them is a Rollout of the instance, which the canary takes first, the
// general wave waits for the approval of, a freeze holds, and a rollback
// takes away again.
func TestTeamOverridesRollOutWithTheInstance(t *testing.T) {
	s := newStory(t, "teamovr.example.com")
	team, canary, general, old := s.givenGatedSite("teamovr")
	// stayOld checks clusters keep the first revision, unshaped, for a second.
	stayOld := func(why string, clusters ...string) {
		t.Helper()
		for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			for _, c := range clusters {
				w := s.Work("teamovr", team, "shop", c)
				if w.Spec.InstanceRevision != old || len(w.Spec.Overrides) != 0 || promisetest.ManifestData(t, w, "size") != "small" {
					t.Fatalf("%s: %s took the team's Override: revision %s, overrides %v, size %s", why, c,
						w.Spec.InstanceRevision, w.Spec.Overrides, promisetest.ManifestData(t, w, "size"))
				}
			}
		}
	}
	shapedBy := func(rev string, size string, overrides ...string) func(*fleetv1alpha1.Work) (bool, string) {
		return func(w *fleetv1alpha1.Work) (bool, string) {
			got := promisetest.ManifestData(t, w, "size")
			return w.Spec.InstanceRevision == rev && got == size && slices.Equal(w.Spec.Overrides, overrides),
				fmt.Sprintf("revision %s, size %s, overrides %v", w.Spec.InstanceRevision, got, w.Spec.Overrides)
		}
	}
	instanceRollout := func(name, what string, check func(*fleetv1alpha1.Rollout) bool) *fleetv1alpha1.Rollout {
		t.Helper()
		return s.waitTeamRollout(team, name, what, check)
	}

	// The team sizes its instance up with a Values Override.
	s.Create(&fleetv1alpha1.Override{
		ObjectMeta: metav1.ObjectMeta{Name: "bigger", Namespace: team},
		Spec: fleetv1alpha1.OverrideSpec{
			Promise: "teamovr",
			Type:    fleetv1alpha1.PatchValues,
			Patch:   promisetest.Raw(map[string]any{"size": "large"}),
		},
	})
	first := instanceRollout("site-shop-1", "admitting the canary", func(ro *fleetv1alpha1.Rollout) bool { return ro.Status.Counts.Admitted == 1 })
	if first.Spec.FromRevision != old || first.Spec.TargetRevision == old {
		t.Fatalf("rollout from %s to %s, want from %s to a new instance revision", first.Spec.FromRevision, first.Spec.TargetRevision, old)
	}
	if h := first.Status.History; len(h) == 0 || !strings.Contains(h[0].Message, "it changes the team's Overrides (bigger added)") {
		t.Errorf("the first history entry does not say what changes: %+v", h)
	}
	s.WaitWork("teamovr", team, "shop", canary, shapedBy(first.Spec.TargetRevision, "large", team+"/bigger"))
	stayOld("while the canary takes the Override", general...)
	s.ReportReady(s.Work("teamovr", team, "shop", canary))
	instanceRollout("site-shop-1", "waiting for approval", func(ro *fleetv1alpha1.Rollout) bool {
		return ro.Status.Phase == fleetv1alpha1.RolloutPhaseWaitingForApproval
	})
	stayOld("before the general wave is approved", general...)

	// The revision snapshots the Override: the team cannot rewrite it
	// behind the Rollout's back.
	cr := &appsv1.ControllerRevision{}
	if err := s.C.Get(s.Ctx, client.ObjectKey{Namespace: team, Name: first.Spec.TargetRevision}, cr); err != nil {
		t.Fatal(err)
	}
	if got := cr.Annotations[fleetv1alpha1.AnnotationTeamOverrides]; got != `[{"name":"bigger","spec":{"clusterSelector":{},"promise":"teamovr","type":"Values","patch":{"size":"large"}}}]` {
		t.Errorf("the revision snapshots %s", got)
	}

	// During a freeze, a second change of the team's Overrides (the
	// instance's generation unchanged) waits, on the canary too.
	s.Create(&fleetv1alpha1.FleetFreeze{
		ObjectMeta: metav1.ObjectMeta{Name: "teamovr-incident"},
		Spec:       fleetv1alpha1.FleetFreezeSpec{Reason: "incident", Action: fleetv1alpha1.FreezeHalt, FrozenBy: "oncall"},
	})
	t.Cleanup(func() {
		_ = s.C.Delete(s.Ctx, &fleetv1alpha1.FleetFreeze{ObjectMeta: metav1.ObjectMeta{Name: "teamovr-incident"}})
	})
	s.Create(&fleetv1alpha1.Override{
		ObjectMeta: metav1.ObjectMeta{Name: "labelled", Namespace: team},
		Spec: fleetv1alpha1.OverrideSpec{
			Promise: "teamovr",
			Type:    fleetv1alpha1.PatchJSONMerge,
			Patch:   promisetest.Raw(map[string]any{"metadata": map[string]any{"labels": map[string]any{"tier": "gold"}}}),
		},
	})
	second := instanceRollout("site-shop-1-2", "held by the freeze", func(ro *fleetv1alpha1.Rollout) bool {
		return ro.Status.Freeze != nil && ro.Status.Freeze.HeldBy == "teamovr-incident"
	})
	// From the stable revision: the first change never completed.
	if h := second.Status.History; len(h) == 0 || !strings.Contains(h[0].Message, "it changes the team's Overrides (bigger added, labelled added)") {
		t.Errorf("the first history entry does not say what changes: %+v", h)
	}
	if second.Spec.TargetRevision == first.Spec.TargetRevision {
		t.Fatalf("the second change targets %s, the first change's revision", second.Spec.TargetRevision)
	}
	time.Sleep(time.Second)
	if w := s.Work("teamovr", team, "shop", canary); w.Spec.InstanceRevision != first.Spec.TargetRevision || len(w.Spec.Overrides) != 1 {
		t.Fatalf("the canary moved during the freeze: revision %s, overrides %v", w.Spec.InstanceRevision, w.Spec.Overrides)
	}
	stayOld("during the freeze", general...)
	if err := s.C.Delete(s.Ctx, &fleetv1alpha1.FleetFreeze{ObjectMeta: metav1.ObjectMeta{Name: "teamovr-incident"}}); err != nil {
		t.Fatal(err)
	}
	s.WaitWork("teamovr", team, "shop", canary, shapedBy(second.Spec.TargetRevision, "large", team+"/bigger", team+"/labelled"))
	stayOld("after the freeze, before the approval", general...)

	// A rollback renders the first revision again: no Override at all.
	base := second.DeepCopy()
	second.Spec.Rollback = &fleetv1alpha1.RollbackRequest{ChangeRecord: fleetv1alpha1.ChangeRecord{By: "owner", Message: "not today"}}
	if err := s.C.Patch(s.Ctx, second, client.MergeFrom(base)); err != nil {
		t.Fatal(err)
	}
	s.WaitWork("teamovr", team, "shop", canary, shapedBy(old, "small"))
	stayOld("after the rollback", general...)
}

// The attack: a team keeps some of its clusters on an instance revision
// made before the hub snapshotted Overrides (one that renders the team's
// Overrides as they are now) by never approving, or by rolling back, the
// Rollout the upgrade started; every change of its Overrides then reached
// those clusters at once. A revision made before is now frozen, at the
// first sight of it, with the Overrides it renders then.
func TestARevisionFromBeforeDoesNotRenderLiveOverrides(t *testing.T) {
	stop := promisetest.StartHub(t, hubCP.RESTConfig, hub.Options{})
	s := &story{Env: promisetest.NewEnv(t, hubCP.RESTConfig), group: "legacyovr.example.com"}
	team, canary, general, old := s.givenGatedSite("legacyovr")
	shapedBy := func(rev string, overrides ...string) func(*fleetv1alpha1.Work) (bool, string) {
		return func(w *fleetv1alpha1.Work) (bool, string) {
			return w.Spec.InstanceRevision == rev && slices.Equal(w.Spec.Overrides, overrides),
				fmt.Sprintf("revision %s, overrides %v", w.Spec.InstanceRevision, w.Spec.Overrides)
		}
	}
	s.Create(&fleetv1alpha1.Override{
		ObjectMeta: metav1.ObjectMeta{Name: "bigger", Namespace: team},
		Spec: fleetv1alpha1.OverrideSpec{
			Promise: "legacyovr",
			Type:    fleetv1alpha1.PatchValues,
			Patch:   promisetest.Raw(map[string]any{"size": "large"}),
		},
	})
	ro := &fleetv1alpha1.Rollout{}
	promisetest.Eventually(t, time.Minute, "the rollout of the Override admitting the canary", func() (bool, string) {
		if err := s.C.Get(s.Ctx, client.ObjectKey{Namespace: team, Name: "site-shop-1"}, ro); err != nil {
			return false, err.Error()
		}
		return ro.Status.Counts.Admitted == 1, fmt.Sprintf("%+v", ro.Status.Counts)
	})
	s.WaitWork("legacyovr", team, "shop", canary, shapedBy(ro.Spec.TargetRevision, team+"/bigger"))

	// The first revision as a hub from before made it: no annotation. This
	// is an upgrade's state: the general clusters run a revision from
	// before, rendered with the team's Override (as that hub did), a
	// Rollout of the snapshot waits for an approval the team never gives;
	// then the new hub starts.
	stop()
	cr := &appsv1.ControllerRevision{}
	if err := s.C.Get(s.Ctx, client.ObjectKey{Namespace: team, Name: old}, cr); err != nil {
		t.Fatal(err)
	}
	base := cr.DeepCopy()
	delete(cr.Annotations, fleetv1alpha1.AnnotationTeamOverrides)
	if err := s.C.Patch(s.Ctx, cr, client.MergeFrom(base)); err != nil {
		t.Fatal(err)
	}
	promisetest.StartHub(t, hubCP.RESTConfig, hub.Options{})
	s.ReportReady(s.Work("legacyovr", team, "shop", canary))
	for _, c := range general {
		s.WaitWork("legacyovr", team, "shop", c, shapedBy(old, team+"/bigger"))
	}

	// The team adds an Override: a Rollout of it, which the general wave
	// must not see before it is approved.
	s.Create(&fleetv1alpha1.Override{
		ObjectMeta: metav1.ObjectMeta{Name: "labelled", Namespace: team},
		Spec: fleetv1alpha1.OverrideSpec{
			Promise: "legacyovr",
			Type:    fleetv1alpha1.PatchJSONMerge,
			Patch:   promisetest.Raw(map[string]any{"metadata": map[string]any{"labels": map[string]any{"tier": "gold"}}}),
		},
	})
	promisetest.Eventually(t, time.Minute, "the rollout of the second Override", func() (bool, string) {
		err := s.C.Get(s.Ctx, client.ObjectKey{Namespace: team, Name: "site-shop-1-2"}, ro)
		return err == nil, fmt.Sprint(err)
	})
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		for _, c := range general {
			if ok, got := shapedBy(old, team+"/bigger")(s.Work("legacyovr", team, "shop", c)); !ok {
				t.Fatalf("%s took the second Override before its Rollout admitted it: %s", c, got)
			}
		}
	}
}

// The attack: instance revisions are named by 40 bits of a hash of what
// they snapshot, which a team finds a collision of in seconds (a birthday
// search over a pad in its Override; the pads below were found so). It
// rolls out the first Override, then changes it to the second: the new
// snapshot had the name of the revision the fleet runs, so no Rollout
// started, and every cluster rendered it at its next render, the instance
// reporting the change as applied. A name that holds another
// snapshot is now passed over for the next.
func TestAnInstanceRevisionNameCollisionIsNoChangeWithoutARollout(t *testing.T) {
	s := newStory(t, "collide.example.com")
	s.strategy("collide", fleetv1alpha1.FailureHalt, wave("canary"), wave("general"))
	s.givenSite("collide", "collide")
	const team = "collide-team"
	clusters := s.clusters("collide")
	override := func(pad, size string) *fleetv1alpha1.Override {
		return &fleetv1alpha1.Override{
			ObjectMeta: metav1.ObjectMeta{Name: "bigger", Namespace: team},
			Spec: fleetv1alpha1.OverrideSpec{
				Promise: "collide",
				InstanceSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
					{Key: "pad", Operator: metav1.LabelSelectorOpNotIn, Values: []string{pad}},
				}},
				Type:  fleetv1alpha1.PatchValues,
				Patch: promisetest.Raw(map[string]any{"size": size}),
			},
		}
	}
	// name is the revision name of spec {"size":"small"} with override(pad, size).
	name := func(pad, size string) string {
		o := override(pad, size)
		team, err := json.Marshal([]map[string]any{{"name": o.Name, "spec": o.Spec}})
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(append([]byte(`{"size":"small"}`+"\x00"), team...))
		return "site-shop-" + hex.EncodeToString(sum[:])[:10]
	}
	const padLarge, padSmall = "a677517", "b10185"
	taken := name(padLarge, "large")
	if other := name(padSmall, "small"); other != taken {
		t.Fatalf("no collision: %s, %s", taken, other)
	}

	s.Create(override(padLarge, "large"))
	for _, c := range clusters {
		w := s.WaitWork("collide", team, "shop", c, func(w *fleetv1alpha1.Work) (bool, string) {
			got := promisetest.ManifestData(t, w, "size")
			return got == "large", fmt.Sprintf("revision %s, size %s", w.Spec.InstanceRevision, got)
		})
		if w.Spec.InstanceRevision != taken {
			t.Fatalf("%s renders %s, want %s (the test's snapshot encoding is not the hub's)", c, w.Spec.InstanceRevision, taken)
		}
		s.ReportReady(w)
	}
	promisetest.Eventually(t, time.Minute, "the Override's rollout to succeed", func() (bool, string) {
		ro := &fleetv1alpha1.Rollout{}
		if err := s.C.Get(s.Ctx, client.ObjectKey{Namespace: team, Name: "site-shop-1"}, ro); err != nil {
			return false, err.Error()
		}
		return ro.Status.Phase == fleetv1alpha1.RolloutPhaseSucceeded, string(ro.Status.Phase)
	})

	// The colliding change.
	o := &fleetv1alpha1.Override{}
	if err := s.C.Get(s.Ctx, client.ObjectKey{Namespace: team, Name: "bigger"}, o); err != nil {
		t.Fatal(err)
	}
	o.Spec = override(padSmall, "small").Spec
	if err := s.C.Update(s.Ctx, o); err != nil {
		t.Fatal(err)
	}
	// Any re-render (a hub restart, a label of the cluster) renders the
	// instance's current snapshot under the name it takes.
	for _, c := range clusters {
		cl := &fleetv1alpha1.Cluster{}
		if err := s.C.Get(s.Ctx, client.ObjectKey{Name: c}, cl); err != nil {
			t.Fatal(err)
		}
		base := cl.DeepCopy()
		cl.Labels["rerender"] = "yes"
		if err := s.C.Patch(s.Ctx, cl, client.MergeFrom(base)); err != nil {
			t.Fatal(err)
		}
	}
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		for _, c := range clusters[1:] {
			if w := s.Work("collide", team, "shop", c); w.Spec.InstanceRevision != taken || promisetest.ManifestData(t, w, "size") != "large" {
				t.Fatalf("%s took the change without a Rollout: revision %s, size %s", c, w.Spec.InstanceRevision, promisetest.ManifestData(t, w, "size"))
			}
		}
	}
	promisetest.Eventually(t, time.Minute, "a rollout of the change", func() (bool, string) {
		ro := &fleetv1alpha1.Rollout{}
		if err := s.C.Get(s.Ctx, client.ObjectKey{Namespace: team, Name: "site-shop-1-2"}, ro); err != nil {
			return false, err.Error()
		}
		return ro.Spec.FromRevision == taken && ro.Spec.TargetRevision != taken, ro.Spec.FromRevision + " to " + ro.Spec.TargetRevision
	})
}

// The attack: a team changes its instance (here with an Override the render
// refuses: a size the Promise's schema does not allow) while the platform
// rolls a Promise change out. The render of the current spec failed on
// every cluster, and with it the write of the cluster's Work at the
// revisions admitted there, so the Promise's Rollout could not move the
// team's Work: that team's broken change held the platform's Rollout back,
// for every team, until it failed by its progress deadline. The Work is now
// written at what is admitted there, and the instance reports the failure.
func TestATeamsBrokenChangeDoesNotHoldThePromisesRollout(t *testing.T) {
	s := newStory(t, "brokenovr.example.com")
	// The instance's Rollout waits for an approval the team never gives,
	// so no cluster is admitted to the broken revision.
	s.strategy("brokenovr", fleetv1alpha1.FailureHalt, wave("canary", func(w *fleetv1alpha1.Wave) {
		w.Approval = fleetv1alpha1.ApprovalRequired
	}), wave("general"))
	r1 := s.givenSite("brokenovr", "brokenovr")
	const team = "brokenovr-team"
	canary := "brokenovr-c1"
	s.Create(&fleetv1alpha1.Override{
		ObjectMeta: metav1.ObjectMeta{Name: "huge", Namespace: team},
		Spec: fleetv1alpha1.OverrideSpec{
			Type:  fleetv1alpha1.PatchValues,
			Patch: promisetest.Raw(map[string]any{"size": "huge"}),
		},
	})
	st := s.WaitInstance(s.group, "Site", team, "shop", "stalled on the refused Override", func(st fleetv1alpha1.InstanceStatus) bool {
		return promisetest.ConditionIs(st.Conditions, fleetv1alpha1.ConditionStalled, metav1.ConditionTrue)
	})
	if msg := meta.FindStatusCondition(st.Conditions, fleetv1alpha1.ConditionStalled).Message; !strings.Contains(msg, "huge") {
		t.Errorf("Stalled says %q, not why the current spec cannot render", msg)
	}

	// The platform releases a change and approves its canary.
	ro, r2 := s.release("brokenovr", "2", r1)
	s.waitRollout(ro, "waiting for the canary's approval", func(ro *fleetv1alpha1.Rollout) bool {
		return ro.Status.Phase == fleetv1alpha1.RolloutPhaseWaitingForApproval
	})
	s.patchRollout(ro, func(ro *fleetv1alpha1.Rollout) {
		ro.Spec.Approvals = append(ro.Spec.Approvals, fleetv1alpha1.Approval{Wave: "canary",
			ChangeRecord: fleetv1alpha1.ChangeRecord{By: "platform", At: &metav1.Time{Time: time.Now().Truncate(time.Second)}}})
	})
	s.moves("brokenovr", r2, canary)
	w := s.Work("brokenovr", team, "shop", canary)
	if w.Spec.InstanceRevision != st.AppliedInstanceRevision || promisetest.ManifestData(t, w, "size") != "small" || len(w.Spec.Overrides) != 0 {
		t.Errorf("the canary's Work renders instance revision %s (size %s, overrides %v), want the admitted %s, without the Override",
			w.Spec.InstanceRevision, promisetest.ManifestData(t, w, "size"), w.Spec.Overrides, st.AppliedInstanceRevision)
	}
}

// givenGatedSite is givenSite under a strategy whose general wave waits for
// an approval after the canary, once the instance is Ready: it returns the
// team's namespace, the canary, the general clusters and the instance
// revision they all run.
func (s *story) givenGatedSite(name string) (team, canary string, general []string, first string) {
	s.TB.Helper()
	return s.givenGatedSiteOf(name, template("1"))
}

// givenGatedSiteOf is givenGatedSite with the Promise's template tmpl.
func (s *story) givenGatedSiteOf(name, tmpl string) (team, canary string, general []string, first string) {
	s.TB.Helper()
	s.strategy(name, fleetv1alpha1.FailureHalt, wave("canary"), wave("general", func(w *fleetv1alpha1.Wave) {
		w.Approval = fleetv1alpha1.ApprovalRequired
	}))
	s.givenSiteOf(name, name, tmpl)
	team = name + "-team"
	ready := s.WaitInstance(s.group, "Site", team, "shop", "ready on the first spec", func(st fleetv1alpha1.InstanceStatus) bool {
		return promisetest.ConditionIs(st.Conditions, fleetv1alpha1.ConditionReady, metav1.ConditionTrue)
	})
	return team, name + "-c1", []string{name + "-g1", name + "-g2"}, ready.InstanceRevision
}

// An Override's status counted every Work that listed it as shaped by it,
// while the Works its instance's Rollout had not reached yet rendered an
// earlier spec of it: a team (or the platform) reading the Override saw its
// change on every cluster. It now says how many render an earlier spec.
func TestAnOverrideSaysHowManyWorksRenderAnEarlierSpecOfIt(t *testing.T) {
	s := newStory(t, "ovrpending.example.com")
	team, canary, general, _ := s.givenGatedSite("ovrpending")
	all := append([]string{canary}, general...)
	rollout := func(name, what string, check func(*fleetv1alpha1.Rollout) bool) *fleetv1alpha1.Rollout {
		t.Helper()
		return s.waitTeamRollout(team, name, what, check)
	}
	// approveGeneral lets Rollout name's general wave in once its canary is healthy.
	approveGeneral := func(name string) {
		t.Helper()
		s.ReportReady(s.Work("ovrpending", team, "shop", canary))
		ro := rollout(name, "waiting for approval", func(ro *fleetv1alpha1.Rollout) bool {
			return ro.Status.Phase == fleetv1alpha1.RolloutPhaseWaitingForApproval
		})
		base := ro.DeepCopy()
		ro.Spec.Approvals = append(ro.Spec.Approvals, fleetv1alpha1.Approval{Wave: "general",
			ChangeRecord: fleetv1alpha1.ChangeRecord{By: "owner", At: &metav1.Time{Time: time.Now().Truncate(time.Second)}}})
		if err := s.C.Patch(s.Ctx, ro, client.MergeFrom(base)); err != nil {
			t.Fatal(err)
		}
	}
	sized := func(size string) func(*fleetv1alpha1.Work) (bool, string) {
		return func(w *fleetv1alpha1.Work) (bool, string) {
			got := promisetest.ManifestData(t, w, "size")
			return got == size, "size " + got
		}
	}
	overrideStatus := func(what string, check func(fleetv1alpha1.OverrideStatus) bool) fleetv1alpha1.OverrideStatus {
		t.Helper()
		o := &fleetv1alpha1.Override{}
		promisetest.Eventually(t, time.Minute, "override bigger "+what, func() (bool, string) {
			if err := s.C.Get(s.Ctx, client.ObjectKey{Namespace: team, Name: "bigger"}, o); err != nil {
				return false, err.Error()
			}
			return o.Status.ObservedGeneration == o.Generation && check(o.Status), fmt.Sprintf("%+v", o.Status)
		})
		return o.Status
	}

	// The team's Override reaches every cluster through a first Rollout.
	s.Create(&fleetv1alpha1.Override{
		ObjectMeta: metav1.ObjectMeta{Name: "bigger", Namespace: team},
		Spec:       fleetv1alpha1.OverrideSpec{Promise: "ovrpending", Type: fleetv1alpha1.PatchValues, Patch: promisetest.Raw(map[string]any{"size": "large"})},
	})
	rollout("site-shop-1", "admitting the canary", func(ro *fleetv1alpha1.Rollout) bool { return ro.Status.Counts.Admitted == 1 })
	s.WaitWork("ovrpending", team, "shop", canary, sized("large"))
	approveGeneral("site-shop-1")
	for _, c := range all {
		s.ReportReady(s.WaitWork("ovrpending", team, "shop", c, sized("large")))
	}
	rollout("site-shop-1", "succeeded", func(ro *fleetv1alpha1.Rollout) bool { return ro.Status.Phase == fleetv1alpha1.RolloutPhaseSucceeded })
	overrideStatus("shaping every Work at its spec", func(st fleetv1alpha1.OverrideStatus) bool {
		return st.AffectedWorks == 3 && st.PendingWorks == 0
	})

	// The team changes the Override: only the canary renders the new spec
	// until the general wave is approved, and the Override says so.
	o := &fleetv1alpha1.Override{}
	if err := s.C.Get(s.Ctx, client.ObjectKey{Namespace: team, Name: "bigger"}, o); err != nil {
		t.Fatal(err)
	}
	base := o.DeepCopy()
	// (The schema allows small and large; the instance's spec says small.)
	o.Spec.Patch = promisetest.Raw(map[string]any{"size": "small"})
	if err := s.C.Patch(s.Ctx, o, client.MergeFrom(base)); err != nil {
		t.Fatal(err)
	}
	rollout("site-shop-1-2", "admitting the canary", func(ro *fleetv1alpha1.Rollout) bool { return ro.Status.Counts.Admitted == 1 })
	s.WaitWork("ovrpending", team, "shop", canary, sized("small"))
	st := overrideStatus("counting the general wave's Works as pending", func(st fleetv1alpha1.OverrideStatus) bool {
		return st.AffectedWorks == 3 && st.PendingWorks == 2
	})
	if c := meta.FindStatusCondition(st.Conditions, fleetv1alpha1.ConditionReady); c == nil ||
		!strings.Contains(c.Message, "2 of the 3 Works it shapes render an earlier spec of it until their instances' Rollouts move them on") {
		t.Errorf("Ready = %+v", c)
	}
	for _, c := range general {
		if got := promisetest.ManifestData(t, s.Work("ovrpending", team, "shop", c), "size"); got != "large" {
			t.Fatalf("%s renders size %s before the approval", c, got)
		}
	}

	// Once the general wave takes it, none is pending.
	approveGeneral("site-shop-1-2")
	for _, c := range general {
		s.WaitWork("ovrpending", team, "shop", c, sized("small"))
	}
	overrideStatus("with no Work pending", func(st fleetv1alpha1.OverrideStatus) bool {
		return st.AffectedWorks == 3 && st.PendingWorks == 0
	})
}
