package membership

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/kube"
)

func testJoined(name string) *Joined {
	return &Joined{
		Cluster:       &fleetv1alpha1.Cluster{ObjectMeta: metav1.ObjectMeta{Name: name}},
		Namespace:     fleetv1alpha1.ClusterNamespace(name),
		HubKubeconfig: []byte("apiVersion: v1\nkind: Config\n"),
		TokenExpiry:   time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC),
	}
}

// decodeAll decodes every document of a multi-document YAML strictly into typed objects.
func decodeAll(t *testing.T, manifests []byte) []client.Object {
	t.Helper()
	decoder := serializer.NewCodecFactory(kube.NewScheme(), serializer.EnableStrict).UniversalDeserializer()
	var objs []client.Object
	for doc := range strings.SplitSeq(string(manifests), "---\n") {
		if strings.TrimSpace(doc) == "" {
			continue
		}
		obj, _, err := decoder.Decode([]byte(doc), nil, nil)
		if err != nil {
			t.Fatalf("decoding %q: %v", doc, err)
		}
		objs = append(objs, obj.(client.Object))
	}
	return objs
}

func TestInstallManifests(t *testing.T) {
	joined := testJoined("edge-1")
	manifests, err := InstallManifests(joined, InstallOptions{Image: "registry.example/flotilla:v1", ExtraArgs: []string{"--heartbeat-interval=30s"}})
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(manifests, []byte("creationTimestamp")) || bytes.Contains(manifests, []byte("status:")) {
		t.Errorf("manifests carry zero-valued fields:\n%s", manifests)
	}
	objs := decodeAll(t, manifests)
	var kinds []string
	for _, obj := range objs {
		kinds = append(kinds, obj.GetObjectKind().GroupVersionKind().Kind)
		if obj.GetLabels()[fleetv1alpha1.LabelCluster] != "edge-1" {
			t.Errorf("%s %s is not labelled with its cluster", obj.GetObjectKind().GroupVersionKind().Kind, obj.GetName())
		}
	}
	if want := []string{"Namespace", "ServiceAccount", "ClusterRoleBinding", "Secret", "Deployment"}; !slices.Equal(kinds, want) {
		t.Fatalf("kinds = %v, want %v", kinds, want)
	}

	crb := objs[2].(*rbacv1.ClusterRoleBinding)
	if crb.RoleRef.Name != "cluster-admin" || crb.Subjects[0].Namespace != DefaultMemberNamespace || crb.Subjects[0].Name != AgentName {
		t.Errorf("cluster role binding = %+v", crb)
	}
	secret := objs[3].(*corev1.Secret)
	if !bytes.Equal(secret.Data[HubKubeconfigKey], joined.HubKubeconfig) || secret.Annotations[annotationTokenExpiry] != "2026-11-22T12:00:00Z" {
		t.Errorf("secret = %+v", secret)
	}

	d := objs[4].(*appsv1.Deployment)
	pod := d.Spec.Template.Spec
	c := pod.Containers[0]
	args := strings.Join(c.Args, " ")
	for _, want := range []string{"agent --cluster edge-1 ", "--hub-kubeconfig /etc/flotilla/hub/kubeconfig", "--state-dir /var/lib/flotilla", "--claim-namespace flotilla-system", "--heartbeat-interval=30s"} {
		if !strings.Contains(args, want) {
			t.Errorf("args %q lack %q", args, want)
		}
	}
	if c.Image != "registry.example/flotilla:v1" || pod.ServiceAccountName != AgentName || d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
		t.Errorf("image %s, service account %s, strategy %s", c.Image, pod.ServiceAccountName, d.Spec.Strategy.Type)
	}
	if c.LivenessProbe.HTTPGet.Path != "/healthz" || c.ReadinessProbe.HTTPGet.Path != "/readyz" {
		t.Errorf("probes: %+v %+v", c.LivenessProbe, c.ReadinessProbe)
	}
	if c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() || c.Resources.Requests.Cpu().IsZero() {
		t.Errorf("resources = %+v", c.Resources)
	}
	if !*pod.SecurityContext.RunAsNonRoot || *pod.SecurityContext.RunAsUser == 0 || *c.SecurityContext.AllowPrivilegeEscalation || !*c.SecurityContext.ReadOnlyRootFilesystem {
		t.Errorf("security context: pod %+v container %+v", pod.SecurityContext, c.SecurityContext)
	}
	if v := volume(pod, "state"); v == nil || v.EmptyDir == nil {
		t.Errorf("state volume = %+v, want emptyDir", v)
	}
	if v := volume(pod, "hub-kubeconfig"); v == nil || v.Secret == nil || v.Secret.SecretName != HubKubeconfigSecret {
		t.Errorf("hub kubeconfig volume = %+v", v)
	}

	// A new token rolls the agent; the same one does not.
	again, _ := InstallManifests(joined, InstallOptions{Image: "registry.example/flotilla:v1", ExtraArgs: []string{"--heartbeat-interval=30s"}})
	if !bytes.Equal(again, manifests) {
		t.Error("manifests are not deterministic")
	}
	rotated := testJoined("edge-1")
	rotated.HubKubeconfig = []byte("apiVersion: v1\nkind: Config\n# new token\n")
	other, _ := InstallManifests(rotated, InstallOptions{})
	d2 := decodeAll(t, other)[4].(*appsv1.Deployment)
	if d2.Spec.Template.Annotations[annotationKubeconfigHash] == d.Spec.Template.Annotations[annotationKubeconfigHash] {
		t.Error("a new hub kubeconfig does not change the pod template")
	}
}

