package promise

import (
	"context"
	"errors"
	"sync"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/charts"
	"github.com/flotilla-dev/flotilla/internal/instanceapi"
	"github.com/flotilla-dev/flotilla/internal/render"
)

// prepared is content ready to become a revision.
type prepared struct {
	content *fleetv1alpha1.PromiseContent
	hash    string
	// chart is the archive to keep in a snapshot ConfigMap, for content whose
	// chart came from a ConfigMap or a repository; nil otherwise.
	chart []byte
	crd   *apiextensionsv1.CustomResourceDefinition
}

// prepare generates the CRD, resolves the chart and renders the examples. A
// problem means the content must not become a revision.
func (r *Reconciler) prepare(ctx context.Context, p *fleetv1alpha1.Promise) (*prepared, *problem, error) {
	crd, err := instanceapi.GenerateCRD(p.Name, &p.Spec.API)
	if err != nil {
		return nil, &problem{condition: fleetv1alpha1.ConditionAPIEstablished, reason: fleetv1alpha1.ReasonInvalidSpec, message: err.Error(), stalled: true}, nil
	}
	chartProblem := func(err error) (*prepared, *problem, error) {
		var ce *charts.Error
		if !errors.As(err, &ce) {
			return nil, nil, err
		}
		reason := fleetv1alpha1.ReasonChartNotFound
		if ce.Reason != "" {
			reason = ce.Reason
		}
		return nil, &problem{condition: fleetv1alpha1.ConditionRendered, reason: reason, message: err.Error(), stalled: ce.Permanent}, nil
	}
	content, archive, err := r.Charts.Snapshot(ctx, &p.Spec.PromiseContent)
	if err != nil {
		return chartProblem(err)
	}
	hash, err := ContentHash(content)
	if err != nil {
		return nil, nil, err
	}
	out := &prepared{content: content, hash: hash, chart: archive, crd: crd}
	if r.rendered.has(hash) {
		return out, nil, nil
	}
	var chart *render.LoadedChart
	if archive != nil {
		chart, err = r.Charts.LoadArchive(archive)
	} else {
		chart, err = r.Charts.Load(ctx, content)
	}
	if err != nil {
		return chartProblem(err)
	}
	if err := render.RenderExamples(content, chart); err != nil {
		return nil, &problem{condition: fleetv1alpha1.ConditionRendered, reason: fleetv1alpha1.ReasonRenderFailed,
			message: "no new revision: " + err.Error(), stalled: true}, nil
	}
	r.rendered.add(hash)
	return out, nil, nil
}

// hashSet remembers content hashes whose examples render, so a Promise that
// is reconciled again (its usage counts change with every Work) does not
// render its examples again. Bounded: forgetting costs one render.
type hashSet struct {
	mu sync.Mutex
	m  map[string]bool
}

func (h *hashSet) has(hash string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.m[hash]
}

func (h *hashSet) add(hash string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.m == nil || len(h.m) >= 1024 {
		h.m = map[string]bool{}
	}
	h.m[hash] = true
}
