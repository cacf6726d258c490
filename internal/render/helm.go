package render

import (
	"bytes"
	"errors"
	"fmt"
	"path"
	"reflect"
	"sort"
	"strings"
	"time"

	"helm.sh/helm/v4/pkg/chart/common"
	commonutil "helm.sh/helm/v4/pkg/chart/common/util"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	chartutil "helm.sh/helm/v4/pkg/chart/v2/util"
	"helm.sh/helm/v4/pkg/engine"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// helmHookAnnotation marks a Helm hook; hooks are not rendered (see docs/templates.md).
const helmHookAnnotation = "helm.sh/hook"

// LoadedChart is a Helm chart loaded from its archive, ready to render. It is
// safe to share between concurrent renders: each render works on its own copy.
type LoadedChart struct {
	chart *chart.Chart
}

// LoadChart loads a packaged chart (.tgz archive).
func LoadChart(archive []byte) (*LoadedChart, error) {
	if len(archive) == 0 {
		return nil, errors.New("loading helm chart: empty archive")
	}
	ch, err := loader.LoadArchive(bytes.NewReader(archive))
	if err != nil {
		return nil, fmt.Errorf("loading helm chart: %w", err)
	}
	if err := ch.Validate(); err != nil {
		return nil, fmt.Errorf("loading helm chart %s: %w", ch.Name(), err)
	}
	if ch.Metadata.Type == "library" {
		return nil, fmt.Errorf("loading helm chart %s: a library chart cannot be rendered", ch.Name())
	}
	// Loops and template calls count steps (see helmFuncs).
	tickChart(ch)
	return &LoadedChart{chart: ch}, nil
}

// Name is the chart's name.
func (c *LoadedChart) Name() string { return c.chart.Name() }

// Version is the chart's version.
func (c *LoadedChart) Version() string { return c.chart.Metadata.Version }

// helmValues are the values an instance gives its chart: the Promise's base
// values with the instance spec merged over them. (Chart defaults go under
// both, Values Overrides over both.) A null is kept, so that it removes the
// chart's default as in Helm.
func helmValues(h *v1alpha1.HelmTemplate, spec map[string]any) (map[string]any, error) {
	base, err := rawObject(h.Values)
	if err != nil {
		return nil, fmt.Errorf("helm values: %w", err)
	}
	return merge(base, spec, true), nil
}

// renderHelm renders the chart like `helm template`: release name and
// namespace are the instance's, the Kubernetes version is the cluster's, no
// cluster is contacted (lookup returns nothing), and NOTES.txt is dropped;
// hooks are returned, for the caller to drop (withoutHooks). The chart's
// crds/ are not here: they are cluster-wide, so they are rendered once per
// cluster with the fleet resources (chartCRDs).
//
// probeVals are vals with the characters that can make YAML structure
// neutralised in what the instance and team Overrides gave (see
// helmProbeValues); when they differ from vals, the chart is rendered with
// them too, and each file must have the same YAML shape both times.
func renderHelm(lc *LoadedChart, vals, probeVals map[string]any, inst *unstructured.Unstructured, cluster ClusterFacts) ([]*unstructured.Unstructured, error) {
	if lc == nil || lc.chart == nil {
		return nil, errors.New("helm chart not loaded")
	}
	files, err := renderHelmFiles(lc, vals, inst, cluster)
	if err != nil {
		return nil, err
	}
	var probe map[string]string
	if probeVals != nil && !reflect.DeepEqual(vals, probeVals) {
		probe, err = renderHelmFiles(lc, probeVals, inst, cluster)
		if err != nil {
			if errors.Is(err, ErrBudgetExceeded) {
				return nil, err
			}
			return nil, fmt.Errorf("checking that values make no YAML structure: %w", err)
		}
	}

	var objs []*unstructured.Unstructured
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		base := path.Base(name)
		if strings.HasPrefix(base, "_") || base == "NOTES.txt" {
			continue
		}
		if probe != nil {
			if err := compareShapes("template "+name, files[name], probe[name]); err != nil {
				return nil, fmt.Errorf("chart %s: %w", lc.chart.Name(), err)
			}
			if err := compareGuardedKeys("template "+name, files[name], probe[name]); err != nil {
				return nil, fmt.Errorf("chart %s: %w", lc.chart.Name(), err)
			}
		}
		docs, err := decodeDocuments("template "+name, files[name])
		if err != nil {
			return nil, err
		}
		objs = append(objs, docs...)
	}
	return objs, nil
}

// withoutHooks drops the chart's hooks, which are not rendered. It runs after
// checkValueMadeKeys: a hook annotation a team's value gave would otherwise
// drop the platform's object (a NetworkPolicy) from the render unseen.
func withoutHooks(objs []*unstructured.Unstructured) []*unstructured.Unstructured {
	kept := objs[:0]
	for _, o := range objs {
		if _, hook := o.GetAnnotations()[helmHookAnnotation]; !hook {
			kept = append(kept, o)
		}
	}
	return kept
}

