// Package render turns a PromiseRevision, an instance, facts about one member
// cluster and the Overrides selected for them into the manifests that cluster
// should run. It is pure: no API server, no network, no clock. The same Input
// always gives byte-identical manifests.
//
// Two engines render instances: Go text/templates (the default) and Helm
// charts, rendered in-process with the Helm SDK. A Promise's fleet resources
// are complete objects and are not templated. Overrides patch the render
// input (type Values) or the rendered objects (JSONMerge, StrategicMerge).
//
// Loading a chart archive (LoadChart) is separate from rendering; fetching
// one from a repository is internal/chartfetch's. The package does no I/O.
//
// See docs/templates.md for the template data, functions and error messages.
package render

import (
	"errors"
	"fmt"
	"sort"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/scope"
)

// ClusterFacts is what templates may know about the target cluster.
type ClusterFacts struct {
	// Name of the Cluster.
	Name string
	// Labels of the Cluster (env, region, tier, …).
	Labels map[string]string
	// KubernetesVersion reported by the cluster's agent, e.g. v1.36.2; may be empty.
	KubernetesVersion string
}

// Input is everything one render depends on; Render is a pure function of it.
type Input struct {
	// Promise is the Promise name.
	Promise string
	// Revision is the PromiseRevision name; it goes into labels.
	Revision string
	// Content is the revision's snapshot.
	Content *v1alpha1.PromiseContent
	// Instance is the instance to render; nil when rendering fleet resources.
	Instance *unstructured.Unstructured
	// Cluster is the target cluster.
	Cluster ClusterFacts
	// Overrides are already selected for this cluster (and instance) and are
	// applied in the given order.
	Overrides []v1alpha1.Override
	// Chart is the Helm chart, already fetched and loaded by the caller; nil for GoTemplate.
	Chart *LoadedChart
	// Scope confines an instance's render (scope.ForInstance of the
	// revision's output): every object, after all Overrides, must be inside
	// it, or the render fails with a *scope.Violation. Nil confines nothing;
	// the hub always sets it for instances. Fleet resources ignore it.
	Scope *v1alpha1.WorkScope
}

// Output is the result of one render.
type Output struct {
	// Manifests are the rendered objects, sorted by group, kind, namespace and name.
	Manifests []*unstructured.Unstructured
	// AppliedOverrides are the Overrides that shaped Manifests, as
	// "<namespace>/<name>", in the order applied. An Override that selected
	// nothing in this render is not listed.
	AppliedOverrides []string
}

// Render renders an instance into the manifests for one cluster.
func Render(in Input) (Output, error) {
	if in.Instance == nil {
		return Output{}, fmt.Errorf("rendering promise %s: no instance (fleet resources render with RenderFleetResources)", in.Promise)
	}
	out, err := checkedRender(in)
	if err == nil && len(out.Manifests) == 0 {
		err = ErrRenderedNothing
	}
	if err != nil {
		return Output{}, fmt.Errorf("rendering promise %s for %s/%s: %w",
			in.Promise, in.Instance.GetNamespace(), in.Instance.GetName(), err)
	}
	return out, nil
}

// ErrRenderedNothing refuses an instance's render of no object. Its Work
// would hold nothing, and the agent would prune all the instance runs on
// the cluster and report that healthy: a template whose condition went
// wrong in a new revision would delete a workload wave by wave under a
// Rollout that reads Succeeded. An instance that should run nothing is
// deleted instead.
var ErrRenderedNothing = errors.New("the templates rendered no object for this instance " +
	"(a Work of nothing would remove all it runs on the cluster): check the templates' conditions; " +
	"to remove the instance from its clusters, delete it")

// checkedRender renders an instance whose spec the revision's schema
// accepts (checkSpec), else refuses it. (A Promise's examples are rendered
// by renderInstance directly.)
func checkedRender(in Input) (Output, error) {
	if in.Content != nil {
		spec, err := instanceSpec(in.Instance)
		if err != nil {
			return Output{}, err
		}
		if err := checkSpec(in, spec); err != nil {
			return Output{}, err
		}
	}
	return renderInstance(in)
}

