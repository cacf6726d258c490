package membership

import (
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/kube"
	"github.com/flotilla-dev/flotilla/internal/testenv"
)

func gitJoined(name string) *Joined {
	j := testJoined(name)
	j.Cluster.Spec.Delivery = fleetv1alpha1.Delivery{Mode: fleetv1alpha1.DeliveryGit,
		Git: &fleetv1alpha1.GitDelivery{URL: "https://git.example.com/fleet.git", HealthSource: fleetv1alpha1.GitHealthAgent}}
	return j
}

// A git-delivered cluster's agent runs --report-only, bound to a read-only
// ClusterRole instead of cluster-admin.
func TestInstallManifestsReportOnly(t *testing.T) {
	manifests, err := InstallManifests(gitJoined("git-1"), InstallOptions{ExtraArgs: []string{"--heartbeat-interval=30s"}})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(manifests), "cluster-admin") {
		t.Errorf("a report-only agent's manifests mention cluster-admin:\n%s", manifests)
	}
	objs := decodeAll(t, manifests)
	var kinds []string
	for _, obj := range objs {
		kinds = append(kinds, obj.GetObjectKind().GroupVersionKind().Kind)
	}
	if want := []string{"Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Secret", "Deployment"}; !slices.Equal(kinds, want) {
		t.Fatalf("kinds = %v, want %v", kinds, want)
	}
	role := objs[2].(*rbacv1.ClusterRole)
	for _, r := range role.Rules {
		for _, v := range r.Verbs {
			if v != "get" && v != "list" && v != "watch" {
				t.Errorf("rule %+v grants %s", r, v)
			}
		}
	}
	crb := objs[3].(*rbacv1.ClusterRoleBinding)
	if crb.Name != ReportOnlyRoleName || crb.RoleRef.Name != ReportOnlyRoleName || crb.Subjects[0].Name != AgentName {
		t.Errorf("binding = %+v", crb)
	}
	args := objs[5].(*appsv1.Deployment).Spec.Template.Spec.Containers[0].Args
	if !slices.Contains(args, "--report-only") || !slices.Contains(args, "--heartbeat-interval=30s") {
		t.Errorf("args = %v", args)
	}
}

// On a real API server, the report-only agent's identity can read any
// object, Secrets included, and is refused every write.
func TestReportOnlyRoleIsReadOnly(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	admin := adminClient(t)
	const ns = "report-only-agent"
	manifests, err := InstallManifests(gitJoined("git-2"), InstallOptions{Namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	for _, obj := range decodeAll(t, manifests) {
		if _, ok := obj.(*appsv1.Deployment); ok {
			continue // no kubelet here; the RBAC is what is tested
		}
		if err := admin.Create(ctx, obj); err != nil {
			t.Fatalf("creating %s %s: %v", obj.GetObjectKind().GroupVersionKind().Kind, obj.GetName(), err)
		}
	}
	target := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "target"}, Data: map[string]string{"a": "1"}}
	if err := admin.Create(ctx, target); err != nil {
		t.Fatal(err)
	}
	cfg := rest.CopyConfig(hub.RESTConfig)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:" + ns + ":" + AgentName}
	// The authorizer's RBAC cache trails the binding just created.
	testenv.WaitAllowed(t, cfg, authorizationv1.ResourceAttributes{Resource: "configmaps", Verb: "get", Namespace: ns})
	agent, err := client.New(cfg, client.Options{Scheme: kube.NewScheme()})
	if err != nil {
		t.Fatal(err)
	}
	if err := agent.Get(ctx, client.ObjectKeyFromObject(target), &corev1.ConfigMap{}); err != nil {
		t.Errorf("get: %v", err)
	}
	if err := agent.List(ctx, &corev1.SecretList{}, client.InNamespace(ns)); err != nil {
		t.Errorf("list secrets: %v", err)
	}
	if err := agent.List(ctx, &appsv1.DeploymentList{}); err != nil {
		t.Errorf("list deployments cluster-wide: %v", err)
	}
	writes := map[string]error{
		"create": agent.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "new"}}),
		"update": agent.Update(ctx, target.DeepCopy()),
		"patch":  agent.Patch(ctx, target.DeepCopy(), client.RawPatch("application/merge-patch+json", []byte(`{"data":{"a":"2"}}`))),
		"apply": agent.Apply(ctx, client.ApplyConfigurationFromUnstructured(&unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"namespace": ns, "name": "target"}}}),
			client.FieldOwner("flotilla"), client.ForceOwnership),
		"delete": agent.Delete(ctx, target.DeepCopy()),
	}
	for verb, err := range writes {
		if !apierrors.IsForbidden(err) {
			t.Errorf("%s: %v, want Forbidden", verb, err)
		}
	}
}