func volume(pod corev1.PodSpec, name string) *corev1.Volume {
	for i := range pod.Volumes {
		if pod.Volumes[i].Name == name {
			return &pod.Volumes[i]
		}
	}
	return nil
}

func TestInstallManifestsOptions(t *testing.T) {
	manifests, err := InstallManifests(testJoined("edge-2"), InstallOptions{Namespace: "fleet-agent", StateVolume: StateVolumeHostPath, HostPath: "/data/flotilla"})
	if err != nil {
		t.Fatal(err)
	}
	objs := decodeAll(t, manifests)
	if objs[0].GetName() != "fleet-agent" || objs[4].GetNamespace() != "fleet-agent" {
		t.Errorf("namespace not applied: %s, %s", objs[0].GetName(), objs[4].GetNamespace())
	}
	pod := objs[4].(*appsv1.Deployment).Spec.Template.Spec
	if v := volume(pod, "state"); v == nil || v.HostPath == nil || v.HostPath.Path != "/data/flotilla" {
		t.Errorf("state volume = %+v", v)
	}
	if c := pod.Containers[0]; c.Image != DefaultImage() {
		t.Errorf("image = %s, want %s", c.Image, DefaultImage())
	}

	for _, bad := range []struct {
		joined *Joined
		opts   InstallOptions
		want   string
	}{
		{nil, InstallOptions{}, "joined cluster"},
		{&Joined{Cluster: &fleetv1alpha1.Cluster{ObjectMeta: metav1.ObjectMeta{Name: "x"}}}, InstallOptions{}, "hub kubeconfig"},
		{testJoined("x"), InstallOptions{StateVolume: "pvc"}, `state volume "pvc"`},
		{testJoined("x"), InstallOptions{Namespace: "Not_A_Namespace"}, "namespace"},
		{testJoined("x"), InstallOptions{StateVolume: StateVolumeHostPath, HostPath: "relative"}, "must be absolute"},
	} {
		if _, err := InstallManifests(bad.joined, bad.opts); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("InstallManifests(%+v) error = %v, want %q", bad.opts, err, bad.want)
		}
	}
}

// The API server accepts every object of the install manifests (a dry run:
// the hub's apiserver validates built-in kinds exactly as a member's would).
func TestInstallManifestsPassServerValidation(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	admin := adminClient(t)
	manifests, err := InstallManifests(testJoined("edge-3"), InstallOptions{Namespace: "dry-run-agent"})
	if err != nil {
		t.Fatal(err)
	}
	for i, obj := range decodeAll(t, manifests) {
		opts := []client.CreateOption{client.DryRunAll}
		if i == 0 {
			opts = nil // the namespace for real, so the namespaced objects can be dry-run into it
		}
		if err := admin.Create(ctx, obj, opts...); err != nil {
			t.Errorf("creating %s %s: %v", obj.GetObjectKind().GroupVersionKind().Kind, obj.GetName(), err)
		}
	}
}