// RenderFleetResources renders the Promise's fleet resources for one cluster:
// spec.fleetResources and, for a Helm Promise, the CRDs in the chart's crds/
// directories (so pass in.Chart here too). in.Instance is ignored. JSONMerge and StrategicMerge Overrides apply to
// the resources they select; Values Overrides have no render input to patch
// here and are neither applied nor listed.
func RenderFleetResources(in Input) (Output, error) {
	out, err := renderFleet(in)
	if err != nil {
		return Output{}, fmt.Errorf("rendering fleet resources of promise %s: %w", in.Promise, err)
	}
	return out, nil
}

func renderInstance(in Input) (Output, error) {
	if in.Content == nil {
		return Output{}, errors.New("no promise content")
	}
	if in.Instance.GetName() == "" {
		return Output{}, errors.New("instance has no name")
	}
	applied := make([]bool, len(in.Overrides))
	var objs []*unstructured.Unstructured
	if t := in.Content.Templates; t != nil {
		spec, err := instanceSpec(in.Instance)
		if err != nil {
			return Output{}, err
		}
		teamKeys := teamManagementKeys(in, spec)
		switch t.Engine {
		case v1alpha1.TemplateEngineGoTemplate, "":
			spec, err = applyValuesOverrides(spec, in, applied, false, anyOverride)
			if err != nil {
				return Output{}, err
			}
			objs, err = renderGoTemplates(t.GoTemplates, templateData(in, spec))
		case v1alpha1.TemplateEngineHelm:
			if t.Helm == nil {
				return Output{}, errors.New("engine Helm without helm")
			}
			// The team's Overrides patch the spec (held to the schema),
			// the platform's the chart's values; the teams' apply first.
			spec, err = applyValuesOverrides(spec, in, applied, true, teamOverride)
			if err != nil {
				return Output{}, err
			}
			var vals map[string]any
			vals, err = helmValues(t.Helm, spec)
			if err != nil {
				return Output{}, err
			}
			vals, err = applyValuesOverrides(vals, in, applied, true, platformOverride)
			if err != nil {
				return Output{}, err
			}
			var probeVals map[string]any
			probeVals, err = helmProbeValues(t.Helm, spec, in)
			if err != nil {
				return Output{}, err
			}
			objs, err = renderHelm(in.Chart, vals, probeVals, in.Instance, in.Cluster)
		default:
			return Output{}, fmt.Errorf("unknown template engine %q", t.Engine)
		}
		if err != nil {
			return Output{}, err
		}
		if err := checkValueMadeKeys(objs, teamKeys); err != nil {
			return Output{}, err
		}
		if t.Engine == v1alpha1.TemplateEngineHelm {
			objs = withoutHooks(objs)
		}
	}
	defaultNamespace(objs, in.Instance.GetNamespace())
	return finish(in, objs, applied, true)
}

func renderFleet(in Input) (Output, error) {
	if in.Content == nil {
		return Output{}, errors.New("no promise content")
	}
	objs := make([]*unstructured.Unstructured, 0, len(in.Content.FleetResources))
	for i, m := range in.Content.FleetResources {
		obj, err := decodeObject(m.Raw)
		if err == nil {
			err = checkObject(obj)
		}
		if err != nil {
			return Output{}, fmt.Errorf("fleetResources[%d]: %w", i, err)
		}
		objs = append(objs, obj)
	}
	if t := in.Content.Templates; t != nil && t.Engine == v1alpha1.TemplateEngineHelm {
		crds, err := chartCRDs(in.Chart)
		if err != nil {
			return Output{}, err
		}
		objs = append(objs, crds...)
	}
	return finish(in, objs, make([]bool, len(in.Overrides)), false)
}

