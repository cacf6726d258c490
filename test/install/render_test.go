package install

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/config/crd"
	"github.com/flotilla-dev/flotilla/internal/membership"
)

// hubImage is the image both the kustomization and the chart run.
const hubImage = "ghcr.io/flotilla-dev/flotilla:v0.1.0"

func TestHubKustomization(t *testing.T) {
	objs := kustomize(t, hubDir)

	// Every CRD of the API, and what the hub needs around it.
	crds, err := crd.CRDs()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"ClusterRole//flotilla-hub", "ClusterRole//flotilla-hub-instances",
		"ClusterRoleBinding//flotilla-hub", "ClusterRoleBinding//flotilla-hub-instances",
		"Deployment/flotilla-system/flotilla-hub", "Namespace//flotilla-system",
		"Role/flotilla-system/flotilla-hub", "RoleBinding/flotilla-system/flotilla-hub",
		"Service/flotilla-system/flotilla-hub-metrics", "ServiceAccount/flotilla-system/flotilla-hub",
		"ValidatingAdmissionPolicy//flotilla-promise-api", "ValidatingAdmissionPolicyBinding//flotilla-promise-api",
		"ValidatingAdmissionPolicy//flotilla-team-overrides", "ValidatingAdmissionPolicyBinding//flotilla-team-overrides",
		"ValidatingAdmissionPolicy//flotilla-rollout-actors", "ValidatingAdmissionPolicyBinding//flotilla-rollout-actors",
		"ValidatingAdmissionPolicy//flotilla-freeze-actors", "ValidatingAdmissionPolicyBinding//flotilla-freeze-actors",
		"ValidatingAdmissionPolicy//flotilla-driftexception-actors", "ValidatingAdmissionPolicyBinding//flotilla-driftexception-actors",
		"ValidatingAdmissionPolicy//flotilla-driftexception-lifetime", "ValidatingAdmissionPolicyBinding//flotilla-driftexception-lifetime",
		"ValidatingAdmissionPolicy//flotilla-promise-crds", "ValidatingAdmissionPolicyBinding//flotilla-promise-crds",
		"ValidatingAdmissionPolicy//flotilla-promise-deletion", "ValidatingAdmissionPolicyBinding//flotilla-promise-deletion",
		"ValidatingAdmissionPolicy//flotilla-rollout-deletion", "ValidatingAdmissionPolicyBinding//flotilla-rollout-deletion",
		"ValidatingAdmissionPolicy//flotilla-revision-deletion", "ValidatingAdmissionPolicyBinding//flotilla-revision-deletion",
		"ValidatingAdmissionPolicy//flotilla-cluster-namespaces", "ValidatingAdmissionPolicyBinding//flotilla-cluster-namespaces",
		"ValidatingAdmissionPolicy//flotilla-unjoined-clusters", "ValidatingAdmissionPolicyBinding//flotilla-unjoined-clusters",
	}
	for _, c := range crds {
		want = append(want, "CustomResourceDefinition//"+c.Name)
	}
	slices.Sort(want)
	if got := ids(objs); !slices.Equal(got, want) {
		t.Errorf("objects:\n got %v\nwant %v", got, want)
	}
	// config/crd/kustomization.yaml lists every generated CRD, once.
	listed := kustomize(t, crdDir)
	if len(listed) != len(crds) {
		t.Errorf("config/crd/kustomization.yaml lists %d CRDs, config/crd/bases holds %d", len(listed), len(crds))
	}

	d := typed(t, find(t, objs, "Deployment", "flotilla-hub"), &appsv1.Deployment{})
	checkHubDeployment(t, d)
	svc := typed(t, find(t, objs, "Service", "flotilla-hub-metrics"), &corev1.Service{})
	for k, v := range svc.Spec.Selector {
		if d.Spec.Template.Labels[k] != v {
			t.Errorf("the metrics Service selects %s=%s, the hub's pods are labelled %v", k, v, d.Spec.Template.Labels)
		}
	}
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].TargetPort.StrVal != "metrics" {
		t.Errorf("metrics Service ports = %+v", svc.Spec.Ports)
	}
	checkLeastPrivilegeRules(t, objs)
}

