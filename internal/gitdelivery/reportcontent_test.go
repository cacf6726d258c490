package gitdelivery_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/controller/promise/promisetest"
	"github.com/flotilla-dev/flotilla/internal/gitdelivery/stamp"
)

// The attack: the GitOps tool synced revision r1; the hub commits r2; a team
// that may update its objects on the member (or a tool stuck on r1) puts r2's
// rendered hash on the live object and keeps r1's content. The report-only
// agent compares what the Work renders with the live object, so the Work is
// not synced on r2, names the differing field, and the rollout does not
// succeed; once the tool really syncs r2, it does.
func TestReportOnlyAgentComparesTheLiveContent(t *testing.T) {
	startHub(t)
	e := promisetest.NewEnv(t, hubCP.RESTConfig)
	const cluster, group, team = "gdrc-1", "gdrc.example.com", "gdrc-team"
	memberAdmin, repo, _ := givenReportOnlyCluster(t, e, cluster, "gdrc")
	if err := memberAdmin.Create(e.Ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: team}}); err != nil {
		t.Fatal(err)
	}

	_, file := givenReleaseOneOfShop(t, e, repo, cluster, "gdrc", group, team)
	gitopsSync(t, e.Ctx, repo, "clusters/"+cluster, memberAdmin)
	e.WaitWork("gdrc", team, "shop", cluster, func(w *fleetv1alpha1.Work) (bool, string) {
		return promisetest.ConditionIs(w.Status.Conditions, fleetv1alpha1.ConditionReady, metav1.ConditionTrue), strFmt(w.Status)
	})

	cur := e.UpdatePromise("gdrc", func(p *fleetv1alpha1.Promise) { p.Spec.Templates.GoTemplates[0].Template = release("2") })
	rolloutName := "gdrc-" + strconv.FormatInt(cur.Generation, 10)
	waitFile(t, repo, file, `release: "2"`)
	w := e.WaitWork("gdrc", team, "shop", cluster, func(w *fleetv1alpha1.Work) (bool, string) {
		return w.Status.ObservedGeneration == w.Generation && strings.Contains(string(w.Spec.Manifests[0].Raw), `"release":"2"`), strFmt(w.Status)
	})
	r2Hash, err := stamp.Hash(w.Spec.Manifests[0].Raw)
	if err != nil {
		t.Fatal(err)
	}

	// The team stamps r2's hash on the object and keeps r1's content.
	cm := &corev1.ConfigMap{}
	if err := memberAdmin.Get(e.Ctx, client.ObjectKey{Namespace: team, Name: "shop"}, cm); err != nil {
		t.Fatal(err)
	}
	cm.Annotations[stamp.Annotation] = r2Hash
	if err := memberAdmin.Update(e.Ctx, cm, client.FieldOwner("team-edit")); err != nil {
		t.Fatal(err)
	}
	if cm.Data["release"] != "1" {
		t.Fatalf("live data %v, want release 1", cm.Data)
	}

	e.WaitWork("gdrc", team, "shop", cluster, func(w *fleetv1alpha1.Work) (bool, string) {
		h := meta.FindStatusCondition(w.Status.Conditions, fleetv1alpha1.ConditionHealthy)
		if h != nil && h.Status == metav1.ConditionTrue && h.ObservedGeneration == w.Generation {
			t.Fatalf("the Work reads healthy on %s with r1's content on the member: %s", w.Spec.Revision, strFmt(w.Status))
		}
		return h != nil && h.ObservedGeneration == w.Generation && h.Status == metav1.ConditionFalse &&
			strings.Contains(h.Message, "waiting for the GitOps tool to sync revision "+w.Spec.Revision) &&
			strings.Contains(h.Message, "data.release") &&
			len(w.Status.Resources) == 1 && w.Status.Resources[0].Result == fleetv1alpha1.ApplyResultNotSynced, strFmt(w.Status)
	})
	ro := &fleetv1alpha1.Rollout{}
	if err := e.C.Get(e.Ctx, client.ObjectKey{Namespace: fleetv1alpha1.PlatformNamespace, Name: rolloutName}, ro); err != nil {
		t.Fatal(err)
	}
	if ro.Status.Phase == fleetv1alpha1.RolloutPhaseSucceeded {
		t.Fatalf("rollout %s succeeded on content the GitOps tool never applied: %s", rolloutName, strFmt(ro.Status))
	}

	// The tool syncs r2: the same object is now synced and the rollout succeeds.
	gitopsSync(t, e.Ctx, repo, "clusters/"+cluster, memberAdmin)
	promisetest.Eventually(t, 2*time.Minute, "rollout "+rolloutName+" Succeeded", func() (bool, string) {
		if err := e.C.Get(e.Ctx, client.ObjectKey{Namespace: fleetv1alpha1.PlatformNamespace, Name: rolloutName}, ro); err != nil {
			return false, err.Error()
		}
		return ro.Status.Phase == fleetv1alpha1.RolloutPhaseSucceeded, strFmt(ro.Status)
	})
}
