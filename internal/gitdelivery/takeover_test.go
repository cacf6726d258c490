package gitdelivery_test

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/controller/promise/promisetest"
)

// Two teams' instances of a Promise that renders into one namespace the
// platform shares between them (an output.namespaces rule without a
// placeholder) both render ConfigMap gdshared/web. The agent would apply the
// first and report the second Conflict. A git cluster must not hold the
// object twice either: Argo CD would apply one copy over the other (team b
// takes over team a's object) and Flux's build of the whole cluster would
// fail on the duplicate, stopping every team's delivery. The object stays in
// the file of the Work that wrote it first, and the other Work is not
// Applied, naming the conflict.
func TestAnotherTeamsObjectIsNotWrittenTwice(t *testing.T) {
	startHub(t)
	e := promisetest.NewEnv(t, hubCP.RESTConfig)
	repo := bareRepo(t, t.TempDir())
	const group, cluster = "gdshare.example.com", "gdshare-1"
	teamA, teamB := "gdshare-a", "gdshare-b"
	gitCluster(e, cluster, map[string]string{"suite": "gdshare"}, fleetv1alpha1.GitDelivery{
		URL: "file://" + repo, Branch: "main", HealthSource: fleetv1alpha1.GitHealthNone})
	e.Fleet("gdshare", map[string]string{"suite": "gdshare"}, teamA, teamB)
	for _, ns := range []string{teamA, teamB} {
		e.Namespace(ns, nil)
	}
	p := promisetest.ConfigMapPromise("gdshare", group, "Monitor", "gdshare")
	p.Spec.Templates.GoTemplates[0].Template = `apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .instance.metadata.name | quote }}
  namespace: gdshared
data:
  team: {{ .instance.metadata.namespace | quote }}
`
	p.Spec.Output.Namespaces = []string{"gdshared"}
	e.Create(p)
	e.PromiseReady("gdshare")

	e.Create(promisetest.Instance(group, "Monitor", teamA, "web", map[string]any{"size": "small"}))
	fileA := "clusters/" + cluster + "/gdshare/" + teamA + "/web.yaml"
	waitFile(t, repo, fileA, `team: `+teamA)
	e.WaitWork("gdshare", teamA, "web", cluster, func(w *fleetv1alpha1.Work) (bool, string) {
		return promisetest.ConditionIs(w.Status.Conditions, fleetv1alpha1.ConditionApplied, metav1.ConditionTrue), strFmt(w.Status)
	})

	e.Create(promisetest.Instance(group, "Monitor", teamB, "web", map[string]any{"size": "small"}))
	fileB := "clusters/" + cluster + "/gdshare/" + teamB + "/web.yaml"
	w := e.WaitWork("gdshare", teamB, "web", cluster, func(w *fleetv1alpha1.Work) (bool, string) {
		return w.Status.ObservedGeneration == w.Generation && appliedMessage(w) != "", strFmt(w.Status)
	})
	if got := promisetest.ConditionReason(w.Status.Conditions, fleetv1alpha1.ConditionApplied); got != fleetv1alpha1.ReasonApplyFailed ||
		!strings.Contains(appliedMessage(w), teamA+"/web") {
		t.Errorf("team b's Work: Applied %s %q, want ApplyFailed naming team a's instance", got, appliedMessage(w))
	}
	time.Sleep(3 * time.Second) // a publish that would add it has had its chance
	if got := show(t, repo, fileB); strings.Contains(got, "kind: ConfigMap") {
		t.Errorf("team b's file holds team a's object:\n%s", got)
	}
	if got := show(t, repo, fileA); !strings.Contains(got, "team: "+teamA) {
		t.Errorf("team a's file lost its object:\n%s", got)
	}
}

// appliedMessage is the message of a Work's Applied condition.
func appliedMessage(w *fleetv1alpha1.Work) string {
	for _, c := range w.Status.Conditions {
		if c.Type == fleetv1alpha1.ConditionApplied {
			return c.Message
		}
	}
	return ""
}
