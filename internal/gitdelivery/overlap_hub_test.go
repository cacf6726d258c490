package gitdelivery_test

import (
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/controller/promise/promisetest"
)

// The platform joins a second git cluster to the repository and branch a
// store already uses, with a path that holds the store's directory
// ("clusters", where the store writes to clusters/<store>). Everything under
// a cluster's path is the hub's for that cluster: the new cluster's publish
// deleted team a's file from the store's directory (and the store's GitOps
// tool pruned team a's objects), while the store went on reading Delivered
// and its Work Applied; and the new cluster's GitOps tool, syncing
// "clusters", would apply every object placed on the store. Neither cluster
// may publish while their directories overlap: both say why, and nothing
// already on the branch is deleted.
func TestClustersWhosePathsOverlapDoNotPublish(t *testing.T) {
	startHub(t)
	e := promisetest.NewEnv(t, hubCP.RESTConfig)
	repo := bareRepo(t, t.TempDir())
	const group, team, store, lab = "gdov.example.com", "gdov-a", "gdov-store", "gdov-lab"
	gitCluster(e, store, map[string]string{"suite": "gdov-store"}, fleetv1alpha1.GitDelivery{
		URL: "file://" + repo, Branch: "main", HealthSource: fleetv1alpha1.GitHealthNone})
	e.Fleet("gdov", map[string]string{"suite": "gdov-store"}, team)
	e.Namespace(team, nil)
	e.Create(promisetest.ConfigMapPromise("gdov", group, "Site", "gdov"))
	e.PromiseReady("gdov")
	e.Create(promisetest.Instance(group, "Site", team, "shop", map[string]any{"size": "small"}))
	file := "clusters/" + store + "/gdov/" + team + "/shop.yaml"
	waitFile(t, repo, file, "name: shop")

	// The same repository, spelled with a trailing slash.
	gitCluster(e, lab, map[string]string{"suite": "gdov-lab"}, fleetv1alpha1.GitDelivery{
		URL: "file://" + repo + "/", Branch: "main", Path: "clusters/", HealthSource: fleetv1alpha1.GitHealthNone})
	var d *metav1.Condition
	promisetest.Eventually(t, time.Minute, "cluster "+lab+" Delivered", func() (bool, string) {
		c := &fleetv1alpha1.Cluster{}
		if err := e.C.Get(e.Ctx, client.ObjectKey{Name: lab}, c); err != nil {
			return false, err.Error()
		}
		d = meta.FindStatusCondition(c.Status.Conditions, fleetv1alpha1.ConditionDelivered)
		return d != nil, "no Delivered"
	})
	if d.Status != metav1.ConditionFalse || d.Reason != fleetv1alpha1.ReasonGitPathConflict || !strings.Contains(d.Message, store) {
		t.Errorf("cluster %s: Delivered %s %s: %s; want False %s naming %s", lab, d.Status, d.Reason, d.Message, fleetv1alpha1.ReasonGitPathConflict, store)
	}
	if !strings.Contains(show(t, repo, file), "name: shop") {
		t.Fatalf("cluster %s's publish deleted team a's file from cluster %s's directory", lab, store)
	}

	// The store too stops, and says why: a new instance's Work is not
	// claimed applied.
	c := delivered(e, store, metav1.ConditionFalse, fleetv1alpha1.ReasonGitPathConflict)
	if msg := meta.FindStatusCondition(c.Status.Conditions, fleetv1alpha1.ConditionDelivered).Message; !strings.Contains(msg, lab) {
		t.Errorf("cluster %s's Delivered does not name %s: %s", store, lab, msg)
	}
	e.Create(promisetest.Instance(group, "Site", team, "cafe", map[string]any{"size": "small"}))
	e.WaitWork("gdov", team, "cafe", store, func(w *fleetv1alpha1.Work) (bool, string) { return len(w.Spec.Manifests) == 1, strFmt(w.Spec) })
	time.Sleep(4 * time.Second) // a publish would have marked it by now
	if w := e.Work("gdov", team, "cafe", store); meta.IsStatusConditionTrue(w.Status.Conditions, fleetv1alpha1.ConditionApplied) {
		t.Errorf("Work %s reads applied while its cluster cannot publish: %+v", w.Name, w.Status.Conditions)
	}

	// The platform gives the new cluster a directory of its own: both publish.
	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		lc := &fleetv1alpha1.Cluster{}
		if err := e.C.Get(e.Ctx, client.ObjectKey{Name: lab}, lc); err != nil {
			return err
		}
		lc.Spec.Delivery.Git.Path = "labs/" + lab
		return e.C.Update(e.Ctx, lc)
	}); err != nil {
		t.Fatal(err)
	}
	delivered(e, lab, metav1.ConditionTrue, fleetv1alpha1.ReasonGitPushed)
	delivered(e, store, metav1.ConditionTrue, fleetv1alpha1.ReasonGitPushed)
	waitFile(t, repo, "clusters/"+store+"/gdov/"+team+"/cafe.yaml", "name: cafe")
}