// checkHubDeployment checks what the issue asks of the hub's Deployment.
func checkHubDeployment(t *testing.T, d *appsv1.Deployment) {
	t.Helper()
	pod := d.Spec.Template.Spec
	if len(pod.Containers) != 1 {
		t.Fatalf("containers = %d", len(pod.Containers))
	}
	c := pod.Containers[0]
	if c.Image != hubImage {
		t.Errorf("image = %s, want %s", c.Image, hubImage)
	}
	if pod.ServiceAccountName != "flotilla-hub" {
		t.Errorf("service account = %q", pod.ServiceAccountName)
	}
	args := strings.Join(c.Args, " ")
	for _, a := range []string{"hub ", "--leader-elect=true", "--metrics-bind-address=:8080", "--health-probe-bind-address=:8081"} {
		if !strings.Contains(args, a) {
			t.Errorf("args %q lack %q", args, a)
		}
	}
	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	if ports["metrics"] != 8080 || ports["health"] != 8081 {
		t.Errorf("ports = %v", ports)
	}
	if c.LivenessProbe == nil || c.LivenessProbe.HTTPGet.Path != "/healthz" || c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz" {
		t.Errorf("probes: liveness %+v readiness %+v", c.LivenessProbe, c.ReadinessProbe)
	}
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Errorf("resources = %+v", c.Resources)
	}
	psc, sc := pod.SecurityContext, c.SecurityContext
	if psc == nil || sc == nil {
		t.Fatal("no security context")
	}
	if psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser == 0 {
		t.Errorf("pod runs as root: %+v", psc)
	}
	if psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("seccomp profile = %+v", psc.SeccompProfile)
	}
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
		sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) > 0 {
		t.Errorf("container security context = %+v", sc)
	}
	// Leader election hands over during a rolling update: never two pods down.
	if d.Spec.Strategy.RollingUpdate == nil || d.Spec.Strategy.RollingUpdate.MaxUnavailable.IntValue() != 0 {
		t.Errorf("strategy = %+v", d.Spec.Strategy)
	}
}

// checkLeastPrivilegeRules checks the hub's roles for rights it must never hold.
func checkLeastPrivilegeRules(t *testing.T, objs []*unstructured.Unstructured) {
	t.Helper()
	never := map[string][]string{
		"":                          {"secrets", "pods", "serviceaccounts", "serviceaccounts/token", "nodes"},
		"rbac.authorization.k8s.io": {"roles", "rolebindings", "clusterroles", "clusterrolebindings"},
		"apps":                      {"deployments", "daemonsets", "statefulsets"},
		"authentication.k8s.io":     {"tokenreviews"},
	}
	for _, name := range []string{"flotilla-hub", "flotilla-hub-instances"} {
		role := typed(t, find(t, objs, "ClusterRole", name), &rbacv1.ClusterRole{})
		for _, r := range role.Rules {
			for _, v := range r.Verbs {
				if v == "*" || v == "escalate" || v == "bind" || v == "impersonate" {
					t.Errorf("ClusterRole %s grants %q: %+v", name, v, r)
				}
			}
			for _, g := range r.APIGroups {
				if g == "*" {
					t.Errorf("ClusterRole %s grants every API group: %+v", name, r)
				}
				for _, res := range r.Resources {
					if res == "*" && (g == "" || strings.HasSuffix(g, ".k8s.io") || !strings.Contains(g, ".")) {
						t.Errorf("ClusterRole %s grants every resource of the built-in group %q", name, g)
					}
					if slices.Contains(never[g], res) {
						t.Errorf("ClusterRole %s grants %v on %s cluster-wide", name, r.Verbs, res)
					}
				}
			}
		}
	}
	// Secrets: read only, only in the platform namespace.
	role := typed(t, find(t, objs, "Role", "flotilla-hub"), &rbacv1.Role{})
	if role.Namespace != platformNamespace {
		t.Errorf("the hub's Role is in %q", role.Namespace)
	}
	for _, r := range role.Rules {
		if slices.Contains(r.Resources, "secrets") && !slices.Equal(r.Verbs, []string{"get"}) {
			t.Errorf("secrets: %v, want get only", r.Verbs)
		}
	}
}

