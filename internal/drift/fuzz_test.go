package drift

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// FuzzJudgeAndAccept judges a live Deployment against the one applied,
// after setting any value at any field of it and giving it another field
// manager's managedFields, then divides its drift by a team's
// DriftException with any paths, strips the accepted fields from the
// manifest and keeps them across a new one. The live object is the
// member's (a team with edit rights writes its content and managedFields),
// the paths the team's: none of it panics, and every drifted field is
// either accepted or not.
//
//	go test ./internal/drift -run '^$' -fuzz FuzzJudgeAndAccept -fuzztime 1m
func FuzzJudgeAndAccept(f *testing.F) {
	applied := readObject(f, "deployment-applied.yaml")
	settled := readObject(f, "deployment-live-settled.yaml")
	image := `{"f:spec":{"f:template":{"f:spec":{"f:containers":{"k:{\"name\":\"app\"}":{"f:image":{}}}}}}}`
	for _, seed := range []struct{ field, value, fields, path1, path2 string }{
		{"spec.replicas", `5`, `{"f:spec":{"f:replicas":{}}}`, "spec.replicas", ""},
		{"spec.template.spec.containers", `[{"name":"app","image":"evil"}]`, image, "spec.template.spec.containers", "spec"},
		{"spec.template.spec.containers", `[{"name":1},"x",null]`, `{"f:spec":{"f:template":{"f:spec":{"f:containers":{"v:1":{},"i:0":{}}}}}}`, "", "["},
		{"metadata.labels", `{"app":null}`, `{"f:metadata":{"f:labels":{"f:app":{}}}}`, "metadata.labels.app", "metadata"},
		{"spec", `"x"`, `{".":{},"f:spec":null}`, "spec.template", "spec.template.spec.containers[name=app]"},
		{"metadata", `[]`, `[]`, "", ""},
	} {
		f.Add(seed.field, seed.value, seed.fields, seed.path1, seed.path2)
	}
	f.Fuzz(func(t *testing.T, field, valueJSON, fieldsV1, path1, path2 string) {
		live := settled.DeepCopy()
		var v any
		if json.Unmarshal([]byte(valueJSON), &v) != nil {
			v = valueJSON
		}
		setAt(live.Object, strings.Split(field, "."), v)
		mf := live.GetManagedFields()
		live.SetManagedFields(append(mf, metav1.ManagedFieldsEntry{Manager: "kubectl-edit", Operation: metav1.ManagedFieldsOperationUpdate,
			FieldsType: "FieldsV1", FieldsV1: metav1.NewFieldsV1(fieldsV1)}))
		res, err := Judge(applied, live, "flotilla")
		if err != nil {
			t.Fatalf("judging against the applied object: %v", err)
		}
		now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
		exc := fleetv1alpha1.WorkDriftException{Name: "team-a/hotfix", Paths: []string{path1, path2},
			Resources: []fleetv1alpha1.ResourceSelector{{Group: "*", Kind: "Deployment"}}, ExpiresAt: metav1.Time{Time: now.Add(time.Hour)}}
		r := Resource{Group: "apps", Kind: "Deployment", Namespace: "shop", Name: "web"}
		split := Accept(res, r, []fleetv1alpha1.WorkDriftException{exc}, now)
		if split.Accepted.Count+split.Unexplained.Count != res.Count {
			t.Fatalf("%d fields drifted, %d accepted and %d not", res.Count, split.Accepted.Count, split.Unexplained.Count)
		}
		stripped := Strip(applied, split.Accepted)
		_ = KeepUnchanged(split.Accepted, applied, stripped)
		_ = Restrict(split.Accepted, []string{path1})
		_ = Compare(applied.Object, live.Object, true)
	})
}

// setAt sets v at path in obj, making maps on the way (and replacing what
// is not one).
func setAt(obj map[string]any, path []string, v any) {
	for _, k := range path[:len(path)-1] {
		next, ok := obj[k].(map[string]any)
		if !ok {
			next = map[string]any{}
			obj[k] = next
		}
		obj = next
	}
	obj[path[len(path)-1]] = v
}

func readObject(f *testing.F, name string) *unstructured.Unstructured {
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		f.Fatal(err)
	}
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal(data, &u.Object); err != nil {
		f.Fatal(err)
	}
	return u
}
