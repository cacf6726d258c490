package rollout_test

import (
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/controller/promise/promisetest"
	"github.com/flotilla-dev/flotilla/internal/hub"
)

// The attack: a Promise's templates read the instance's labels
// (.instance.metadata.labels), which the team sets. A change of them
// reached every cluster at once: no wave, no approval, no freeze. Where the
// Promise's templates read them, an instance revision snapshots them, and a
// change of them is a Rollout of the instance.
func TestInstanceLabelsTheTemplatesReadRollOutWithTheInstance(t *testing.T) {
	s := newStory(t, "labelsread.example.com")
	team, canary, general, old := s.givenGatedSiteOf("labelsread", labelsTemplate)
	tier := func(want string) func(*fleetv1alpha1.Work) (bool, string) {
		return func(w *fleetv1alpha1.Work) (bool, string) {
			got := promisetest.ManifestData(t, w, "tier")
			return got == want, "tier " + got + " at " + w.Spec.InstanceRevision
		}
	}

	s.editShop(team, func(u *unstructured.Unstructured) { u.SetLabels(map[string]string{"tier": "gold"}) })

	ro := s.waitTeamRollout(team, "site-shop-1", "the label change's Rollout admitting the canary", func(ro *fleetv1alpha1.Rollout) bool { return ro.Status.Counts.Admitted == 1 })
	if ro.Spec.FromRevision != old || ro.Spec.TargetRevision == old {
		t.Fatalf("rollout from %s to %s, want from %s to a new instance revision", ro.Spec.FromRevision, ro.Spec.TargetRevision, old)
	}
	if h := ro.Status.History; len(h) == 0 || !strings.Contains(h[0].Message, "it changes the instance's labels or annotations, which the Promise's templates read") {
		t.Errorf("the first history entry does not say what changes: %+v", h)
	}
	s.WaitWork("labelsread", team, "shop", canary, tier("gold"))
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		for _, c := range general {
			if w := s.Work("labelsread", team, "shop", c); promisetest.ManifestData(t, w, "tier") != "none" || w.Spec.InstanceRevision != old {
				t.Fatalf("%s took the label before its wave: tier %s at %s", c, promisetest.ManifestData(t, w, "tier"), w.Spec.InstanceRevision)
			}
		}
	}

	// A rollback renders the label as it was, though the instance keeps it.
	base := ro.DeepCopy()
	ro.Spec.Rollback = &fleetv1alpha1.RollbackRequest{ChangeRecord: fleetv1alpha1.ChangeRecord{By: "owner"}}
	if err := s.C.Patch(s.Ctx, ro, client.MergeFrom(base)); err != nil {
		t.Fatal(err)
	}
	s.WaitWork("labelsread", team, "shop", canary, tier("none"))
}

// labelsTemplate renders the instance's tier label.
const labelsTemplate = `apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .instance.metadata.name | quote }}
data:
  size: {{ .spec.size | quote }}
  tier: {{ dig "tier" "none" .instance.metadata.labels | quote }}
`

// The attack on the upgrade: an instance revision made before the hub
// snapshotted labels renders them as they are, so a team that keeps
// clusters on one (by not approving the Rollout of a change) changed them
// there at once. A revision from before is frozen, at the hub's first
// sight of it, with the labels it renders then.
func TestARevisionFromBeforeDoesNotRenderLiveLabels(t *testing.T) {
	stop := promisetest.StartHub(t, hubCP.RESTConfig, hub.Options{})
	s := &story{Env: promisetest.NewEnv(t, hubCP.RESTConfig), group: "legacylabels.example.com"}
	team, canary, general, old := s.givenGatedSiteOf("legacylabels", labelsTemplate)
	tier := func(rev, want string) func(*fleetv1alpha1.Work) (bool, string) {
		return func(w *fleetv1alpha1.Work) (bool, string) {
			got := promisetest.ManifestData(t, w, "tier")
			return got == want && w.Spec.InstanceRevision == rev, "tier " + got + " at " + w.Spec.InstanceRevision
		}
	}
	label := func(value string) {
		t.Helper()
		s.editShop(team, func(u *unstructured.Unstructured) { u.SetLabels(map[string]string{"tier": value}) })
	}
	label("gold")
	ro := s.waitTeamRollout(team, "site-shop-1", "the rollout of the label admitting the canary", func(ro *fleetv1alpha1.Rollout) bool { return ro.Status.Counts.Admitted == 1 })
	s.WaitWork("legacylabels", team, "shop", canary, tier(ro.Spec.TargetRevision, "gold"))

	// The first revision as a hub from before made it: no snapshot of the
	// labels, so the general clusters render them as they are (gold, as
	// that hub did) while the Rollout waits for an approval; then the new
	// hub starts.
	stop()
	cr := &appsv1.ControllerRevision{}
	if err := s.C.Get(s.Ctx, client.ObjectKey{Namespace: team, Name: old}, cr); err != nil {
		t.Fatal(err)
	}
	base := cr.DeepCopy()
	delete(cr.Annotations, fleetv1alpha1.AnnotationInstanceMetadata)
	if err := s.C.Patch(s.Ctx, cr, client.MergeFrom(base)); err != nil {
		t.Fatal(err)
	}
	promisetest.StartHub(t, hubCP.RESTConfig, hub.Options{})
	s.ReportReady(s.Work("legacylabels", team, "shop", canary))
	for _, c := range general {
		s.WaitWork("legacylabels", team, "shop", c, tier(old, "gold"))
	}

	// The team changes the label again: a Rollout, which the general wave
	// must not see before it is approved.
	label("platinum")
	s.waitTeamRollout(team, "site-shop-1-2", "made for the second label", func(*fleetv1alpha1.Rollout) bool { return true })
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		for _, c := range general {
			if ok, got := tier(old, "gold")(s.Work("legacylabels", team, "shop", c)); !ok {
				t.Fatalf("%s took the second label before its Rollout admitted it: %s", c, got)
			}
		}
	}
}