// TestChartMatchesKustomize: the chart with its default values renders the
// same objects as config/hub (but the Namespace, which `helm install
// --create-namespace` creates), the same in everything but Helm's labels.
func TestChartMatchesKustomize(t *testing.T) {
	kust := without(kustomize(t, hubDir), "Namespace")
	chart := mustHelmTemplate(t, nil)
	if a, b := ids(chart), ids(kust); !slices.Equal(a, b) {
		t.Fatalf("objects differ:\n chart %v\n kustomize %v", a, b)
	}
	byID := map[string]*unstructured.Unstructured{}
	for _, o := range kust {
		byID[id(o)] = o
	}
	for _, c := range chart {
		k := byID[id(c)]
		a, b := substance(c), substance(k)
		if !equality.Semantic.DeepEqual(a, b) {
			t.Errorf("%s differs:\n chart     %v\n kustomize %v", id(c), a, b)
		}
	}
	// A CRD change lands in both: crds/ is a copy of config/crd/bases (make generate).
	bases, err := filepath.Glob(filepath.Join(crdDir, "bases", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	copies, _ := filepath.Glob(filepath.Join(chartDir, "crds", "*.yaml"))
	if len(copies) != len(bases) {
		t.Errorf("charts/flotilla/crds holds %d files, config/crd/bases %d: run make generate", len(copies), len(bases))
	}
	for _, b := range bases {
		if c, err := os.ReadFile(filepath.Join(chartDir, "crds", filepath.Base(b))); err != nil || !bytes.Equal(c, readFile(t, b)) {
			t.Errorf("charts/flotilla/crds/%s is not a copy of config/crd/bases: run make generate", filepath.Base(b))
		}
	}
}

// substance is an object without what Helm adds (its labels) and without
// what means nothing to the API server (key order; comments are gone already).
func substance(u *unstructured.Unstructured) map[string]any {
	c := u.DeepCopy()
	strip := func(labels map[string]string) map[string]string {
		for _, k := range []string{"app.kubernetes.io/instance", "app.kubernetes.io/managed-by", "helm.sh/chart"} {
			delete(labels, k)
		}
		return labels
	}
	if l := strip(c.GetLabels()); len(l) > 0 {
		c.SetLabels(l)
	} else {
		unstructured.RemoveNestedField(c.Object, "metadata", "labels")
	}
	if l, ok, _ := unstructured.NestedStringMap(c.Object, "spec", "template", "metadata", "labels"); ok {
		_ = unstructured.SetNestedStringMap(c.Object, strip(l), "spec", "template", "metadata", "labels")
	}
	return c.Object
}

// TestChartValues: values change what they say and nothing else.
func TestChartValues(t *testing.T) {
	objs := mustHelmTemplate(t, map[string]any{
		"image":              map[string]any{"repository": "registry.example/flotilla", "tag": "v9.9.9", "pullPolicy": "Always"},
		"replicas":           1,
		"leaderElection":     false,
		"installCRDs":        false,
		"metrics":            map[string]any{"enabled": false},
		"resources":          map[string]any{"requests": map[string]any{"cpu": "1", "memory": "2Gi"}},
		"instanceAPIGroups":  []any{"db.example.com", "web.example.com"},
		"promiseAPIPolicy":   false,
		"teamOverridePolicy": false,
		"actorsPolicy":       false,
	})
	d := typed(t, find(t, objs, "Deployment", "flotilla-hub"), &appsv1.Deployment{})
	c := d.Spec.Template.Spec.Containers[0]
	if c.Image != "registry.example/flotilla:v9.9.9" || c.ImagePullPolicy != corev1.PullAlways || *d.Spec.Replicas != 1 {
		t.Errorf("image %s (%s), replicas %d", c.Image, c.ImagePullPolicy, *d.Spec.Replicas)
	}
	args := strings.Join(c.Args, " ")
	for _, a := range []string{"--leader-elect=false", "--install-crds=false", "--metrics-bind-address=0"} {
		if !strings.Contains(args, a) {
			t.Errorf("args %q lack %q", args, a)
		}
	}
	// Helm merges maps: the default memory limit stays unless set to null.
	if c.Resources.Requests.Memory().String() != "2Gi" || c.Resources.Limits.Memory().String() != "1Gi" {
		t.Errorf("resources = %+v", c.Resources)
	}
	for _, p := range c.Ports {
		if p.Name == "metrics" {
			t.Error("metrics port with metrics disabled")
		}
	}
	for _, o := range objs {
		if k := o.GetKind(); k == "Service" || strings.HasPrefix(k, "ValidatingAdmissionPolicy") {
			t.Errorf("%s rendered although disabled", id(o))
		}
	}
	instances := typed(t, find(t, objs, "ClusterRole", "flotilla-hub-instances"), &rbacv1.ClusterRole{})
	if len(instances.Rules) != 1 || !slices.Equal(instances.Rules[0].APIGroups, []string{"db.example.com", "web.example.com"}) {
		t.Errorf("instance rules = %+v", instances.Rules)
	}
	role := typed(t, find(t, objs, "Role", "flotilla-hub"), &rbacv1.Role{})
	for _, r := range role.Rules {
		if slices.Contains(r.Resources, "leases") {
			t.Errorf("lease rights without leader election: %+v", r)
		}
	}

	none := mustHelmTemplate(t, map[string]any{"instanceAPIGroups": []any{}})
	if r := typed(t, find(t, none, "ClusterRole", "flotilla-hub-instances"), &rbacv1.ClusterRole{}); len(r.Rules) != 0 {
		t.Errorf("no instance groups, rules %+v", r.Rules)
	}

	// Several replicas elect a leader, or the chart refuses them.
	ha := typed(t, find(t, mustHelmTemplate(t, map[string]any{"replicas": 2}), "Deployment", "flotilla-hub"), &appsv1.Deployment{})
	if *ha.Spec.Replicas != 2 || !slices.Contains(ha.Spec.Template.Spec.Containers[0].Args, "--leader-elect=true") {
		t.Errorf("two replicas: replicas %d, args %v", *ha.Spec.Replicas, ha.Spec.Template.Spec.Containers[0].Args)
	}
	if _, err := helmTemplate(platformNamespace, map[string]any{"replicas": 2, "leaderElection": false}); err == nil ||
		!strings.Contains(err.Error(), "leaderElection") {
		t.Errorf("two replicas without leader election: %v, want a refusal", err)
	}

	// The longest a team's DriftException may last is the lifetime policy's parameter.
	limits := typed(t, find(t, mustHelmTemplate(t, map[string]any{"driftExceptionMaxAge": "2160h"}), "ConfigMap", "flotilla-drift-exceptions"), &corev1.ConfigMap{})
	if limits.Namespace != platformNamespace || limits.Data["maxAge"] != "2160h" {
		t.Errorf("driftExceptionMaxAge 2160h: ConfigMap %s/%s data %v", limits.Namespace, limits.Name, limits.Data)
	}
	if _, err := helmTemplate(platformNamespace, map[string]any{"driftExceptionMaxAge": "90d"}); err == nil ||
		!strings.Contains(err.Error(), "not a duration in hours and minutes") {
		t.Errorf("driftExceptionMaxAge 90d: %v, want a refusal", err)
	}

	if _, err := helmTemplate("flotilla", nil); err == nil || !strings.Contains(err.Error(), "flotilla-system") {
		t.Errorf("installing into another namespace: %v, want a refusal naming flotilla-system", err)
	}
}

// TestAgentBaseMatchesJoin: config/agent with an overlay for one member
// installs what `flotilla join -o yaml` renders for it.
func TestAgentBaseMatchesJoin(t *testing.T) {
	const cluster = "edge-1"
	kubeconfig := readFile(t, filepath.Join(agentOverlay, "hub.kubeconfig"))
	rendered, err := membership.InstallManifests(&membership.Joined{
		Cluster:       &fleetv1alpha1.Cluster{ObjectMeta: metav1.ObjectMeta{Name: cluster}},
		Namespace:     fleetv1alpha1.ClusterNamespace(cluster),
		HubKubeconfig: kubeconfig,
	}, membership.InstallOptions{Image: "ghcr.io/flotilla-dev/flotilla-agent:v0.1.0"})
	if err != nil {
		t.Fatal(err)
	}
	joined, err := decodeYAML(rendered)
	if err != nil {
		t.Fatal(err)
	}
	overlay := kustomize(t, agentOverlay)

	// The same objects, but the generated ConfigMap and Secret carry a hash
	// suffix (it restarts the agent when they change, as join's
	// kubeconfig-hash annotation does).
	cm := typed(t, findPrefix(t, overlay, "ConfigMap", "flotilla-agent-"), &corev1.ConfigMap{})
	secret := typed(t, findPrefix(t, overlay, "Secret", membership.HubKubeconfigSecret+"-"), &corev1.Secret{})
	if cm.Data["cluster"] != cluster || !bytes.Equal(secret.Data[membership.HubKubeconfigKey], kubeconfig) {
		t.Errorf("overlay inputs: cluster %q, kubeconfig %q", cm.Data["cluster"], secret.Data[membership.HubKubeconfigKey])
	}
	want := ids(without(joined, "Secret"))
	if got := ids(without(overlay, "Secret", "ConfigMap")); !slices.Equal(got, want) {
		t.Fatalf("objects:\n overlay %v\n join    %v", got, want)
	}
	for _, kind := range []string{"Namespace", "ServiceAccount"} {
		a, b := find(t, overlay, kind, nameOf(joined, kind)), find(t, joined, kind, nameOf(joined, kind))
		if !equality.Semantic.DeepEqual(a.GetLabels(), b.GetLabels()) {
			t.Errorf("%s labels: overlay %v, join %v", kind, a.GetLabels(), b.GetLabels())
		}
	}
	crbO := typed(t, find(t, overlay, "ClusterRoleBinding", membership.AgentName), &rbacv1.ClusterRoleBinding{})
	crbJ := typed(t, find(t, joined, "ClusterRoleBinding", membership.AgentName), &rbacv1.ClusterRoleBinding{})
	if !equality.Semantic.DeepEqual(crbO.RoleRef, crbJ.RoleRef) || !equality.Semantic.DeepEqual(crbO.Subjects, crbJ.Subjects) {
		t.Errorf("ClusterRoleBinding: overlay %+v %+v, join %+v %+v", crbO.RoleRef, crbO.Subjects, crbJ.RoleRef, crbJ.Subjects)
	}

	dO := typed(t, find(t, overlay, "Deployment", membership.AgentName), &appsv1.Deployment{})
	dJ := typed(t, find(t, joined, "Deployment", membership.AgentName), &appsv1.Deployment{})
	// The base takes the cluster name from the ConfigMap; resolved, it is join's pod.
	pod := dO.Spec.Template.Spec.DeepCopy()
	c := &pod.Containers[0]
	if len(c.Env) != 1 || c.Env[0].ValueFrom == nil || c.Env[0].ValueFrom.ConfigMapKeyRef == nil ||
		c.Env[0].ValueFrom.ConfigMapKeyRef.Name != cm.Name || c.Env[0].ValueFrom.ConfigMapKeyRef.Key != "cluster" {
		t.Fatalf("env = %+v", c.Env)
	}
	for i, a := range c.Args {
		c.Args[i] = strings.ReplaceAll(a, "$("+c.Env[0].Name+")", cm.Data["cluster"])
	}
	c.Env = nil
	for i := range pod.Volumes {
		if s := pod.Volumes[i].Secret; s != nil {
			if s.SecretName != secret.Name {
				t.Errorf("volume %s mounts Secret %s, the overlay generated %s", pod.Volumes[i].Name, s.SecretName, secret.Name)
			}
			s.SecretName = membership.HubKubeconfigSecret
		}
	}
	if !equality.Semantic.DeepEqual(*pod, dJ.Spec.Template.Spec) {
		t.Errorf("agent pod spec differs:\n overlay %+v\n join    %+v", *pod, dJ.Spec.Template.Spec)
	}
	if !equality.Semantic.DeepEqual(dO.Spec.Strategy, dJ.Spec.Strategy) || !equality.Semantic.DeepEqual(dO.Spec.Selector, dJ.Spec.Selector) ||
		*dO.Spec.Replicas != *dJ.Spec.Replicas || !equality.Semantic.DeepEqual(dO.Spec.Template.Labels, dJ.Spec.Template.Labels) ||
		!equality.Semantic.DeepEqual(dO.Labels, dJ.Labels) {
		t.Errorf("agent Deployment differs:\n overlay %+v %+v\n join    %+v %+v", dO.Labels, dO.Spec, dJ.Labels, dJ.Spec)
	}
}

func findPrefix(tb testing.TB, objs []*unstructured.Unstructured, kind, prefix string) *unstructured.Unstructured {
	tb.Helper()
	for _, o := range objs {
		if o.GetKind() == kind && strings.HasPrefix(o.GetName(), prefix) {
			return o
		}
	}
	tb.Fatalf("no %s named %s…", kind, prefix)
	return nil
}

func nameOf(objs []*unstructured.Unstructured, kind string) string {
	for _, o := range objs {
		if o.GetKind() == kind {
			return o.GetName()
		}
	}
	return ""
}
