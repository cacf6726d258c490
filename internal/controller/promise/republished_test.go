package promise_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	pt "github.com/flotilla-dev/flotilla/internal/controller/promise/promisetest"
	"github.com/flotilla-dev/flotilla/internal/render/charttest"
)

// A chart republished under the version a revision names (a platform
// engineer's "fixed" 0.1.0 pushed again, a mutable OCI tag, or a repository
// an attacker writes to) reached every cluster at the hub's next restart:
// the hub downloads a repository chart once per process, so the restarted hub
// rendered the revision the fleet runs with the new archive and wrote every
// Work with it at once, under the same revision, outside the waves, the
// approvals and any freeze. The revision now records the archive's digest and
// renders from its own snapshot; the republished archive is a new revision,
// which rolls out like any change.
func TestAChartRepublishedUnderItsVersionIsANewRevision(t *testing.T) {
	e := newEnv(t)
	stopHub := startHub(t)
	const story = "republish"
	good := charttest.Package(t, "greeter", "0.1.0", chartValues, chartTemplates)
	evil := charttest.Package(t, "greeter", "0.1.0", "greeting: pwned\n", chartTemplates)
	repo := charttest.Serve(t)
	repo.Add("greeter", "0.1.0", good)

	e.Cluster(story+"-c1", map[string]string{"story": story})
	e.Fleet(story, map[string]string{"story": story}, story+"-team")
	e.Namespace(story+"-team", nil)
	p := helmPromise(story, story+".example.com", &fleetv1alpha1.HelmTemplate{
		Repository: &fleetv1alpha1.HelmRepository{URL: repo.URL, Chart: "greeter", Version: "0.1.0"},
	})
	p.Spec.Placement = &fleetv1alpha1.ClusterSelector{Fleets: []string{story}}
	// Nothing moves but what an owner adopts until a day from now: a new
	// revision reaches no cluster in this test.
	p.Spec.UpdatePolicy = fleetv1alpha1.UpdatePolicy{Mode: fleetv1alpha1.UpdateModeDeadline, Deadline: &metav1.Time{Time: time.Now().Add(24 * time.Hour)}}
	e.Create(p)
	rev1 := e.PromiseReady(story)
	e.Create(pt.Instance(story+".example.com", "Greeter", story+"-team", "orders", map[string]any{}))
	e.WaitWork(story, story+"-team", "orders", story+"-c1", func(w *fleetv1alpha1.Work) (bool, string) {
		got := pt.ManifestData(t, w, "greeting")
		return w.Spec.Revision == rev1 && got == "hello", fmt.Sprintf("revision %s, greeting %q", w.Spec.Revision, got)
	})
	if d := revisionsOf(e, story)[rev1].Spec.Content.Templates.Helm.Repository.Digest; d != digestOf(good) {
		t.Errorf("revision %s records digest %q, want %s", rev1, d, digestOf(good))
	}

	stopHub()
	repo.Add("greeter", "0.1.0", evil)
	startHub(t)

	latest := waitObserved(e, story, func(p *fleetv1alpha1.Promise) bool {
		return p.Status.LatestRevision != "" && p.Status.LatestRevision != rev1
	}).Status.LatestRevision
	if d := revisionsOf(e, story)[latest].Spec.Content.Templates.Helm.Repository.Digest; d != digestOf(evil) {
		t.Errorf("the new revision %s records digest %q, want %s", latest, d, digestOf(evil))
	}
	// The restarted hub renders the cluster's revision again; it must give
	// what that revision gave.
	e.UpdateInstance(pt.Instance(story+".example.com", "Greeter", story+"-team", "orders", nil), func(u *unstructured.Unstructured) {
		u.SetAnnotations(map[string]string{"example.com/touched": "yes"})
	})
	for range 3 {
		time.Sleep(time.Second)
		w := e.Work(story, story+"-team", "orders", story+"-c1")
		if got := pt.ManifestData(t, w, "greeting"); w.Spec.Revision != rev1 || got != "hello" {
			t.Fatalf("the cluster's Work is at %s with greeting %q, want %s with the revision's own chart (hello)", w.Spec.Revision, got, rev1)
		}
	}
}

func digestOf(archive []byte) string {
	sum := sha256.Sum256(archive)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// A Promise may pin the archive by its digest: a repository that serves
// another under that version is refused, and no revision is made.
func TestAPinnedChartDigestIsChecked(t *testing.T) {
	e := newEnv(t)
	startHub(t)
	good := charttest.Package(t, "greeter", "0.1.0", chartValues, chartTemplates)
	evil := charttest.Package(t, "greeter", "0.1.0", "greeting: pwned\n", chartTemplates)
	repo := charttest.Serve(t)
	repo.Add("greeter", "0.1.0", evil)
	e.Create(helmPromise("pinned", "pinned.example.com", &fleetv1alpha1.HelmTemplate{
		Repository: &fleetv1alpha1.HelmRepository{URL: repo.URL, Chart: "greeter", Version: "0.1.0", Digest: digestOf(good)},
	}))
	p := waitObserved(e, "pinned", func(p *fleetv1alpha1.Promise) bool {
		return meta.IsStatusConditionTrue(p.Status.Conditions, fleetv1alpha1.ConditionStalled)
	})
	c := meta.FindStatusCondition(p.Status.Conditions, fleetv1alpha1.ConditionStalled)
	if c.Reason != fleetv1alpha1.ReasonChartNotFound || !strings.Contains(c.Message, "serves an archive of digest "+digestOf(evil)+", not "+digestOf(good)) {
		t.Errorf("Stalled %+v", c)
	}
	if p.Status.LatestRevision != "" {
		t.Errorf("a revision was made: %s", p.Status.LatestRevision)
	}

	repo.Add("greeter", "0.1.0", good)
	e.UpdatePromise("pinned", func(p *fleetv1alpha1.Promise) { p.Spec.Examples[0].Name = "hello" })
	rev := e.PromiseReady("pinned")
	if d := revisionsOf(e, "pinned")[rev].Spec.Content.Templates.Helm.Repository.Digest; d != digestOf(good) {
		t.Errorf("revision digest %q", d)
	}
}
