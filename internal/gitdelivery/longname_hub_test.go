package gitdelivery_test

import (
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/controller/promise/promisetest"
)

// Team b names an instance with 253 characters, a name the API server takes
// for any custom resource. Its file, <name>.yaml, is longer than a file name
// may be, and a git cluster's files are committed together: team a's new
// instance (and any change of anyone's on that cluster) must still reach it.
func TestAnotherTeamsLongInstanceNameDoesNotStopTheCluster(t *testing.T) {
	startHub(t)
	e := promisetest.NewEnv(t, hubCP.RESTConfig)
	repo := bareRepo(t, t.TempDir())
	const group, teamA, teamB, c = "gdlong.example.com", "gdlong-a", "gdlong-b", "gdlong-1"
	gitCluster(e, c, map[string]string{"suite": "gdlong"}, fleetv1alpha1.GitDelivery{
		URL: "file://" + repo, Branch: "main", HealthSource: fleetv1alpha1.GitHealthNone})
	e.Fleet("gdlong", map[string]string{"suite": "gdlong"}, teamA, teamB)
	e.Namespace(teamA, nil)
	e.Namespace(teamB, nil)
	e.Create(promisetest.ConfigMapPromise("gdlong", group, "Site", "gdlong"))
	e.PromiseReady("gdlong")

	e.Create(promisetest.Instance(group, "Site", teamA, "shop", map[string]any{"size": "small"}))
	waitFile(t, repo, "clusters/"+c+"/gdlong/"+teamA+"/shop.yaml", "name: shop")

	long := strings.Repeat("a", 253)
	e.Create(promisetest.Instance(group, "Site", teamB, long, map[string]any{"size": "small"}))
	e.WaitWork("gdlong", teamB, long, c, func(w *fleetv1alpha1.Work) (bool, string) { return len(w.Spec.Manifests) == 1, strFmt(w.Spec.Subject) })

	e.Create(promisetest.Instance(group, "Site", teamA, "cafe", map[string]any{"size": "small"}))
	var last string
	ok := false
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		if strings.Contains(show(t, repo, "clusters/"+c+"/gdlong/"+teamA+"/cafe.yaml"), "name: cafe") {
			ok = true
			break
		}
		cl := &fleetv1alpha1.Cluster{}
		if err := e.C.Get(e.Ctx, client.ObjectKey{Name: c}, cl); err == nil {
			if d := meta.FindStatusCondition(cl.Status.Conditions, fleetv1alpha1.ConditionDelivered); d != nil {
				last = string(d.Status) + " " + d.Reason + ": " + d.Message
			}
		}
		time.Sleep(time.Second)
	}
	if !ok {
		t.Errorf("team a's new instance never reached cluster %s: team b's instance name stopped the cluster's publish; Delivered %s", c, last)
	}
	_ = metav1.Now
}
