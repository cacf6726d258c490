package demo

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

func TestAssetsDecode(t *testing.T) {
	want := map[string][]string{
		fleetAsset:     {"Namespace/team-a", "Namespace/team-b", "Fleet/demo", "RolloutStrategy/" + strategyName},
		promiseAsset:   {"Promise/" + promiseName},
		instancesAsset: {"Web/storefront", "Web/checkout"},
	}
	for name, kinds := range want {
		objs, err := decodeAsset(name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var got []string
		for _, o := range objs {
			got = append(got, o.GetKind()+"/"+o.GetName())
		}
		if strings.Join(got, " ") != strings.Join(kinds, " ") {
			t.Errorf("%s holds %v, want %v", name, got, kinds)
		}
	}
}

func TestDecodeYAMLRefusesObjectsWithoutKind(t *testing.T) {
	if _, err := decodeYAML("x.yaml", []byte("# only a comment\n---\nmetadata: {name: a}\n")); err == nil ||
		!strings.Contains(err.Error(), "document 2 of x.yaml") {
		t.Errorf("error %v, want one naming document 2", err)
	}
	if _, err := decodeYAML("x.yaml", []byte("a: [\n")); err == nil {
		t.Error("invalid YAML decoded")
	}
}

// promise.yaml runs firstImage once, and the story's two changes apply to it.
func TestSetImageOnTheDemoPromise(t *testing.T) {
	objs, err := decodeAsset(promiseAsset)
	if err != nil {
		t.Fatal(err)
	}
	p := &fleetv1alpha1.Promise{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(objs[0].Object, p); err != nil {
		t.Fatal(err)
	}
	if p.Spec.StrategyRef == nil || p.Spec.StrategyRef.Name != strategyName {
		t.Errorf("promise strategyRef %+v, want %s", p.Spec.StrategyRef, strategyName)
	}
	if err := setImage(p, firstImage, goodImage); err != nil {
		t.Fatal(err)
	}
	if err := setImage(p, goodImage, badImage); err != nil {
		t.Fatal(err)
	}
	if all := templates(p); !strings.Contains(all, "image: "+badImage+"\n") || strings.Contains(all, goodImage) {
		t.Errorf("templates after both changes:\n%s", all)
	}
	if err := setImage(p, firstImage, goodImage); err == nil || !strings.Contains(err.Error(), "0 times") {
		t.Errorf("changing an image the promise does not run: %v", err)
	}
	if err := setImage(&fleetv1alpha1.Promise{}, firstImage, goodImage); err == nil {
		t.Error("a promise without templates was changed")
	}
}

func templates(p *fleetv1alpha1.Promise) string {
	var b strings.Builder
	for _, t := range p.Spec.Templates.GoTemplates {
		b.WriteString(t.Template)
	}
	return b.String()
}

func TestWriteAssets(t *testing.T) {
	dir := t.TempDir()
	if err := writeAssets(dir); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{fleetAsset, promiseAsset, instancesAsset} {
		got, err := os.ReadFile(filepath.Join(dir, manifestsDir, name))
		if err != nil {
			t.Fatal(err)
		}
		want, err := asset(name)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Errorf("%s differs from the embedded one", name)
		}
	}
}

func TestDeploymentReady(t *testing.T) {
	two := int32(2)
	dep := func(change func(*appsv1.Deployment)) *appsv1.Deployment {
		d := &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Generation: 3},
			Spec:       appsv1.DeploymentSpec{Replicas: &two},
			Status:     appsv1.DeploymentStatus{ObservedGeneration: 3, Replicas: 2, UpdatedReplicas: 2, AvailableReplicas: 2},
		}
		change(d)
		return d
	}
	for _, tc := range []struct {
		name   string
		change func(*appsv1.Deployment)
		want   bool
	}{
		{"rolled out", func(*appsv1.Deployment) {}, true},
		{"new spec not seen", func(d *appsv1.Deployment) { d.Status.ObservedGeneration = 2 }, false},
		{"updating", func(d *appsv1.Deployment) { d.Status.UpdatedReplicas = 1 }, false},
		{"old pod left", func(d *appsv1.Deployment) { d.Status.Replicas = 3 }, false},
		{"unavailable", func(d *appsv1.Deployment) { d.Status.AvailableReplicas = 1 }, false},
		{"default replicas", func(d *appsv1.Deployment) {
			d.Spec.Replicas = nil
			d.Status.Replicas, d.Status.UpdatedReplicas, d.Status.AvailableReplicas = 1, 1, 1
		}, true},
	} {
		if got := deploymentReady(dep(tc.change)); got != tc.want {
			t.Errorf("%s: ready = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestPodProblem(t *testing.T) {
	pod := func(image, reason string) corev1.Pod {
		cs := corev1.ContainerStatus{Image: image}
		if reason != "" {
			cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: reason}
		} else {
			cs.State.Running = &corev1.ContainerStateRunning{}
		}
		return corev1.Pod{Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{cs}}}
	}
	pods := []corev1.Pod{pod(goodImage, ""), pod(goodImage, "ContainerCreating"), pod(badImage, "ImagePullBackOff")}
	if got := podProblem(pods, badImage); got != "ImagePullBackOff" {
		t.Errorf("problem of %s = %q", badImage, got)
	}
	if got := podProblem(pods[:1], goodImage); got != "" {
		t.Errorf("running pods have problem %q", got)
	}
}