// renderHelmFiles renders the chart's templates with vals: file name → output.
func renderHelmFiles(lc *LoadedChart, vals map[string]any, inst *unstructured.Unstructured, cluster ClusterFacts) (map[string]string, error) {
	ch := cloneChart(lc.chart)
	caps := common.DefaultCapabilities.Copy()
	if cluster.KubernetesVersion != "" {
		if kv, err := common.ParseKubeVersion(cluster.KubernetesVersion); err == nil {
			caps.KubeVersion = *kv
		}
	}
	if c := ch.Metadata.KubeVersion; c != "" && !chartutil.IsCompatibleRange(c, caps.KubeVersion.String()) {
		return nil, fmt.Errorf("chart %s requires kubeVersion %s, cluster runs %s", ch.Name(), c, caps.KubeVersion.String())
	}
	if err := chartutil.ProcessDependencies(ch, vals); err != nil {
		return nil, fmt.Errorf("chart %s: dependencies: %w", ch.Name(), err)
	}
	opts := common.ReleaseOptions{
		Name:      inst.GetName(),
		Namespace: inst.GetNamespace(),
		Revision:  1,
		IsInstall: true,
	}
	// values.schema.json is not checked: the Promise's api.schema validates the
	// instance, and the check could fetch remote $refs.
	top, err := commonutil.ToRenderValuesWithSchemaValidation(ch, vals, opts, caps, true)
	if err != nil {
		return nil, fmt.Errorf("chart %s: values: %w", ch.Name(), err)
	}
	type result struct {
		files map[string]string
		err   error
	}
	done := make(chan result, 1)
	b := &budget{}
	go func() {
		files, err := engine.Engine{CustomTemplateFuncs: helmFuncs(b)}.Render(ch, top)
		done <- result{files, err}
	}()
	timer := time.NewTimer(helmRenderTimeout)
	defer timer.Stop()
	select {
	case r := <-done:
		if r.err != nil {
			// Engine errors name the file and line: "template: webapp/templates/x.yaml:12:3: …".
			return nil, fmt.Errorf("chart %s: %w", ch.Name(), r.err)
		}
		return r.files, nil
	case <-timer.C:
		b.stopped.Store(true) // the engine's goroutine ends at its next step
		return nil, fmt.Errorf("chart %s: rendering took more than %v: %w", ch.Name(), helmRenderTimeout, ErrBudgetExceeded)
	}
}

// helmProbeValues are the values of the probe render: the instance spec,
// the team's Values Overrides applied (see renderInstance), with neutralised
// strings and keys (neutraliseHelm); the Promise's values, the chart's and
// the platform's Overrides are trusted.
func helmProbeValues(h *v1alpha1.HelmTemplate, spec map[string]any, in Input) (map[string]any, error) {
	vals, err := helmValues(h, neutraliseHelm(spec).(map[string]any))
	if err != nil {
		return nil, err
	}
	return applyValuesOverrides(vals, in, make([]bool, len(in.Overrides)), true, platformOverride)
}

// chartCRDs are the objects in the crds/ directories of the chart and its
// subcharts. They are not templates.
func chartCRDs(lc *LoadedChart) ([]*unstructured.Unstructured, error) {
	if lc == nil || lc.chart == nil {
		return nil, errors.New("helm chart not loaded (the fleet resources of a Helm Promise include the chart's crds/)")
	}
	var objs []*unstructured.Unstructured
	for _, crd := range lc.chart.CRDObjects() {
		docs, err := decodeDocuments("chart file "+crd.Filename, string(crd.File.Data))
		if err != nil {
			return nil, fmt.Errorf("chart %s: %w", lc.chart.Name(), err)
		}
		objs = append(objs, docs...)
	}
	return objs, nil
}

// cloneChart copies what rendering changes (dependency processing rewrites
// metadata, dependencies and values; templates may modify values), sharing
// the files, which nothing writes.
func cloneChart(c *chart.Chart) *chart.Chart {
	n := *c
	if c.Metadata != nil {
		md := *c.Metadata
		md.Dependencies = make([]*chart.Dependency, len(c.Metadata.Dependencies))
		for i, d := range c.Metadata.Dependencies {
			if d != nil {
				dd := *d
				md.Dependencies[i] = &dd
			}
		}
		if c.Metadata.Dependencies == nil {
			md.Dependencies = nil
		}
		n.Metadata = &md
	}
	n.Values = copyMap(c.Values)
	deps := c.Dependencies()
	clones := make([]*chart.Chart, len(deps))
	for i, d := range deps {
		clones[i] = cloneChart(d)
	}
	n.SetDependencies(clones...)
	return &n
}
