package install

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/flotilla-dev/flotilla/internal/controller/promise/promisetest"
	"github.com/flotilla-dev/flotilla/internal/testenv"
)

// fieldOwner applies the manifests, as `kubectl apply --server-side` would.
const fieldOwner = "flotilla-install-test"

// warnings collects the API server's warnings (deprecations, Pod Security).
type warnings struct {
	mu   sync.Mutex
	list []string
}

func (w *warnings) HandleWarningHeader(_ int, _ string, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.list = append(w.list, text)
}

func (w *warnings) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.list
	w.list = nil
	return out
}

// adminClient is a client of cfg that records warnings in w.
func adminClient(tb testing.TB, cfg *rest.Config, w *warnings) client.Client {
	tb.Helper()
	cfg = rest.CopyConfig(cfg)
	cfg.WarningHandler = w
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// apply server-side-applies objs in order; dryRun only asks the API server
// whether it would accept them (validation, admission, defaulting).
func apply(ctx context.Context, c client.Client, objs []*unstructured.Unstructured, dryRun bool) error {
	for _, o := range objs {
		obj := o.DeepCopy()
		opts := []client.ApplyOption{client.FieldOwner(fieldOwner), client.ForceOwnership}
		if dryRun {
			opts = append(opts, client.DryRunAll)
		}
		if err := c.Apply(ctx, client.ApplyConfigurationFromUnstructured(obj), opts...); err != nil {
			return fmt.Errorf("applying %s: %w", id(o), err)
		}
	}
	return nil
}

// installFoundation applies, for real, what the other objects need to exist
// first: the Namespace and the CRDs (Established).
func installFoundation(ctx context.Context, tb testing.TB, c client.Client, objs []*unstructured.Unstructured) {
	tb.Helper()
	var first []*unstructured.Unstructured
	for _, o := range objs {
		if k := o.GetKind(); k == "Namespace" || k == "CustomResourceDefinition" {
			first = append(first, o)
		}
	}
	if err := apply(ctx, c, first, false); err != nil {
		tb.Fatal(err)
	}
	for _, o := range first {
		if o.GetKind() != "CustomResourceDefinition" {
			continue
		}
		promisetest.Eventually(tb, time.Minute, "CRD "+o.GetName()+" established", func() (bool, string) {
			crd := &apiextensionsv1.CustomResourceDefinition{}
			if err := c.Get(ctx, client.ObjectKey{Name: o.GetName()}, crd); err != nil {
				return false, err.Error()
			}
			for _, cond := range crd.Status.Conditions {
				if cond.Type == apiextensionsv1.Established && cond.Status == apiextensionsv1.ConditionTrue {
					return true, ""
				}
			}
			return false, fmt.Sprintf("%+v", crd.Status.Conditions)
		})
	}
}

// TestServerSideDryRun: a real API server accepts every object of the hub's
// kustomization, of the chart, and of the agent's base with an overlay,
// without a warning (the Pod Security "restricted" profile, which the
// platform namespace enforces, warns on a Deployment that violates it).
func TestServerSideDryRun(t *testing.T) {
	cp := testenv.NewHub(t)
	ctx := testContext(t)
	w := &warnings{}
	c := adminClient(t, cp.RESTConfig, w)

	hubObjs := kustomize(t, hubDir)
	installFoundation(ctx, t, c, hubObjs)
	if ws := w.take(); len(ws) > 0 {
		t.Errorf("warnings installing the CRDs: %v", ws)
	}
	for _, set := range []struct {
		name string
		objs []*unstructured.Unstructured
	}{
		{"config/hub", hubObjs},
		{"charts/flotilla", mustHelmTemplate(t, nil)},
		{"config/agent with an overlay", kustomize(t, agentOverlay)},
	} {
		if err := apply(ctx, c, set.objs, true); err != nil {
			t.Errorf("%s: %v", set.name, err)
		}
		if ws := w.take(); len(ws) > 0 {
			t.Errorf("%s: warnings: %v", set.name, ws)
		}
	}
}

// testContext ends with the test, or after 4 minutes.
func testContext(tb testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	tb.Cleanup(cancel)
	return ctx
}
