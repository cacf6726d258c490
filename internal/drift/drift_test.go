package drift

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"
	"sigs.k8s.io/structured-merge-diff/v6/value"
	"sigs.k8s.io/yaml"
)

const manager = "flotilla"

func load(t *testing.T, name string) *unstructured.Unstructured {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal(data, &u.Object); err != nil {
		t.Fatalf("decoding %s: %v", name, err)
	}
	return u
}

// entry is a managedFields entry from YAML fieldsV1.
func entry(t *testing.T, mgr string, op metav1.ManagedFieldsOperationType, subresource, at, fieldsYAML string) metav1.ManagedFieldsEntry {
	t.Helper()
	raw, err := yaml.YAMLToJSON([]byte(fieldsYAML))
	if err != nil {
		t.Fatalf("fieldsV1 of %s: %v", mgr, err)
	}
	ts, err := time.Parse(time.RFC3339, at)
	if err != nil {
		t.Fatal(err)
	}
	mt := metav1.NewTime(ts)
	return metav1.ManagedFieldsEntry{Manager: mgr, Operation: op, APIVersion: "apps/v1", Subresource: subresource,
		FieldsType: "FieldsV1", FieldsV1: metav1.NewFieldsV1(string(raw)), Time: &mt}
}

// withFields replaces the managedFields entry of the same manager, operation
// and subresource (or adds it); remove drops it.
func withFields(t *testing.T, u *unstructured.Unstructured, e metav1.ManagedFieldsEntry, remove bool) {
	t.Helper()
	var out []metav1.ManagedFieldsEntry
	found := false
	for _, cur := range u.GetManagedFields() {
		if cur.Manager == e.Manager && cur.Subresource == e.Subresource && cur.Operation == e.Operation {
			found = true
			if !remove {
				out = append(out, e)
			}
			continue
		}
		out = append(out, cur)
	}
	if !found && !remove {
		out = append(out, e)
	}
	u.SetManagedFields(out)
}

func set(t *testing.T, u *unstructured.Unstructured, v any, path ...string) {
	t.Helper()
	if err := unstructured.SetNestedField(u.Object, v, path...); err != nil {
		t.Fatal(err)
	}
}

func container(t *testing.T, u *unstructured.Unstructured) map[string]any {
	t.Helper()
	cs, _, _ := unstructured.NestedSlice(u.Object, "spec", "template", "spec", "containers")
	return cs[0].(map[string]any)
}

func setContainer(t *testing.T, u *unstructured.Unstructured, c map[string]any) {
	t.Helper()
	set(t, u, []any{c}, "spec", "template", "spec", "containers")
}

// flotillaNoReplicas is flotilla's entry once another manager's Update took
// some of its fields: what kubectl edit leaves.
const flotillaNoReplicas = `
f:metadata:
  f:labels:
    f:app: {}
    f:fleet.flotilla.dev/work: {}
f:spec:
  f:selector: {}
  f:template:
    f:metadata:
      f:labels:
        f:app: {}
    f:spec:
      f:containers:
        k:{"name":"app"}:
          .: {}
          f:image: {}
          f:name: {}
          f:ports:
            k:{"containerPort":8080,"protocol":"TCP"}:
              .: {}
              f:containerPort: {}
`

