package drift

import (
	"os"
	"path/filepath"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"
)

// What a report-only agent does for each live object that carries its
// Work's rendered hash, at each look: decode the manifest, work out its
// stored form, compare (judgeLive in internal/agent). The manifest is the
// Deployment the live object of testdata was applied from.
func BenchmarkCompareDeployment(b *testing.B) {
	manifest := []byte(`{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","namespace":"shop",` +
		`"labels":{"app":"web"}},"spec":{"replicas":3,"selector":{"matchLabels":{"app":"web"}},"template":{"metadata":` +
		`{"labels":{"app":"web"}},"spec":{"containers":[{"name":"app","image":"nginx:1.27","ports":[{"containerPort":8080}]}]}}}}`)
	data, err := os.ReadFile(filepath.Join("testdata", "deployment-live-settled.yaml"))
	if err != nil {
		b.Fatal(err)
	}
	live := map[string]any{}
	if err := yaml.Unmarshal(data, &live); err != nil {
		b.Fatal(err)
	}
	scheme := runtime.NewScheme()
	if err := appsv1.AddToScheme(scheme); err != nil {
		b.Fatal(err)
	}
	if err := corev1.AddToScheme(scheme); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		m := &unstructured.Unstructured{}
		if err := m.UnmarshalJSON(manifest); err != nil {
			b.Fatal(err)
		}
		if diff := Compare(Stored(m.Object, scheme), live, false); diff.Drifted() {
			b.Fatalf("the applied manifest differs from its live object at %v", diff.Fields)
		}
	}
}
