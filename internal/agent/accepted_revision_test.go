package agent

import (
	"slices"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// A team declares a DriftException on its own Deployment's containers and
// replicas, sets its own image on the member, and then the platform's
// change (a patched image) reaches the cluster. Before the fix the agent
// kept every field accepted before out of the new revision's apply, the
// new image included, so the Work read rev-2 applied and healthy, and the
// change's Rollout counted the cluster on its target, while the Deployment
// ran the team's image. Now a field the new revision sets differently is a
// change and is applied; accepted drift of a field it leaves as it was
// (replicas) stays accepted.
func TestAcceptedDriftDoesNotKeepANewRevisionsChangeOff(t *testing.T) {
	e := newEnv(t)
	const cluster, ns, exc = "accepted-rev", "accepted-rev-app", "team-a/own-image"
	hubCreds := e.join(t, cluster)
	opts := testOptions(t, cluster)
	e.startAgent(t, hubCreds, opts)

	w := work(cluster, "web", namespaceObj(ns), deploymentObj(ns, 2))
	w.Spec.DriftExceptions = []fleetv1alpha1.WorkDriftException{{
		Name:      exc,
		Resources: []fleetv1alpha1.ResourceSelector{{Group: "apps", Kind: "Deployment", Name: "web"}},
		Paths:     []string{"spec.replicas", "spec.template.spec.containers"},
		ExpiresAt: metav1.NewTime(time.Now().Add(time.Hour)),
	}}
	mustf(t, e.hubClient.Create(e.ctx, w), "creating work")
	e.waitWorkReady(t, cluster, "web", 90*time.Second)

	e.editDeployment(t, ns, func(d *appsv1.Deployment) {
		d.Spec.Replicas = ptr.To[int32](5)
		d.Spec.Template.Spec.Containers[0].Image = "registry.example/web:team"
	})
	acceptedFields := func(what string, fields ...string) {
		t.Helper()
		waitFor(t, 3*opts.ResyncInterval+30*time.Second, what, func() (bool, string) {
			got, err := e.getWork(t, cluster, "web")
			if err != nil {
				return false, err.Error()
			}
			dep := findResource(got, "Deployment", "web", fleetv1alpha1.ApplyResultApplied)
			return got.Status.ObservedGeneration == got.Generation && dep != nil && dep.Drift != nil &&
				dep.Drift.State == fleetv1alpha1.DriftAccepted && slices.Equal(dep.Drift.Fields, fields), describeStatus(got)
		})
	}
	acceptedFields("the team's image and replicas accepted",
		"spec.replicas", "spec.template.spec.containers[name=app].image")

	// The platform's change: a new image.
	e.updateWork(t, w, func(w *fleetv1alpha1.Work) {
		w.Spec.Revision = "rev-2"
		newImage := deploymentObj(ns, 2)
		newImage["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)["containers"] = []any{
			map[string]any{"name": "app", "image": "registry.example/web:2.0"}}
		setManifests(w, namespaceObj(ns), newImage)
	})
	var got *fleetv1alpha1.Work
	waitFor(t, 60*time.Second, "rev-2 applied", func() (bool, string) {
		var err error
		if got, err = e.getWork(t, cluster, "web"); err != nil {
			return false, err.Error()
		}
		return got.Status.ObservedGeneration == got.Generation && got.Status.AppliedRevision == "rev-2", describeStatus(got)
	})
	d, err := e.memberKube.AppsV1().Deployments(ns).Get(e.ctx, "web", metav1.GetOptions{})
	mustf(t, err, "reading deployment")
	if image := d.Spec.Template.Spec.Containers[0].Image; image != "registry.example/web:2.0" {
		t.Fatalf("image = %s while the Work reads %s applied (%s); want rev-2's registry.example/web:2.0",
			image, got.Status.AppliedRevision, describeStatus(got))
	}
	if n := *d.Spec.Replicas; n != 5 {
		t.Errorf("replicas = %d, want the accepted 5: rev-2 does not change them", n)
	}
	acceptedFields("replicas still accepted", "spec.replicas")
}
