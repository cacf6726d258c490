package rolloutctl

import (
	"strings"
	"testing"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/instanceapi"
	"github.com/flotilla-dev/flotilla/internal/kube"
)

func testPromise(name, group, kind string) *fleetv1alpha1.Promise {
	return &fleetv1alpha1.Promise{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: fleetv1alpha1.PromiseSpec{PromiseContent: fleetv1alpha1.PromiseContent{API: fleetv1alpha1.PromiseAPI{
			Group: group, Kind: kind,
			Schema: runtime.RawExtension{Raw: []byte(`{"type":"object","properties":{"size":{"type":"string"}}}`)},
		}}},
	}
}

// Promises and their kinds are cluster-scoped, so this one test owns them.
func TestUpgrade(t *testing.T) {
	ctx := testContext(t)
	admin := adminClient(t)
	c, _ := newClient(t, admin, clock.RealClock{})

	var crds []*apiextensionsv1.CustomResourceDefinition
	for _, p := range []*fleetv1alpha1.Promise{testPromise("website", "sites.example.com", "Website"), testPromise("queue", "mq.example.com", "Queue")} {
		create(t, ctx, admin, p)
		crd, err := instanceapi.GenerateCRD(p.Name, &p.Spec.API)
		if err != nil {
			t.Fatal(err)
		}
		crds = append(crds, crd)
	}
	if err := kube.InstallCRDs(ctx, hub.RESTConfig, crds); err != nil {
		t.Fatal(err)
	}
	ensureNamespace(t, ctx, admin, "team-a")
	instance := func(kind, name string) *unstructured.Unstructured {
		u := &unstructured.Unstructured{}
		u.SetAPIVersion(map[string]string{"Website": "sites.example.com/v1alpha1", "Queue": "mq.example.com/v1alpha1"}[kind])
		u.SetKind(kind)
		u.SetNamespace("team-a")
		u.SetName(name)
		u.Object["spec"] = map[string]any{"size": "small"}
		return u
	}
	for _, u := range []*unstructured.Unstructured{instance("Website", "shop"), instance("Queue", "orders")} {
		create(t, ctx, admin, u)
	}
	subject := func(p string) func(*fleetv1alpha1.Rollout) {
		return func(r *fleetv1alpha1.Rollout) {
			r.Spec.Subject.Promise, r.Spec.FromRevision = p, p+"-r1"
			r.Spec.TargetRevision = strings.TrimPrefix(r.Name, "up-")
		}
	}
	deadline := func(r *fleetv1alpha1.Rollout) {
		r.Spec.UpdatePolicy = fleetv1alpha1.UpdatePolicy{Mode: fleetv1alpha1.UpdateModeDeadline, Deadline: &metav1.Time{Time: time.Now().Add(48 * time.Hour)}}
	}
	// In progress; a newer one that ended; one for an instance; one of another promise.
	givenRollout(t, ctx, admin, "up-website-r2", fleetv1alpha1.RolloutStatus{Phase: fleetv1alpha1.RolloutPhaseProgressing}, subject("website"), deadline)
	givenRollout(t, ctx, admin, "up-website-r3", fleetv1alpha1.RolloutStatus{Phase: fleetv1alpha1.RolloutPhaseAborted}, subject("website"))
	givenRollout(t, ctx, admin, "up-website-r4", fleetv1alpha1.RolloutStatus{Phase: fleetv1alpha1.RolloutPhaseProgressing}, subject("website"),
		func(r *fleetv1alpha1.Rollout) {
			r.Spec.Subject.Instance = &fleetv1alpha1.LocalObjectReference{Name: "shop"}
		})
	givenRollout(t, ctx, admin, "up-other-r2", fleetv1alpha1.RolloutStatus{Phase: fleetv1alpha1.RolloutPhaseProgressing}, subject("other"))

	res, err := c.Upgrade(ctx, UpgradeOptions{Kind: "website", Namespace: "team-a", Name: "shop"})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Changed || res.Promise != "website" || res.Revision != "website-r2" || res.Rollout == nil || res.Rollout.Name != "up-website-r2" ||
		res.Summary != "Website team-a/shop adopts revision website-r2; its Works move at once on each cluster where every instance of the Promise has adopted" {
		t.Fatalf("result %+v", res)
	}
	got := instance("Website", "shop")
	if err := admin.Get(ctx, client.ObjectKeyFromObject(got), got); err != nil {
		t.Fatal(err)
	}
	if a := got.GetAnnotations()[fleetv1alpha1.AnnotationAdoptRevision]; a != "website-r2" {
		t.Fatalf("annotation %q", a)
	}
	for _, kind := range []string{"Websites", "WEBSITE.sites.example.com", "websites.sites.example.com"} {
		res, err = c.Upgrade(ctx, UpgradeOptions{Kind: kind, Namespace: "team-a", Name: "shop"})
		if err != nil || res.Changed || !strings.Contains(res.Summary, "already adopts revision website-r2; nothing changed") {
			t.Fatalf("upgrading %s again: %+v, %v", kind, res, err)
		}
	}

	_, err = c.Upgrade(ctx, UpgradeOptions{Kind: "webshop", Namespace: "team-a", Name: "shop"})
	wantErr(t, err, "no Promise serves kind webshop; the Promises' kinds are: Queue.mq.example.com, Website.sites.example.com")
	_, err = c.Upgrade(ctx, UpgradeOptions{Kind: "website", Namespace: "team-a", Name: "blog"})
	wantErr(t, err, "Website blog not found in namespace team-a")
	_, err = c.Upgrade(ctx, UpgradeOptions{Kind: "queue", Namespace: "team-a", Name: "orders"})
	wantErr(t, err, "no rollout in progress for promise queue; nothing to adopt")

	// A named revision must be one of the Promise's.
	_, err = c.Upgrade(ctx, UpgradeOptions{Kind: "queue", Namespace: "team-a", Name: "orders", ToRevision: "queue-0123456789"})
	wantErr(t, err, "promise queue has no revision queue-0123456789")
	rev := &fleetv1alpha1.PromiseRevision{
		ObjectMeta: metav1.ObjectMeta{Name: "queue-0123456789"},
		Spec: fleetv1alpha1.PromiseRevisionSpec{Promise: "queue", Revision: 2, ContentHash: strings.Repeat("0123456789abcdef", 4),
			Content: testPromise("queue", "mq.example.com", "Queue").Spec.PromiseContent},
	}
	create(t, ctx, admin, rev)
	_, err = c.Upgrade(ctx, UpgradeOptions{Kind: "website", Namespace: "team-a", Name: "shop", ToRevision: "queue-0123456789"})
	wantErr(t, err, "revision queue-0123456789 belongs to promise queue, not website")
	res, err = c.Upgrade(ctx, UpgradeOptions{Kind: "queue", Namespace: "team-a", Name: "orders", ToRevision: "queue-0123456789"})
	if err != nil || !res.Changed || res.Rollout != nil || !strings.Contains(res.Summary, "takes effect when a Deadline-mode rollout to that revision runs") {
		t.Fatalf("upgrading to a named revision: %+v, %v", res, err)
	}

	// Two Promises of the same kind need the group.
	create(t, ctx, admin, testPromise("website-eu", "eu.example.com", "Website"))
	_, err = c.Upgrade(ctx, UpgradeOptions{Kind: "website", Namespace: "team-a", Name: "shop"})
	wantErr(t, err, "kind website is ambiguous: Website.eu.example.com (promise website-eu), Website.sites.example.com (promise website); give KIND.GROUP")
}