func TestJudge(t *testing.T) {
	cases := []struct {
		name    string
		applied func(u *unstructured.Unstructured)
		live    func(u *unstructured.Unstructured)
		deleted bool
		want    Result
		wantErr error
	}{
		{
			name: "untouched: defaulted fields, status and the controller's annotation are not drift",
			live: func(*unstructured.Unstructured) {},
			want: Result{},
		},
		{
			name: "kubectl edit of replicas",
			live: func(u *unstructured.Unstructured) {
				set(t, u, int64(5), "spec", "replicas")
				withFields(t, u, entry(t, manager, metav1.ManagedFieldsOperationApply, "", "2026-11-22T03:00:00Z", flotillaNoReplicas), false)
				withFields(t, u, entry(t, "kubectl-edit", metav1.ManagedFieldsOperationUpdate, "", "2026-11-22T03:10:00Z", "f:spec:\n  f:replicas: {}\n"), false)
			},
			want: Result{Fields: []string{"spec.replicas"}, Count: 1, By: "kubectl-edit"},
		},
		{
			name: "kubectl scale goes through the scale subresource",
			live: func(u *unstructured.Unstructured) {
				set(t, u, int64(1), "spec", "replicas")
				withFields(t, u, entry(t, manager, metav1.ManagedFieldsOperationApply, "", "2026-11-22T03:00:00Z", flotillaNoReplicas), false)
				withFields(t, u, entry(t, "kubectl", metav1.ManagedFieldsOperationUpdate, "scale", "2026-11-22T03:10:00Z", "f:spec:\n  f:replicas: {}\n"), false)
			},
			want: Result{Fields: []string{"spec.replicas"}, Count: 1, By: "kubectl"},
		},
		{
			name: "image changed by client-side kubectl apply, a keyed list item",
			live: func(u *unstructured.Unstructured) {
				c := container(t, u)
				c["image"] = "nginx:1.28"
				setContainer(t, u, c)
				withFields(t, u, entry(t, "kubectl-client-side-apply", metav1.ManagedFieldsOperationUpdate, "", "2026-11-22T03:10:00Z",
					"f:spec:\n  f:template:\n    f:spec:\n      f:containers:\n        k:{\"name\":\"app\"}:\n          f:image: {}\n"), false)
			},
			want: Result{Fields: []string{"spec.template.spec.containers[name=app].image"}, Count: 1, By: "kubectl-client-side-apply"},
		},
		{
			name: "a port removed: the keyed item and its field are gone",
			live: func(u *unstructured.Unstructured) {
				c := container(t, u)
				delete(c, "ports")
				setContainer(t, u, c)
			},
			want: Result{Fields: []string{"spec.template.spec.containers[name=app].ports[containerPort=8080,protocol=TCP].containerPort"}, Count: 1},
		},
		{
			name: "a label removed by kubectl edit: nobody owns it now",
			live: func(u *unstructured.Unstructured) {
				u.SetLabels(map[string]string{"fleet.flotilla.dev/work": "web-a1b2"})
			},
			want: Result{Fields: []string{"metadata.labels.app"}, Count: 1},
		},
		{
			name: "the selector is atomic: a key added to it is drift of the whole field",
			live: func(u *unstructured.Unstructured) {
				set(t, u, map[string]any{"app": "web", "tier": "front"}, "spec", "selector", "matchLabels")
			},
			want: Result{Fields: []string{"spec.selector"}, Count: 1},
		},
		{
			name: "out-of-band fields we do not own are not drift",
			live: func(u *unstructured.Unstructured) {
				u.SetAnnotations(map[string]string{"deployment.kubernetes.io/revision": "1", "team": "checkout"})
				set(t, u, int64(20), "spec", "minReadySeconds")
				c := container(t, u)
				c["env"] = []any{map[string]any{"name": "DEBUG", "value": "1"}}
				setContainer(t, u, c)
				withFields(t, u, entry(t, "kubectl-edit", metav1.ManagedFieldsOperationUpdate, "", "2026-11-22T03:10:00Z",
					"f:metadata:\n  f:annotations:\n    f:team: {}\nf:spec:\n  f:minReadySeconds: {}\n"), false)
			},
			want: Result{},
		},
		{
			name: "replicas owned by an HPA when the manifest leaves them out",
			applied: func(u *unstructured.Unstructured) {
				withFields(t, u, entry(t, manager, metav1.ManagedFieldsOperationApply, "", "2026-11-22T03:00:00Z", flotillaNoReplicas), false)
			},
			live: func(u *unstructured.Unstructured) {
				set(t, u, int64(7), "spec", "replicas")
				withFields(t, u, entry(t, manager, metav1.ManagedFieldsOperationApply, "", "2026-11-22T03:00:00Z", flotillaNoReplicas), false)
				withFields(t, u, entry(t, "kube-controller-manager", metav1.ManagedFieldsOperationUpdate, "scale", "2026-11-22T03:10:00Z", "f:spec:\n  f:replicas: {}\n"), false)
			},
			want: Result{},
		},
		{
			name: "status in the manifest is never drift",
			applied: func(u *unstructured.Unstructured) {
				withFields(t, u, entry(t, manager, metav1.ManagedFieldsOperationApply, "", "2026-11-22T03:00:00Z",
					flotillaNoReplicas+"f:status:\n  f:replicas: {}\n"), false)
				set(t, u, int64(3), "status", "replicas")
			},
			live: func(u *unstructured.Unstructured) {
				withFields(t, u, entry(t, manager, metav1.ManagedFieldsOperationApply, "", "2026-11-22T03:00:00Z", flotillaNoReplicas), false)
				set(t, u, int64(0), "status", "replicas")
			},
			want: Result{},
		},
		{
			name:    "the live object is gone",
			deleted: true,
			want: Result{Deleted: true, Count: 8, Fields: []string{
				"metadata.labels.app", "metadata.labels.fleet.flotilla.dev/work", "spec.replicas", "spec.selector",
				"spec.template.metadata.labels.app",
				"spec.template.spec.containers[name=app].image", "spec.template.spec.containers[name=app].name",
				"spec.template.spec.containers[name=app].ports[containerPort=8080,protocol=TCP].containerPort",
			}},
		},
		{
			name: "no entry of ours on the applied object",
			applied: func(u *unstructured.Unstructured) {
				withFields(t, u, metav1.ManagedFieldsEntry{Manager: manager, Operation: metav1.ManagedFieldsOperationApply}, true)
			},
			live:    func(*unstructured.Unstructured) {},
			wantErr: ErrNotManaged,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			applied := load(t, "deployment-applied.yaml")
			if tc.applied != nil {
				tc.applied(applied)
			}
			var live *unstructured.Unstructured
			if !tc.deleted {
				live = load(t, "deployment-live-settled.yaml")
				tc.live(live)
			}
			got, err := Judge(applied, live, manager)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("error = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got.all) != got.Count {
				t.Errorf("Judge() keeps %d of %d drifted fields for exceptions", len(got.all), got.Count)
			}
			got.all = nil
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Judge() = %#v\nwant %#v", got, tc.want)
			}
			if got.Drifted() != (tc.want.Count > 0 || tc.want.Deleted) {
				t.Errorf("Drifted() = %v", got.Drifted())
			}
		})
	}
}

