package agent

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// The platform's fleet resources install a CRD; a team's objects of its
// kind live in the team's namespace, each owned by another of the team's
// objects (as cert-manager's ingress-shim owns a Certificate by its
// Ingress). The platform then takes the CRD out of the fleet resources.
// Before the fix prune, which keeps a CRD while objects the Work did not
// create exist of its kind, did not count objects with an owner ("they go
// with their owner"), so it deleted the CRD and with it the team's
// objects, whose owners stayed. Deleting a CRD deletes every object of its
// kind, owned or not: they count.
func TestACRDIsNotPrunedOverOwnedObjectsOfOthers(t *testing.T) {
	e := newEnv(t)
	const cluster, teamNS = "crd-owned", "crd-owned-team"
	hubCreds := e.join(t, cluster)
	e.startAgent(t, hubCreds, testOptions(t, cluster))

	crd := map[string]any{
		"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
		"metadata": map[string]any{"name": "certs.test.flotilla.dev"},
		"spec": map[string]any{
			"group": "test.flotilla.dev",
			"names": map[string]any{"kind": "Cert", "plural": "certs", "singular": "cert", "listKind": "CertList"},
			"scope": "Namespaced",
			"versions": []any{map[string]any{
				"name": "v1", "served": true, "storage": true,
				"schema": map[string]any{"openAPIV3Schema": map[string]any{
					"type": "object", "x-kubernetes-preserve-unknown-fields": true,
				}},
			}},
		},
	}
	w := work(cluster, "platform", crd)
	mustf(t, e.hubClient.Create(e.ctx, w), "creating work")
	e.waitWorkReady(t, cluster, "platform", 60*time.Second)

	// The team's Cert, owned by the team's ConfigMap.
	_, err := e.memberKube.CoreV1().Namespaces().Create(e.ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: teamNS}}, metav1.CreateOptions{})
	mustf(t, err, "creating namespace")
	owner, err := e.memberKube.CoreV1().ConfigMaps(teamNS).Create(e.ctx,
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "ingress"}}, metav1.CreateOptions{})
	mustf(t, err, "creating owner")
	certs := e.memberDynamic.Resource(schema.GroupVersionResource{Group: "test.flotilla.dev", Version: "v1", Resource: "certs"}).Namespace(teamNS)
	cert := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "test.flotilla.dev/v1", "kind": "Cert",
		"metadata": map[string]any{"name": "shop-tls"}, "spec": map[string]any{"dnsName": "shop.example.com"}}}
	cert.SetOwnerReferences([]metav1.OwnerReference{{APIVersion: "v1", Kind: "ConfigMap", Name: owner.Name, UID: owner.UID}})
	_, err = certs.Create(e.ctx, cert, metav1.CreateOptions{})
	mustf(t, err, "creating the team's cert")

	e.updateWork(t, w, func(w *fleetv1alpha1.Work) { setManifests(w) })
	waitFor(t, 60*time.Second, "the CRD left in place", func() (bool, string) {
		got, err := e.getWork(t, cluster, "platform")
		if err != nil {
			return false, err.Error()
		}
		r := findResource(got, "CustomResourceDefinition", "certs.test.flotilla.dev", fleetv1alpha1.ApplyResultSkipped)
		return got.Status.ObservedGeneration == got.Generation && r != nil &&
			strings.Contains(r.Message, "Cert/"+teamNS+"/shop-tls"), describeStatus(got)
	})
	if _, err := certs.Get(e.ctx, "shop-tls", metav1.GetOptions{}); err != nil {
		t.Errorf("the team's cert: %v", err)
	}
	if _, err := e.memberDynamic.Resource(schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1",
		Resource: "customresourcedefinitions"}).Get(e.ctx, "certs.test.flotilla.dev", metav1.GetOptions{}); apierrors.IsNotFound(err) {
		t.Error("the CRD was deleted")
	}
}