// finish applies the patch Overrides, labels and sorts the objects, and lists
// the Overrides that applied. An instance's objects are then checked against
// in.Scope: one outside it fails the whole render (nothing of it may reach a
// member), with the *scope.Violation wrapped.
func finish(in Input, objs []*unstructured.Unstructured, applied []bool, instance bool) (Output, error) {
	objs, err := applyPatchOverrides(objs, in, applied)
	if err != nil {
		return Output{}, err
	}
	if instance {
		// An Override may have dropped a namespace (a platform one may): an
		// instance's object never lands in the member's default namespace.
		defaultNamespace(objs, in.Instance.GetNamespace())
	}
	for _, obj := range objs {
		setLabels(obj, in, instance)
	}
	if err := sortObjects(objs); err != nil {
		return Output{}, err
	}
	if instance {
		if err := checkScope(in.Scope, objs); err != nil {
			return Output{}, err
		}
	}
	out := Output{Manifests: objs}
	for i, ok := range applied {
		if ok {
			out.AppliedOverrides = append(out.AppliedOverrides, overrideName(&in.Overrides[i]))
		}
	}
	return out, nil
}

// checkScope returns the first object (in output order) outside sc, as a
// wrapped *scope.Violation.
func checkScope(sc *v1alpha1.WorkScope, objs []*unstructured.Unstructured) error {
	if sc == nil {
		return nil
	}
	for _, obj := range objs {
		gvk := obj.GroupVersionKind()
		err := scope.Check(sc, scope.Object{
			Group:         gvk.Group,
			Kind:          gvk.Kind,
			Namespace:     obj.GetNamespace(),
			Name:          obj.GetName(),
			ClusterScoped: scope.BuiltinClusterScoped(gvk.Group, gvk.Kind),
			List:          scope.HasItems(obj.Object),
			Finalizers:    len(obj.GetFinalizers()) > 0,
		})
		if err != nil {
			return fmt.Errorf("refusing the whole render, an object is outside the Promise's output: %w", err)
		}
	}
	return nil
}

// setLabels puts Flotilla's labels on a rendered object; they win over labels
// the template set.
func setLabels(obj *unstructured.Unstructured, in Input, instance bool) {
	labels := obj.GetLabels()
	if labels == nil {
		labels = make(map[string]string, 5)
	}
	labels[v1alpha1.LabelPromise] = in.Promise
	labels[v1alpha1.LabelRevision] = in.Revision
	labels[v1alpha1.LabelManagedBy] = v1alpha1.ManagedByValue
	if instance {
		labels[v1alpha1.LabelInstance] = labelValue(in.Instance.GetName())
		labels[v1alpha1.LabelInstanceNamespace] = in.Instance.GetNamespace()
	}
	obj.SetLabels(labels)
}

// labelValue fits a name into a label value the same way Work labels do: the
// name when it fits, else a truncation made unique by a hash.
func labelValue(name string) string {
	return v1alpha1.WorkLabelValue(name)
}

// objectKey identifies a rendered object; two objects with the same key are an error.
type objectKey struct{ group, kind, namespace, name string }

func keyOf(obj *unstructured.Unstructured) objectKey {
	gvk := obj.GroupVersionKind()
	return objectKey{gvk.Group, gvk.Kind, obj.GetNamespace(), obj.GetName()}
}

func (k objectKey) String() string {
	gk := k.kind
	if k.group != "" {
		gk += "." + k.group
	}
	if k.namespace == "" {
		return gk + " " + k.name
	}
	return gk + " " + k.namespace + "/" + k.name
}

// sortObjects sorts by group, kind, namespace and name and rejects duplicates.
func sortObjects(objs []*unstructured.Unstructured) error {
	keys := make(map[*unstructured.Unstructured]objectKey, len(objs))
	for _, obj := range objs {
		keys[obj] = keyOf(obj)
	}
	sort.SliceStable(objs, func(i, j int) bool {
		a, b := keys[objs[i]], keys[objs[j]]
		if a.group != b.group {
			return a.group < b.group
		}
		if a.kind != b.kind {
			return a.kind < b.kind
		}
		if a.namespace != b.namespace {
			return a.namespace < b.namespace
		}
		return a.name < b.name
	})
	for i := 1; i < len(objs); i++ {
		if keys[objs[i]] == keys[objs[i-1]] {
			return fmt.Errorf("%s is rendered twice", keys[objs[i]])
		}
	}
	return nil
}