// A leaf that is an empty map only says the map exists: keys others add to
// it are theirs. A ConfigMap's data set by the manifest is compared per key.
func TestJudgeConfigMap(t *testing.T) {
	applied := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": "settings", "namespace": "shop", "annotations": map[string]any{}},
		"data":     map[string]any{"color": "blue"},
	}}
	applied.SetManagedFields([]metav1.ManagedFieldsEntry{
		entry(t, manager, metav1.ManagedFieldsOperationApply, "", "2026-11-22T03:00:00Z",
			"f:metadata:\n  f:annotations: {}\nf:data:\n  .: {}\n  f:color: {}\n"),
	})
	live := applied.DeepCopy()
	live.SetAnnotations(map[string]string{"note": "added by hand"})
	if err := unstructured.SetNestedField(live.Object, "extra", "data", "size"); err != nil {
		t.Fatal(err)
	}
	got, err := Judge(applied, live, manager)
	if err != nil {
		t.Fatal(err)
	}
	if got.Drifted() {
		t.Errorf("added keys judged as drift: %#v", got)
	}
	if err := unstructured.SetNestedField(live.Object, "red", "data", "color"); err != nil {
		t.Fatal(err)
	}
	got, err = Judge(applied, live, manager)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"data.color"}; !reflect.DeepEqual(got.Fields, want) || got.Count != 1 {
		t.Errorf("fields = %v (count %d), want %v", got.Fields, got.Count, want)
	}
}

// Many drifted fields are counted in full and listed up to MaxFields.
func TestJudgeBoundsFields(t *testing.T) {
	data := map[string]any{}
	fields := "f:data:\n"
	for i := range 40 {
		k := "k" + string(rune('a'+i/26)) + string(rune('a'+i%26))
		data[k] = "v"
		fields += "  f:" + k + ": {}\n"
	}
	applied := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": "big"}, "data": data,
	}}
	applied.SetManagedFields([]metav1.ManagedFieldsEntry{entry(t, manager, metav1.ManagedFieldsOperationApply, "", "2026-11-22T03:00:00Z", fields)})
	live := applied.DeepCopy()
	live.Object["data"] = map[string]any{}
	got, err := Judge(applied, live, manager)
	if err != nil {
		t.Fatal(err)
	}
	if got.Count != 40 || len(got.Fields) != MaxFields {
		t.Errorf("count %d, %d fields listed; want 40 and %d", got.Count, len(got.Fields), MaxFields)
	}
}

func TestPathString(t *testing.T) {
	cases := []struct {
		path fieldpath.Path
		want string
	}{
		{fieldpath.MakePathOrDie("spec", "replicas"), "spec.replicas"},
		{fieldpath.MakePathOrDie("spec", "template", "spec", "containers", fieldpath.KeyByFields("name", "app"), "image"),
			"spec.template.spec.containers[name=app].image"},
		{fieldpath.MakePathOrDie("spec", "ports", fieldpath.KeyByFields("port", 80, "protocol", "TCP")), "spec.ports[port=80,protocol=TCP]"},
		{fieldpath.MakePathOrDie("metadata", "finalizers", value.NewValueInterface("example.com/keep")), "metadata.finalizers[example.com/keep]"},
		{fieldpath.MakePathOrDie("spec", "args", 2), "spec.args[2]"},
	}
	for _, tc := range cases {
		if got := PathString(tc.path); got != tc.want {
			t.Errorf("PathString(%v) = %q, want %q", tc.path, got, tc.want)
		}
	}
}

func TestJudgeNilApplied(t *testing.T) {
	if _, err := Judge(nil, nil, manager); err == nil {
		t.Error("Judge(nil, nil) returned no error")
	}
}