// A change of the instance's annotations alone (no new generation) was no
// event of the instance's: where the Promise's templates read them, the
// change rolled out only when something else brought the instance back
// (an agent's report, a Promise change), at a time nobody chose. An
// annotation change the templates see starts the instance's Rollout as a
// label change does, and the clusters not admitted keep the old one.
func TestInstanceAnnotationsTheTemplatesReadRollOutWithTheInstance(t *testing.T) {
	s := newStory(t, "annotationsread.example.com")
	team, canary, general, old := s.givenGatedSiteOf("annotationsread", annotationsTemplate)
	owner := func(want string) func(*fleetv1alpha1.Work) (bool, string) {
		return func(w *fleetv1alpha1.Work) (bool, string) {
			got := promisetest.ManifestData(t, w, "owner")
			return got == want, "owner " + got + " at " + w.Spec.InstanceRevision
		}
	}
	s.WaitWork("annotationsread", team, "shop", canary, owner("none"))

	s.editShop(team, func(u *unstructured.Unstructured) { u.SetAnnotations(map[string]string{"owner": "mallory"}) })

	ro := s.waitTeamRollout(team, "site-shop-1", "the annotation change's Rollout admitting the canary", func(ro *fleetv1alpha1.Rollout) bool { return ro.Status.Counts.Admitted == 1 })
	if ro.Spec.FromRevision != old || ro.Spec.TargetRevision == old {
		t.Fatalf("rollout from %s to %s, want from %s to a new instance revision", ro.Spec.FromRevision, ro.Spec.TargetRevision, old)
	}
	s.WaitWork("annotationsread", team, "shop", canary, owner("mallory"))
	for _, c := range general {
		if ok, got := owner("none")(s.Work("annotationsread", team, "shop", c)); !ok {
			t.Fatalf("%s took the annotation before its wave: %s", c, got)
		}
	}
}

// annotationsTemplate renders the instance's owner annotation.
const annotationsTemplate = `apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .instance.metadata.name | quote }}
data:
  size: {{ .spec.size | quote }}
  owner: {{ dig "owner" "none" .instance.metadata.annotations | quote }}
`

// The first history entry of an instance's Rollout says what it changes,
// for those who approve it. A team that changed a label the templates read
// together with a harmless spec change got "it changes the spec": the
// approver of the general wave was not told of the label. Where the
// Promise's templates read them, a change of the labels or annotations is
// named whatever else changes.
func TestALabelChangeBehindASpecChangeIsNamedToTheApprover(t *testing.T) {
	s := newStory(t, "labelhidden.example.com")
	team, _, _, old := s.givenGatedSiteOf("labelhidden", labelsTemplate)
	s.editShop(team, func(u *unstructured.Unstructured) {
		u.SetLabels(map[string]string{"tier": "gold"})
		if err := unstructured.SetNestedField(u.Object, "large", "spec", "size"); err != nil {
			t.Fatal(err)
		}
	})
	ro := s.waitTeamRollout(team, "site-shop-2", "the change's Rollout started", func(ro *fleetv1alpha1.Rollout) bool { return len(ro.Status.History) > 0 })
	if ro.Spec.FromRevision != old {
		t.Fatalf("rollout from %s, want from %s", ro.Spec.FromRevision, old)
	}
	if msg := ro.Status.History[0].Message; !strings.Contains(msg, "it changes the spec and the instance's labels or annotations, which the Promise's templates read") {
		t.Errorf("the first history entry does not name the label: %s", msg)
	}
}

// An instance whose annotations are larger than an instance revision keeps
// (another tool's, say) was held, its Works left as they were, so the
// platform's Promise changes never reached it, though the Promise's
// templates do not read them. Where they do not, the revision keeps none.
func TestLargeAnnotationsTheTemplatesDoNotReadHoldNothing(t *testing.T) {
	s := newStory(t, "bigannotations.example.com")
	r1 := s.givenSite("bigannotations", "")
	team := "bigannotations-team"
	s.editShop(team, func(u *unstructured.Unstructured) {
		u.SetAnnotations(map[string]string{"other-tool.example.com/state": strings.Repeat("x", 70<<10)})
	})
	_, r2 := s.release("bigannotations", "2", r1)
	s.moves("bigannotations", r2, s.clusters("bigannotations")...)
	st := s.WaitInstance(s.group, "Site", team, "shop", "observed", func(st fleetv1alpha1.InstanceStatus) bool { return st.ObservedGeneration > 0 })
	if c := meta.FindStatusCondition(st.Conditions, fleetv1alpha1.ConditionStalled); c != nil && c.Status == metav1.ConditionTrue {
		t.Errorf("the instance is stalled: %+v", c)
	}
}

// editShop updates instance shop (kind Site) of namespace team with edit,
// and returns it as updated.
func (s *story) editShop(team string, edit func(*unstructured.Unstructured)) *unstructured.Unstructured {
	s.TB.Helper()
	inst := &unstructured.Unstructured{}
	inst.SetAPIVersion(s.group + "/v1alpha1")
	inst.SetKind("Site")
	if err := s.C.Get(s.Ctx, client.ObjectKey{Namespace: team, Name: "shop"}, inst); err != nil {
		s.TB.Fatal(err)
	}
	s.UpdateInstance(inst, edit)
	return inst
}
