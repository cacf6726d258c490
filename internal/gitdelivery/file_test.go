package gitdelivery_test

import (
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/controller/promise/promisetest"
)

func release(n string) string {
	return `apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .instance.metadata.name | quote }}
data:
  size: {{ .spec.size | quote }}
  release: "` + n + `"
`
}

// Two git clusters share one repository and branch over file://. Their
// instances' files appear under each cluster's path; a Promise change rolls
// out over both as one commit per cluster naming the Rollout and wave (not
// one per instance), history stays linear, and the Rollout succeeds on the
// pushes alone (healthSource None).
func TestFileRepositoryRollout(t *testing.T) {
	startHub(t)
	e := promisetest.NewEnv(t, hubCP.RESTConfig)
	repo := bareRepo(t, t.TempDir())
	const group, team = "gdfile.example.com", "gdfile-team"
	clusters := []string{"gdfile-1", "gdfile-2"}
	for _, c := range clusters {
		gitCluster(e, c, map[string]string{"suite": "gdfile"}, fleetv1alpha1.GitDelivery{
			URL: "file://" + repo, Branch: "main", HealthSource: fleetv1alpha1.GitHealthNone})
	}
	e.Fleet("gdfile", map[string]string{"suite": "gdfile"}, team)
	e.Namespace(team, nil)
	p := promisetest.ConfigMapPromise("gdfile", group, "Site", "gdfile")
	p.Spec.Templates.GoTemplates[0].Template = release("1")
	e.Create(p)
	r1 := e.PromiseReady("gdfile")
	instances := []string{"shop", "cafe", "bar"}
	for _, name := range instances {
		e.Create(promisetest.Instance(group, "Site", team, name, map[string]any{"size": "small"}))
	}

	for _, c := range clusters {
		for _, name := range instances {
			got := waitFile(t, repo, "clusters/"+c+"/gdfile/"+team+"/"+name+".yaml", `release: "1"`)
			if !strings.Contains(got, "revision: "+r1) || !strings.Contains(got, "name: "+name) {
				t.Errorf("%s/%s file:\n%s", c, name, got)
			}
		}
		// The push comes before the status: wait for the status to name the commit.
		head := git(t, repo, "log", "-1", "--format=%H", "main", "--", "clusters/"+c)
		promisetest.Eventually(t, time.Minute, c+" status.git naming "+head, func() (bool, string) {
			cl := delivered(e, c, metav1.ConditionTrue, fleetv1alpha1.ReasonGitPushed)
			g := cl.Status.Git
			return g != nil && g.LastPushTime != nil && g.LastCommit != "" &&
				isAncestor(repo, head, g.LastCommit), strFmt(g)
		})
		for _, name := range instances {
			e.WaitWork("gdfile", team, name, c, func(w *fleetv1alpha1.Work) (bool, string) {
				return w.Status.ObservedGeneration == w.Generation && w.Status.AppliedRevision == r1 &&
					promisetest.ConditionIs(w.Status.Conditions, fleetv1alpha1.ConditionHealthy, metav1.ConditionTrue), strFmt(w.Status)
			})
		}
	}
	before := map[string]int{}
	for _, c := range clusters {
		before[c] = commits(t, repo, "clusters/"+c)
	}

	// A new release: the Rollout moves every cluster; each cluster's three
	// Works change together and land in one commit.
	cur := e.UpdatePromise("gdfile", func(p *fleetv1alpha1.Promise) { p.Spec.Templates.GoTemplates[0].Template = release("2") })
	rolloutName := "gdfile-" + strconv.FormatInt(cur.Generation, 10)
	promisetest.Eventually(t, 2*time.Minute, "rollout "+rolloutName+" Succeeded", func() (bool, string) {
		ro := &fleetv1alpha1.Rollout{}
		if err := e.C.Get(e.Ctx, client.ObjectKey{Namespace: fleetv1alpha1.PlatformNamespace, Name: rolloutName}, ro); err != nil {
			return false, err.Error()
		}
		return ro.Status.Phase == fleetv1alpha1.RolloutPhaseSucceeded, strFmt(ro.Status)
	})
	for _, c := range clusters {
		for _, name := range instances {
			waitFile(t, repo, "clusters/"+c+"/gdfile/"+team+"/"+name+".yaml", `release: "2"`)
		}
		if n := commits(t, repo, "clusters/"+c); n != before[c]+1 {
			t.Errorf("cluster %s: %d commits after the release, want %d (one for the batch)", c, n, before[c]+1)
		}
		msg := git(t, repo, "log", "-1", "--format=%B", "main", "--", "clusters/"+c)
		if !strings.Contains(msg, "rollout "+fleetv1alpha1.PlatformNamespace+"/"+rolloutName+" wave ") ||
			!strings.Contains(msg, "Flotilla-Cluster: "+c) {
			t.Errorf("commit message for %s:\n%s", c, msg)
		}
	}
	if merges := git(t, repo, "rev-list", "--merges", "main"); merges != "" {
		t.Errorf("history is not linear: merges %s", merges)
	}
	t.Logf("history:\n%s", git(t, repo, "log", "--format=%h %s", "main"))
}

// commits counts the commits on main touching path.
func commits(t *testing.T, repo, path string) int {
	t.Helper()
	n, err := strconv.Atoi(git(t, repo, "rev-list", "--count", "main", "--", path))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// isAncestor reports whether commit a is b or an ancestor of it.
func isAncestor(repo, a, b string) bool {
	cmd := exec.Command("git", "merge-base", "--is-ancestor", a, b)
	cmd.Dir = repo
	return cmd.Run() == nil
}
