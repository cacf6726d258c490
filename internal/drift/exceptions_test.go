package drift

import (
	"reflect"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"
	"sigs.k8s.io/structured-merge-diff/v6/value"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

func TestCovers(t *testing.T) {
	cases := []struct {
		path, field string
		want        bool
	}{
		{"spec.replicas", "spec.replicas", true},
		{"spec", "spec.replicas", true},
		{"spec.rep", "spec.replicas", false},
		{"spec.replicas", "spec", false},
		{"spec.template.spec.containers", "spec.template.spec.containers[name=app].image", true},
		{"spec.template.spec.containers[name=app]", "spec.template.spec.containers[name=app].image", true},
		{"spec.template.spec.containers[name=app].image", "spec.template.spec.containers[name=app].image", true},
		{"spec.template.spec.containers[name=app]", "spec.template.spec.containers[name=app2].image", false},
		{"spec.template.spec.containers[name=app].image", "spec.template.spec.containers[name=app].imagePullPolicy", false},
		{"metadata.labels", "metadata.labels.app.kubernetes.io/name", true},
		{"data", "data.color", true},
		{"data.color", "metadata.labels.color", false},
	}
	for _, c := range cases {
		if got := Covers(c.path, c.field); got != c.want {
			t.Errorf("Covers(%q, %q) = %v, want %v", c.path, c.field, got, c.want)
		}
	}
}

var (
	replicasPath = fieldpath.MakePathOrDie("spec", "replicas")
	imagePath    = fieldpath.MakePathOrDie("spec", "template", "spec", "containers",
		fieldpath.KeyByFields("name", "app"), "image")
	argsPath = fieldpath.MakePathOrDie("spec", "template", "spec", "containers",
		fieldpath.KeyByFields("name", "app"), "args", 0)
	finalizerPath = fieldpath.MakePathOrDie("metadata", "finalizers", value.NewValueInterface("example.com/x"))
)

// drifted is a Result with the given drifted fields, as Judge builds it.
func drifted(by string, paths ...fieldpath.Path) Result {
	fields := make([]field, 0, len(paths))
	for _, p := range paths {
		fields = append(fields, field{path: p, str: PathString(p)})
	}
	res := subset(Result{By: by}, fields)
	res.all = fields
	return res
}

func exception(name string, expires time.Time, sel fleetv1alpha1.ResourceSelector, paths ...string) fleetv1alpha1.WorkDriftException {
	return fleetv1alpha1.WorkDriftException{Name: name, Resources: []fleetv1alpha1.ResourceSelector{sel},
		Paths: paths, ExpiresAt: metav1.NewTime(expires)}
}

func TestAccept(t *testing.T) {
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	later, earlier := now.Add(time.Hour), now.Add(-time.Second)
	web := Resource{Group: "apps", Kind: "Deployment", Namespace: "shop", Name: "web"}
	deploy := fleetv1alpha1.ResourceSelector{Group: "apps", Kind: "Deployment"}
	res := drifted("kubectl-edit", imagePath, replicasPath)
	const image, replicas = "spec.template.spec.containers[name=app].image", "spec.replicas"

	cases := []struct {
		name        string
		res         Result
		excs        []fleetv1alpha1.WorkDriftException
		accepted    []string
		unexplained []string
		exception   string
	}{
		{name: "no exceptions", res: res, unexplained: []string{image, replicas}},
		{name: "expired", res: res, unexplained: []string{image, replicas},
			excs: []fleetv1alpha1.WorkDriftException{exception("team-a/x", earlier, deploy)}},
		{name: "expires exactly now", res: res, unexplained: []string{image, replicas},
			excs: []fleetv1alpha1.WorkDriftException{exception("team-a/x", now, deploy)}},
		{name: "other kind", res: res, unexplained: []string{image, replicas},
			excs: []fleetv1alpha1.WorkDriftException{exception("team-a/x", later, fleetv1alpha1.ResourceSelector{Kind: "Deployment"})}},
		{name: "other name", res: res, unexplained: []string{image, replicas},
			excs: []fleetv1alpha1.WorkDriftException{exception("team-a/x", later, fleetv1alpha1.ResourceSelector{Group: "*", Kind: "Deployment", Name: "api"})}},
		{name: "any field", res: res, accepted: []string{image, replicas}, exception: "team-a/x",
			excs: []fleetv1alpha1.WorkDriftException{exception("team-a/x", later, fleetv1alpha1.ResourceSelector{Group: "*", Kind: "Deployment", Namespace: "shop", Name: "web"})}},
		{name: "some fields", res: res, accepted: []string{replicas}, unexplained: []string{image}, exception: "team-a/x",
			excs: []fleetv1alpha1.WorkDriftException{exception("team-a/x", later, deploy, "spec.replicas")}},
		{name: "a parent path covers list items", res: res, accepted: []string{image, replicas}, exception: "team-a/y",
			excs: []fleetv1alpha1.WorkDriftException{
				exception("team-a/x", later, deploy, "spec.replicas"),
				exception("team-a/y", later, deploy, "spec.replicas", "spec.template.spec.containers"),
			}},
		{name: "two exceptions together", res: res, accepted: []string{image, replicas}, exception: "team-a/a",
			excs: []fleetv1alpha1.WorkDriftException{
				exception("team-a/b", later, deploy, "spec.replicas"),
				exception("team-a/a", later, deploy, "spec.template.spec.containers[name=app].image"),
			}},
		{name: "deleted, paths do not cover it", res: Result{Deleted: true}, unexplained: nil,
			excs: []fleetv1alpha1.WorkDriftException{exception("team-a/x", later, deploy, "spec")}},
		{name: "deleted, any field", res: Result{Deleted: true}, exception: "team-a/x",
			excs: []fleetv1alpha1.WorkDriftException{exception("team-a/x", later, deploy)}},
		{name: "no drift", res: Result{}, excs: []fleetv1alpha1.WorkDriftException{exception("team-a/x", later, deploy)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := Accept(c.res, web, c.excs, now)
			if !reflect.DeepEqual(s.Accepted.Fields, c.accepted) || !reflect.DeepEqual(s.Unexplained.Fields, c.unexplained) || s.Exception != c.exception {
				t.Errorf("Accept = accepted %q, unexplained %q, exception %q; want %q, %q, %q",
					s.Accepted.Fields, s.Unexplained.Fields, s.Exception, c.accepted, c.unexplained, c.exception)
			}
			if c.res.Deleted && (s.Accepted.Deleted == s.Unexplained.Deleted) {
				t.Errorf("a deletion is accepted or unexplained as a whole: %+v", s)
			}
			for _, part := range []Result{s.Accepted, s.Unexplained} {
				if part.Drifted() && part.By != c.res.By {
					t.Errorf("by = %q, want %q", part.By, c.res.By)
				}
			}
		})
	}
}

func TestAcceptCountsEveryField(t *testing.T) {
	// More fields than a status lists: every one must be covered.
	var paths []fieldpath.Path
	for i := range MaxFields + 3 {
		paths = append(paths, fieldpath.MakePathOrDie("data", string(rune('a'+i%26))+string(rune('a'+i/26))))
	}
	res := drifted("", paths...)
	now := time.Now()
	excs := []fleetv1alpha1.WorkDriftException{exception("ns/x", now.Add(time.Hour), fleetv1alpha1.ResourceSelector{Kind: "ConfigMap"}, "data.aa")}
	s := Accept(res, Resource{Kind: "ConfigMap", Namespace: "ns", Name: "cm"}, excs, now)
	if s.Accepted.Count != 1 || s.Unexplained.Count != MaxFields+2 || len(s.Unexplained.Fields) != MaxFields {
		t.Errorf("accepted %d, unexplained %d (%d listed); want 1, %d (%d listed)", s.Accepted.Count, s.Unexplained.Count,
			len(s.Unexplained.Fields), MaxFields+2, MaxFields)
	}
}

func TestNextExpiry(t *testing.T) {
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	sel := fleetv1alpha1.ResourceSelector{Kind: "ConfigMap"}
	excs := []fleetv1alpha1.WorkDriftException{
		exception("a", now.Add(-time.Minute), sel), exception("b", now.Add(time.Hour), sel), exception("c", now.Add(time.Minute), sel),
	}
	if got := NextExpiry(excs, now); !got.Equal(now.Add(time.Minute)) {
		t.Errorf("NextExpiry = %v, want %v", got, now.Add(time.Minute))
	}
	if got := NextExpiry(excs[:1], now); !got.IsZero() {
		t.Errorf("NextExpiry of expired exceptions = %v, want zero", got)
	}
}

func TestStrip(t *testing.T) {
	manifest := func() *unstructured.Unstructured {
		return &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "apps/v1", "kind": "Deployment",
			"metadata": map[string]any{"name": "web", "namespace": "shop", "finalizers": []any{"example.com/x", "example.com/y"}},
			"spec": map[string]any{
				"replicas": int64(2),
				"template": map[string]any{"spec": map[string]any{"containers": []any{
					map[string]any{"name": "side", "image": "side:1"},
					map[string]any{"name": "app", "image": "app:1", "args": []any{"--a", "--b"}},
				}}},
			},
		}}
	}
	cases := []struct {
		name  string
		paths []fieldpath.Path
		want  func(u *unstructured.Unstructured)
	}{
		{name: "nothing", want: func(*unstructured.Unstructured) {}},
		{name: "a field", paths: []fieldpath.Path{replicasPath}, want: func(u *unstructured.Unstructured) {
			unstructured.RemoveNestedField(u.Object, "spec", "replicas")
		}},
		{name: "a field of a keyed list item", paths: []fieldpath.Path{imagePath, replicasPath}, want: func(u *unstructured.Unstructured) {
			unstructured.RemoveNestedField(u.Object, "spec", "replicas")
			c := u.Object["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)["containers"].([]any)
			delete(c[1].(map[string]any), "image")
		}},
		{name: "a keyed list item", paths: []fieldpath.Path{fieldpath.MakePathOrDie("spec", "template", "spec", "containers", fieldpath.KeyByFields("name", "side"))},
			want: func(u *unstructured.Unstructured) {
				spec := u.Object["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)
				spec["containers"] = spec["containers"].([]any)[1:]
			}},
		{name: "an atomic list item stands for the list", paths: []fieldpath.Path{argsPath}, want: func(u *unstructured.Unstructured) {
			c := u.Object["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)["containers"].([]any)
			delete(c[1].(map[string]any), "args")
		}},
		{name: "a set item", paths: []fieldpath.Path{finalizerPath}, want: func(u *unstructured.Unstructured) {
			_ = unstructured.SetNestedStringSlice(u.Object, []string{"example.com/y"}, "metadata", "finalizers")
		}},
		{name: "a path that is not there", paths: []fieldpath.Path{fieldpath.MakePathOrDie("spec", "paused"),
			fieldpath.MakePathOrDie("spec", "template", "spec", "containers", fieldpath.KeyByFields("name", "gone"), "image")},
			want: func(*unstructured.Unstructured) {}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := manifest()
			got := Strip(in, drifted("", c.paths...))
			want := manifest()
			c.want(want)
			if !reflect.DeepEqual(got.Object, want.Object) {
				t.Errorf("Strip =\n%v\nwant\n%v", got.Object, want.Object)
			}
			if !reflect.DeepEqual(in.Object, manifest().Object) {
				t.Errorf("Strip changed its input: %v", in.Object)
			}
		})
	}
}

func TestKeepUnchanged(t *testing.T) {
	deployment := func(replicas int64, image string) *unstructured.Unstructured {
		return &unstructured.Unstructured{Object: map[string]any{
			"spec": map[string]any{
				"replicas": replicas,
				"template": map[string]any{"spec": map[string]any{"containers": []any{
					map[string]any{"name": "app", "image": image, "args": []any{"--a"}},
				}}},
			},
		}}
	}
	const image, replicas = "spec.template.spec.containers[name=app].image", "spec.replicas"
	accepted := drifted("kubectl-edit", imagePath, replicasPath)
	cases := []struct {
		name        string
		before, now *unstructured.Unstructured
		want        []string
	}{
		{name: "same manifest", before: deployment(2, "app:1"), now: deployment(2, "app:1"), want: []string{image, replicas}},
		{name: "the new spec changes the image", before: deployment(2, "app:1"), now: deployment(2, "app:2"), want: []string{replicas}},
		{name: "the new spec changes both", before: deployment(2, "app:1"), now: deployment(3, "app:2")},
		{name: "the new spec leaves a field out", before: deployment(2, "app:1"), now: &unstructured.Unstructured{Object: map[string]any{}}},
		{name: "earlier manifest unknown", now: deployment(3, "app:2"), want: []string{image, replicas}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := KeepUnchanged(accepted, c.before, c.now)
			if !reflect.DeepEqual(got.Fields, c.want) || got.Count != len(c.want) {
				t.Errorf("KeepUnchanged = %q (%d), want %q", got.Fields, got.Count, c.want)
			}
		})
	}
	if got := KeepUnchanged(Result{Deleted: true}, deployment(2, "app:1"), deployment(3, "app:2")); !got.Deleted {
		t.Errorf("a deletion stays accepted as it was: %+v", got)
	}
}
