package health

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// FuzzOf judges arbitrary live objects and the Pods listed for them: a
// team with edit rights in its namespace on a member writes what it likes
// in its custom objects' status (no status subresource) and in its Pods'
// labels and specs. Neither Of nor CauseOf panics, and a verdict is one of
// the API's four.
//
//	go test ./internal/health -run '^$' -fuzz FuzzOf -fuzztime 1m
func FuzzOf(f *testing.F) {
	files, err := filepath.Glob("testdata/*.yaml")
	if err != nil {
		f.Fatal(err)
	}
	pod := `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","ownerReferences":[{"uid":"u"}]},` +
		`"status":{"phase":"Pending","containerStatuses":[{"name":"app","state":{"waiting":{"reason":"ImagePullBackOff","message":"x"}},` +
		`"lastState":{"terminated":{"exitCode":1,"reason":"Error"}}}],"conditions":[{"type":"PodScheduled","status":"False","reason":"Unschedulable"}]}}`
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		j, err := yaml.YAMLToJSON(data)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(j), pod)
	}
	f.Add(`{"apiVersion":"batch/v1","kind":"Job","metadata":{"uid":"u"},"spec":{"selector":{"matchLabels":{"a":"b"}},"suspend":true},`+
		`"status":{"conditions":[{"type":"Failed","status":"True","reason":"BackoffLimitExceeded"}]}}`, pod)
	f.Add(`{"apiVersion":"apps/v1","kind":"StatefulSet","metadata":{"generation":2},"spec":{"replicas":"3","updateStrategy":{"type":"OnDelete","rollingUpdate":{"partition":-1}}},`+
		`"status":{"observedGeneration":2,"currentRevision":1,"updateRevision":[],"readyReplicas":3}}`, `{}`)
	f.Fuzz(func(t *testing.T, objJSON, podJSON string) {
		obj := &unstructured.Unstructured{}
		if err := obj.UnmarshalJSON([]byte(objJSON)); err != nil {
			return
		}
		var pods []unstructured.Unstructured
		var p unstructured.Unstructured
		if json.Valid([]byte(podJSON)) && p.UnmarshalJSON([]byte(podJSON)) == nil {
			pods = append(pods, p)
		}
		switch st := Of(obj).Status; st {
		case fleetv1alpha1.HealthCurrent, fleetv1alpha1.HealthInProgress, fleetv1alpha1.HealthFailed, fleetv1alpha1.HealthUnknown:
		default:
			t.Fatalf("health %q is none of the API's", st)
		}
		_, _ = PodSelector(obj)
		if c, ok := CauseOf(obj, pods); ok {
			_ = c.String()
		}
	})
}
