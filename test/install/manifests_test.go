// Package install tests the install manifests of the hub and the agent
// (config/hub, config/agent, charts/flotilla): how they render, that a real
// API server accepts every object, and that the hub does its job with exactly
// the RBAC they grant.
package install

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	chartcommon "helm.sh/helm/v4/pkg/chart/common"
	commonutil "helm.sh/helm/v4/pkg/chart/common/util"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/engine"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/flotilla-dev/flotilla/internal/kube"
	"github.com/flotilla-dev/flotilla/internal/testenv"
)

// Paths from this package to what it tests.
const (
	repoRoot     = "../.."
	hubDir       = repoRoot + "/config/hub"
	agentDir     = repoRoot + "/config/agent"
	crdDir       = repoRoot + "/config/crd"
	chartDir     = repoRoot + "/charts/flotilla"
	agentOverlay = "testdata/agent-overlay"
)

// platformNamespace is where the hub runs and the manifests put it.
const platformNamespace = "flotilla-system"

// kustomize renders a kustomization with the kubectl that `make tools` builds.
func kustomize(tb testing.TB, dir string) []*unstructured.Unstructured {
	tb.Helper()
	bin, err := testenv.BinDir()
	if err != nil {
		tb.Fatalf("kubectl for kustomize: %v", err)
	}
	cmd := exec.Command(filepath.Join(bin, "kubectl"), "kustomize", dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		tb.Fatalf("kubectl kustomize %s: %v\n%s", dir, err, stderr.String())
	}
	objs, err := decodeYAML(out)
	if err != nil {
		tb.Fatalf("decoding kustomize output of %s: %v", dir, err)
	}
	return objs
}

// helmTemplate renders the chart like `helm template flotilla charts/flotilla
// -n namespace`, values over the chart's defaults; the chart's crds/ come
// first, as `helm install` creates them before the templates.
func helmTemplate(namespace string, values map[string]any) ([]*unstructured.Unstructured, error) {
	ch, err := loader.LoadDir(chartDir)
	if err != nil {
		return nil, fmt.Errorf("loading the chart: %w", err)
	}
	if err := ch.Validate(); err != nil {
		return nil, fmt.Errorf("validating the chart: %w", err)
	}
	top, err := commonutil.ToRenderValuesWithSchemaValidation(ch, values, chartcommon.ReleaseOptions{
		Name: "flotilla", Namespace: namespace, Revision: 1, IsInstall: true,
	}, chartcommon.DefaultCapabilities, false)
	if err != nil {
		return nil, fmt.Errorf("chart values: %w", err)
	}
	files, err := engine.Engine{Strict: true}.Render(ch, top)
	if err != nil {
		return nil, fmt.Errorf("rendering the chart: %w", err)
	}
	var objs []*unstructured.Unstructured
	for _, crd := range ch.CRDObjects() {
		docs, err := decodeYAML(crd.File.Data)
		if err != nil {
			return nil, fmt.Errorf("chart file %s: %w", crd.Filename, err)
		}
		objs = append(objs, docs...)
	}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if base := filepath.Base(name); strings.HasPrefix(base, "_") || base == "NOTES.txt" {
			continue
		}
		docs, err := decodeYAML([]byte(files[name]))
		if err != nil {
			return nil, fmt.Errorf("template %s: %w", name, err)
		}
		objs = append(objs, docs...)
	}
	return objs, nil
}

func mustHelmTemplate(tb testing.TB, values map[string]any) []*unstructured.Unstructured {
	tb.Helper()
	objs, err := helmTemplate(platformNamespace, values)
	if err != nil {
		tb.Fatal(err)
	}
	return objs
}

// decodeYAML decodes every non-empty document of a multi-document YAML.
func decodeYAML(data []byte) ([]*unstructured.Unstructured, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var objs []*unstructured.Unstructured
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); err != nil {
			if errors.Is(err, io.EOF) {
				return objs, nil
			}
			return nil, err
		}
		if len(u.Object) == 0 {
			continue
		}
		if u.GetKind() == "" || u.GetAPIVersion() == "" {
			return nil, fmt.Errorf("a document without kind or apiVersion: %v", u.Object)
		}
		objs = append(objs, u)
	}
}

// find returns the object of kind and name, or fails the test.
func find(tb testing.TB, objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	tb.Helper()
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	tb.Fatalf("no %s %s among %s", kind, name, strings.Join(ids(objs), ", "))
	return nil
}

// typed converts u to a typed object of the project's scheme, strictly: a
// field the type does not know is an error.
func typed[T runtime.Object](tb testing.TB, u *unstructured.Unstructured, into T) T {
	tb.Helper()
	if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(u.Object, into, true); err != nil {
		tb.Fatalf("%s %s: %v", u.GetKind(), u.GetName(), err)
	}
	return into
}

// ids names objects as Kind/namespace/name, sorted.
func ids(objs []*unstructured.Unstructured) []string {
	out := make([]string, 0, len(objs))
	for _, o := range objs {
		out = append(out, id(o))
	}
	sort.Strings(out)
	return out
}

func id(o *unstructured.Unstructured) string {
	return o.GetKind() + "/" + o.GetNamespace() + "/" + o.GetName()
}

// without drops the objects of the given kinds.
func without(objs []*unstructured.Unstructured, kinds ...string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, o := range objs {
		drop := false
		for _, k := range kinds {
			drop = drop || o.GetKind() == k
		}
		if !drop {
			out = append(out, o)
		}
	}
	return out
}

// scheme knows every kind the manifests hold.
var scheme = func() *runtime.Scheme {
	s := kube.NewScheme()
	utilruntime.Must(apiextensionsv1.AddToScheme(s))
	return s
}()

func readFile(tb testing.TB, path string) []byte {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}
