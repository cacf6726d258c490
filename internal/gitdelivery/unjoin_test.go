package gitdelivery_test

import (
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/controller/promise/promisetest"
	"github.com/flotilla-dev/flotilla/internal/membership"
)

// The attack (a careless platform engineer): `flotilla unjoin --delete-workloads`
// of a git-delivered cluster. Unjoin deleted the Works and, as soon as the
// API server had, the Cluster: no agent prunes on a git cluster, and the
// hub's publisher, which would commit the removal after its batch window,
// found no Cluster any more. The files stayed on the branch, so the GitOps
// tool kept every workload on the member, while unjoin said the cluster was
// removed with its workloads. Now unjoin refuses --delete-workloads for a git
// cluster, changing nothing, and says how to remove them (its directory).
func TestUnjoinDeleteWorkloadsOfAGitClusterIsRefused(t *testing.T) {
	startHub(t)
	e := promisetest.NewEnv(t, hubCP.RESTConfig)
	repo := bareRepo(t, t.TempDir())
	const group, team, c = "gdunjoin.example.com", "gdunjoin-a", "gdunjoin-1"
	gitCluster(e, c, map[string]string{"suite": "gdunjoin"}, fleetv1alpha1.GitDelivery{
		URL: "file://" + repo, Branch: "main", HealthSource: fleetv1alpha1.GitHealthNone})
	e.Fleet("gdunjoin", map[string]string{"suite": "gdunjoin"}, team)
	e.Namespace(team, nil)
	e.Create(promisetest.ConfigMapPromise("gdunjoin", group, "Site", "gdunjoin"))
	e.PromiseReady("gdunjoin")
	e.Create(promisetest.Instance(group, "Site", team, "shop", map[string]any{"size": "small"}))
	file := "clusters/" + c + "/gdunjoin/" + team + "/shop.yaml"
	waitFile(t, repo, file, "name: shop")

	err := membership.Unjoin(e.Ctx, hubCP.RESTConfig, c, membership.UnjoinOptions{DeleteWorkloads: true, Timeout: 30 * time.Second})
	if err == nil {
		time.Sleep(10 * time.Second) // well past the publisher's batch window
		t.Fatalf("unjoin --delete-workloads of a git cluster succeeded; its file on the branch: %q", show(t, repo, file))
	}
	if !strings.Contains(err.Error(), "git") || !strings.Contains(err.Error(), "clusters/"+c+" from branch main") {
		t.Errorf("the refusal = %v, want it to say the cluster is git-delivered and how to remove its workloads", err)
	}
	if err := e.C.Get(e.Ctx, client.ObjectKey{Name: c}, &fleetv1alpha1.Cluster{}); err != nil {
		t.Errorf("the refused unjoin removed the Cluster: %v", err)
	}
	works := &fleetv1alpha1.WorkList{}
	if err := e.C.List(e.Ctx, works, client.InNamespace(fleetv1alpha1.ClusterNamespace(c))); err != nil || len(works.Items) == 0 {
		t.Errorf("the refused unjoin deleted the cluster's Works (%v)", err)
	}
	if got := show(t, repo, file); !strings.Contains(got, "name: shop") {
		t.Errorf("the refused unjoin changed the branch: %q", got)
	}
}
