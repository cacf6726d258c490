package gitdelivery_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/controller/promise/promisetest"
)

// Every team reads Clusters (the per-team how-to). A git remote that
// refuses a push says why in its answer, and secret scanners (a gitleaks
// pre-receive hook, GitHub's push protection) name the file and often the
// line they matched: the hub put that answer in the Cluster's Delivered
// (and Ready) condition, so every team read the paths of team b's files,
// its instances' names, and what the scanner quoted of them. The condition
// now says the remote refused the push; its answer is in the hub's log and
// its Warning Event on the Cluster (in namespace default), the platform's.
func TestTheRemotesAnswerIsNotOnTheCluster(t *testing.T) {
	startHub(t)
	e := promisetest.NewEnv(t, hubCP.RESTConfig)
	repo := bareRepo(t, t.TempDir())
	hook := "#!/bin/sh\nwhile read old new ref; do\n  git ls-tree -r --name-only \"$new\" | sed 's/^/secret found: /'\n  git grep -h size \"$new\" | sed 's/^/  matched: /'\ndone >&2\nexit 1\n"
	if err := os.WriteFile(filepath.Join(repo, "hooks", "pre-receive"), []byte(hook), 0o755); err != nil {
		t.Fatal(err)
	}
	const group, teamB, c = "gdremote.example.com", "gdremote-b", "gdremote-1"
	gitCluster(e, c, map[string]string{"suite": "gdremote"}, fleetv1alpha1.GitDelivery{
		URL: "file://" + repo, Branch: "main", HealthSource: fleetv1alpha1.GitHealthNone})
	e.Fleet("gdremote", map[string]string{"suite": "gdremote"}, teamB)
	e.Namespace(teamB, nil)
	e.Create(promisetest.ConfigMapPromise("gdremote", group, "Site", "gdremote"))
	e.PromiseReady("gdremote")
	e.Create(promisetest.Instance(group, "Site", teamB, "acquisition-zeta", map[string]any{"size": "small"}))

	cl := delivered(e, c, metav1.ConditionFalse, fleetv1alpha1.ReasonGitPushFailed)
	for _, cond := range cl.Status.Conditions {
		if strings.Contains(cond.Message, "acquisition-zeta") || strings.Contains(cond.Message, "matched") {
			t.Errorf("every team reads the remote's answer on Cluster %s: %s %s: %s", c, cond.Type, cond.Reason, cond.Message)
		}
	}
	if d := meta.FindStatusCondition(cl.Status.Conditions, fleetv1alpha1.ConditionDelivered); !strings.Contains(d.Message, "refused") {
		t.Errorf("Delivered does not say the remote refused the push: %s", d.Message)
	}
	promisetest.Eventually(t, time.Minute, "the platform's Event with the remote's answer", func() (bool, string) {
		events := &eventsv1.EventList{}
		if err := e.C.List(e.Ctx, events, client.InNamespace(metav1.NamespaceDefault)); err != nil {
			return false, err.Error()
		}
		for _, ev := range events.Items {
			if ev.Regarding.Name == c && ev.Reason == fleetv1alpha1.ReasonGitPushFailed && strings.Contains(ev.Note, "acquisition-zeta") {
				return true, ""
			}
		}
		return false, "no GitPushFailed Event quoting the remote"
	})
}
