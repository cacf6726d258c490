package render

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	jsonpatch "github.com/evanphx/json-patch/v5"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	// The scheme is only a registry of Kubernetes' built-in Go types, which
	// strategic merge patches need for their merge keys; nothing talks to a cluster.

	"github.com/flotilla-dev/flotilla/api/v1alpha1"
)

func overrideName(o *v1alpha1.Override) string {
	return o.Namespace + "/" + o.Name
}

// OverrideError is an Override a render refuses: a team's patch that reaches
// beyond the objects it patches (their identity, a $ directive) or values
// that break the Promise's schema. Nothing of the render is used.
type OverrideError struct {
	// Override is "<namespace>/<name>".
	Override string
	// Reason says what the patch may not do.
	Reason string
}

func (e *OverrideError) Error() string { return "override " + e.Override + ": " + e.Reason }

// teamOverride says whether o is a team's: any Override outside the platform
// namespace. A team's patch stays inside the objects it patches; the platform
// team's is unrestricted (but its result is still checked against the
// instance's scope).
func teamOverride(o *v1alpha1.Override) bool {
	return o.Namespace != v1alpha1.PlatformNamespace
}

// identityFields are what a team's JSONMerge or StrategicMerge patch may not
// set: they decide which object is written, not how it looks.
var identityFields = [][]string{{"apiVersion"}, {"kind"}, {"metadata", "name"}, {"metadata", "namespace"}}

// CheckTeamPatch judges a team's JSONMerge or StrategicMerge Override from
// its spec alone: the patch may use no $ directive ($patch, $retainKeys,
// $setElementOrder, $deleteFromPrimitiveList…) anywhere, may not set or
// remove apiVersion, kind, metadata.name or metadata.namespace, nor replace
// metadata as a whole. It returns nil for platform Overrides and Values
// patches (those are judged against the Promise's schema at render time),
// else an *OverrideError.
func CheckTeamPatch(o *v1alpha1.Override) error {
	if !teamOverride(o) || (o.Spec.Type != v1alpha1.PatchJSONMerge && o.Spec.Type != v1alpha1.PatchStrategicMerge) {
		return nil
	}
	patch, err := rawObject(&o.Spec.Patch)
	if err != nil {
		return &OverrideError{Override: overrideName(o), Reason: "patch: " + err.Error()}
	}
	refuse := func(format string, args ...any) error {
		return &OverrideError{Override: overrideName(o), Reason: fmt.Sprintf(format, args...)}
	}
	if path, key, ok := directive(patch, "patch"); ok {
		return refuse("the patch uses %q at %s: a team's Override may not use $ directives, which can drop or replace whole parts of an object",
			key, path)
	}
	if path, n := longestList(patch, "patch"); o.Spec.Type == v1alpha1.PatchStrategicMerge && n > maxMergedListItems {
		return refuse("the patch has a list of %d items at %s, more than %d: a strategic merge of lists takes time that grows with the square of their length",
			n, path, maxMergedListItems)
	}
	if md, ok := patch["metadata"]; ok {
		if _, isMap := md.(map[string]any); !isMap {
			return refuse("the patch replaces metadata: a team's Override may change labels and annotations, not an object's identity")
		}
	}
	for _, f := range identityFields {
		if _, set, _ := unstructured.NestedFieldNoCopy(patch, f...); set {
			return refuse("the patch sets %s: a team's Override changes objects, never which object (apiVersion, kind, metadata.name, metadata.namespace)",
				strings.Join(f, "."))
		}
	}
	for _, field := range []string{"labels", "annotations"} {
		keys, _, _ := unstructured.NestedFieldNoCopy(patch, "metadata", field)
		m, _ := keys.(map[string]any)
		for key := range m {
			if managementKey(key) {
				return refuse("the patch sets metadata.%s[%s]: keys of %s tell Flotilla (or the GitOps tool) how to manage the object (prune, reconcile), which is the platform's to say",
					field, key, strings.Join(managementDomains, ", "))
			}
		}
	}
	return nil
}

// directive finds the first key beginning with $ in v (maps in sorted key
// order, lists in order) and returns its path.
func directive(v any, path string) (string, string, bool) {
	switch v := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if strings.HasPrefix(k, "$") {
				return path, k, true
			}
			if p, key, ok := directive(v[k], path+"."+k); ok {
				return p, key, true
			}
		}
	case []any:
		for i, e := range v {
			if p, key, ok := directive(e, fmt.Sprintf("%s[%d]", path, i)); ok {
				return p, key, true
			}
		}
	}
	return "", "", false
}

// checkIdentity refuses a team's patch result that is not the same object:
// apiVersion, kind, name and namespace must be as rendered. (CheckTeamPatch
// refuses the patches that say so; this catches any other way there.)
func checkIdentity(o *v1alpha1.Override, before, after *unstructured.Unstructured) error {
	for _, f := range []struct {
		field     string
		was, will string
	}{
		{"apiVersion", before.GetAPIVersion(), after.GetAPIVersion()},
		{"kind", before.GetKind(), after.GetKind()},
		{"metadata.name", before.GetName(), after.GetName()},
		{"metadata.namespace", before.GetNamespace(), after.GetNamespace()},
	} {
		if f.was != f.will {
			return &OverrideError{Override: overrideName(o), Reason: fmt.Sprintf(
				"patching %s would change %s from %q to %q: a team's Override changes objects, never which object", keyOf(before), f.field, f.was, f.will)}
		}
	}
	for _, m := range []struct {
		field     string
		was, will map[string]string
	}{
		{"metadata.labels", before.GetLabels(), after.GetLabels()},
		{"metadata.annotations", before.GetAnnotations(), after.GetAnnotations()},
	} {
		if key, ok := managementKeyChanged(m.was, m.will); ok {
			return &OverrideError{Override: overrideName(o), Reason: fmt.Sprintf(
				"patching %s would change %s[%s]: keys of %s tell Flotilla (or the GitOps tool) how to manage the object (prune, reconcile), which is the platform's to say",
				keyOf(before), m.field, key, strings.Join(managementDomains, ", "))}
		}
	}
	return nil
}

// managementKeyChanged returns a management key (managementKey) that is
// added, removed or changed between was and will. A team's Override that set
// fleet.flotilla.dev/prune: disabled (or Flux's, or Argo CD's equivalent) on
// its objects would leave them on members once its instance is deleted, or
// its tenancy revoked; reconcile: disabled would take them out of drift
// correction.
func managementKeyChanged(was, will map[string]string) (string, bool) {
	for _, pair := range [][2]map[string]string{{was, will}, {will, was}} {
		for key, value := range pair[0] {
			if other, ok := pair[1][key]; managementKey(key) && (!ok || other != value) {
				return key, true
			}
		}
	}
	return "", false
}

// managementKey says whether a label or annotation key tells whoever applies
// the object how to manage it: Flotilla's own domain (fleet.flotilla.dev/…
// or a subdomain's), or, on git-delivered clusters, the GitOps tool's:
// Flux's (kustomize.toolkit.fluxcd.io/prune, …/reconcile, …/ssa) and Argo
// CD's (argocd.argoproj.io/sync-options: Prune=false, …/compare-options,
// and Helm's helm.sh/hook and helm.sh/resource-policy, which it reads too).
func managementKey(key string) bool {
	prefix, _, found := strings.Cut(key, "/")
	if !found {
		return false
	}
	for _, domain := range managementDomains {
		if prefix == domain || strings.HasSuffix(prefix, "."+domain) {
			return true
		}
	}
	return false
}

// managementDomains are the domains of the label and annotation keys a
// team's Override may not set or change (see managementKey).
// Argo CD reads Helm's hook annotations on any manifest as its own (a hook
// is never pruned when it leaves the directory; helm.sh/resource-policy:
// keep is its Delete=false), so Helm's domain is one of them.
var managementDomains = []string{v1alpha1.Group, "fluxcd.io", "argoproj.io", "helm.sh"}

// forPromise says whether an Override may shape this Promise's render: one
// that names another Promise never does. (Cluster, namespace and instance
// selection are the caller's.)
func forPromise(o *v1alpha1.Override, promise string) bool {
	return o.Spec.Promise == "" || o.Spec.Promise == promise
}

// applyValuesOverrides merges the patch of every Values Override that use
// selects over vals (an RFC 7386 merge patch: null removes a key; with
// keepNull it stays null, for Helm) and marks them applied.
//
// vals is the instance spec when use selects team Overrides: after each,
// the spec must still be one the API server would accept for the instance,
// valid against the Promise's api.schema (types, formats, enums, bounds,
// x-kubernetes-validations rules) and with no field the schema does not
// declare. A team cannot make with an Override what it cannot write in its
// instance; for Helm neither, so its Overrides patch the spec, not the
// chart's values (where the Promise's helm.values pin what teams may not
// set), which only the platform's Overrides patch.
func applyValuesOverrides(vals map[string]any, in Input, applied []bool, keepNull bool, use func(*v1alpha1.Override) bool) (map[string]any, error) {
	var schema *specValidator
	for i := range in.Overrides {
		o := &in.Overrides[i]
		if o.Spec.Type != v1alpha1.PatchValues || !forPromise(o, in.Promise) || !use(o) {
			continue
		}
		patch, err := rawObject(&o.Spec.Patch)
		if err != nil {
			return nil, fmt.Errorf("override %s: patch: %w", overrideName(o), err)
		}
		if !teamOverride(o) {
			vals = merge(vals, patch, keepNull)
			applied[i] = true
			continue
		}
		if schema == nil {
			if schema, err = cachedSpecValidator(in.Content.API.Schema.Raw); err != nil {
				return nil, fmt.Errorf("override %s: the Promise's api.schema: %w", overrideName(o), err)
			}
		}
		// Only what the patch breaks counts: a spec the schema already
		// refuses in part (an instance rendered at an older revision than
		// the CRD's, say) is not the team Override's doing.
		before := schema.fieldErrors(vals, true)
		vals = merge(vals, patch, keepNull)
		applied[i] = true
		if broken := newErrors(before, schema.fieldErrors(vals, true)); len(broken) > 0 {
			return nil, &OverrideError{Override: overrideName(o), Reason: "the values it patches in break the Promise's schema: " + joinErrors(broken)}
		}
	}
	return vals, nil
}

// anyOverride and platformOverride select the Overrides applyValuesOverrides applies.
func anyOverride(*v1alpha1.Override) bool        { return true }
func platformOverride(o *v1alpha1.Override) bool { return !teamOverride(o) }

// applyPatchOverrides applies every JSONMerge and StrategicMerge Override to
// the objects its resource selectors match, in order, and marks those that
// matched something applied.
func applyPatchOverrides(objs []*unstructured.Unstructured, in Input, applied []bool) ([]*unstructured.Unstructured, error) {
	for i := range in.Overrides {
		o := &in.Overrides[i]
		switch o.Spec.Type {
		case v1alpha1.PatchJSONMerge, v1alpha1.PatchStrategicMerge:
		case v1alpha1.PatchValues:
			continue
		default:
			return nil, fmt.Errorf("override %s: unknown patch type %q", overrideName(o), o.Spec.Type)
		}
		if !forPromise(o, in.Promise) {
			continue
		}
		team := teamOverride(o)
		if team {
			if err := CheckTeamPatch(o); err != nil {
				return nil, err
			}
		}
		patch, err := patchJSON(o)
		if err != nil {
			return nil, err
		}
		for j, obj := range objs {
			if !selects(o.Spec.Resources, obj) || (team && isNamespaceObject(obj)) {
				continue
			}
			patched, err := patchObject(obj, o.Spec.Type, patch)
			if err != nil {
				return nil, fmt.Errorf("override %s: patching %s: %w", overrideName(o), keyOf(obj), err)
			}
			if team {
				if err := checkIdentity(o, obj, patched); err != nil {
					return nil, err
				}
			}
			objs[j] = patched
			applied[i] = true
		}
	}
	return objs, nil
}

// isNamespaceObject says whether obj is a Namespace: the one cluster-scoped
// object an instance may render. A team's Override never patches it, whatever
// its resources say: a Namespace's labels and annotations are the member's
// policy for everything in it (Pod Security Admission's level, the selectors
// of network and mesh policies), which is not the team's to set.
func isNamespaceObject(obj *unstructured.Unstructured) bool {
	gvk := obj.GroupVersionKind()
	return gvk.Group == "" && gvk.Kind == "Namespace"
}

func patchJSON(o *v1alpha1.Override) ([]byte, error) {
	m, err := rawObject(&o.Spec.Patch)
	if err == nil {
		var j []byte
		if j, err = json.Marshal(m); err == nil {
			return j, nil
		}
	}
	return nil, fmt.Errorf("override %s: patch: %w", overrideName(o), err)
}

// selects says whether any selector matches obj; no selectors match everything.
func selects(sels []v1alpha1.ResourceSelector, obj *unstructured.Unstructured) bool {
	if len(sels) == 0 {
		return true
	}
	gvk := obj.GroupVersionKind()
	for _, s := range sels {
		if (s.Group == "*" || s.Group == gvk.Group) &&
			s.Kind == gvk.Kind &&
			(s.Namespace == "" || s.Namespace == obj.GetNamespace()) &&
			(s.Name == "" || s.Name == obj.GetName()) {
			return true
		}
	}
	return false
}

// patchObject applies one patch to a copy of obj. A strategic merge patch on a
// kind that is not one of Kubernetes' built-in types (a CRD's kind, say) has
// no merge keys to go by and is applied as a JSON merge patch instead.
func patchObject(obj *unstructured.Unstructured, typ v1alpha1.PatchType, patch []byte) (*unstructured.Unstructured, error) {
	orig, err := obj.MarshalJSON()
	if err != nil {
		return nil, err
	}
	var out []byte
	if typ == v1alpha1.PatchStrategicMerge {
		if typed, terr := builtinTypes.New(obj.GroupVersionKind()); terr == nil {
			if err := checkMergedLists(obj.Object, patch); err != nil {
				return nil, err
			}
			out, err = strategicpatch.StrategicMergePatch(orig, patch, typed)
		} else {
			out, err = jsonpatch.MergePatch(orig, patch)
		}
	} else {
		out, err = jsonpatch.MergePatch(orig, patch)
	}
	if err != nil {
		return nil, err
	}
	patched, err := decodeObject(out)
	if err != nil {
		return nil, err
	}
	if err := checkObject(patched); err != nil {
		return nil, fmt.Errorf("result: %w", err)
	}
	return patched, nil
}

// maxMergedListItems bounds the lists a strategic merge patch merges: the
// patch's, and what it merges them with in the object (Kubernetes'
// strategic merge orders a merged list with a search per item, time that
// grows with the square of its length: a team's patch of 7,500 env
// entries took 7 s of the hub's CPU per cluster, as did a platform patch
// on a list a team's values made 10,000 items long). 1,000 items merge in
// ≈ 0.1 s.
const maxMergedListItems = 1000

// checkMergedLists refuses a strategic merge patch that merges a list of
// the object, with the patch's, into more than maxMergedListItems items.
// Where the patch has a list, the longest list in the object's value there
// and the longest in the patch's count together (no merge key is needed to
// bound it).
func checkMergedLists(obj map[string]any, patchJSON []byte) error {
	var patch map[string]any
	if err := json.Unmarshal(patchJSON, &patch); err != nil {
		return err
	}
	var walk func(o, p any, path string) error
	walk = func(o, p any, path string) error {
		switch p := p.(type) {
		case map[string]any:
			om, _ := o.(map[string]any)
			for _, k := range slices.Sorted(maps.Keys(p)) {
				if err := walk(om[k], p[k], path+"."+k); err != nil {
					return err
				}
			}
		case []any:
			_, inPatch := longestList(p, path)
			_, inObject := longestList(o, path)
			if n := inPatch + inObject; n > maxMergedListItems {
				return fmt.Errorf("a strategic merge at %s would merge lists of %d items, more than %d (one merges in time that grows with the square of its length): shorten the list or use a JSONMerge patch",
					strings.TrimPrefix(path, "."), n, maxMergedListItems)
			}
		}
		return nil
	}
	return walk(obj, patch, "")
}

// longestList returns the longest list in v (v itself, or one nested in
// it) and its path under path.
func longestList(v any, path string) (string, int) {
	longest, n := "", 0
	var walk func(v any, path string)
	walk = func(v any, path string) {
		switch v := v.(type) {
		case map[string]any:
			for k, e := range v {
				walk(e, path+"."+k)
			}
		case []any:
			if len(v) > n {
				longest, n = path, len(v)
			}
			item := path + "[*]"
			for _, e := range v {
				walk(e, item)
			}
		}
	}
	walk(v, path)
	return longest, n
}

// teamManagementKeys returns the strings of a team's inputs to an instance's
// render (map keys and string values of its spec and of its team's Values
// Overrides) that are management keys (managementKey) or Pod Security keys
// (podSecurityKey), and the Pod Security keys of its labels and annotations.
func teamManagementKeys(in Input, spec map[string]any) map[string]bool {
	found := map[string]bool{}
	guarded := func(s string) bool { return managementKey(s) || podSecurityKey(s) }
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, e := range v {
				if guarded(k) {
					found[k] = true
				}
				walk(e)
			}
		case []any:
			for _, e := range v {
				walk(e)
			}
		case string:
			if guarded(v) {
				found[v] = true
			}
		}
	}
	walk(spec)
	for i := range in.Overrides {
		o := &in.Overrides[i]
		if o.Spec.Type != v1alpha1.PatchValues || !teamOverride(o) || !forPromise(o, in.Promise) {
			continue
		}
		if patch, err := rawObject(&o.Spec.Patch); err == nil {
			walk(patch)
		}
	}
	// The templates never see the instance's own management keys
	// (withoutManagementKeys); its Pod Security keys they do.
	for _, m := range []map[string]string{in.Instance.GetLabels(), TemplateAnnotations(in.Instance.GetAnnotations())} {
		for k := range m {
			if podSecurityKey(k) {
				found[k] = true
			}
		}
	}
	return found
}

// podSecurityKey says whether a label key is Pod Security Admission's: on a
// Namespace object it sets the level of every Pod in the namespace.
func podSecurityKey(key string) bool {
	return strings.HasPrefix(key, "pod-security.kubernetes.io/")
}

// checkValueMadeKeys refuses an instance's render in which a label or
// annotation key of a management domain on an object's metadata is one a
// team's input holds (teamManagementKeys): a template that prints a map of
// the instance's as labels or annotations (toYaml, a range over its keys, a
// chart's commonAnnotations) lets the team choose their keys, and
// fleet.flotilla.dev/prune: disabled (or the GitOps tools' equivalent) would
// leave its objects on members once the instance or the team's tenancy is
// gone, as a team's Override may not. Nor a Pod Security label of a
// Namespace object (pod-security.kubernetes.io/enforce: privileged), which a
// team's Override never patches either. Keys the templates write themselves
// are the platform's, as are its Overrides'.
func checkValueMadeKeys(objs []*unstructured.Unstructured, team map[string]bool) error {
	if len(team) == 0 {
		return nil
	}
	for _, obj := range objs {
		for _, m := range []struct {
			field string
			keys  map[string]string
		}{{"metadata.labels", obj.GetLabels()}, {"metadata.annotations", obj.GetAnnotations()}} {
			for key := range m.keys {
				switch {
				case !team[key]:
				case managementKey(key):
					return fmt.Errorf("%s %s has the key %s, which a value of the instance (its spec, labels or annotations, or a team's Values Override) gave: keys of %s tell Flotilla (or the GitOps tool) how to manage the object (prune, reconcile), which is the platform's to say: %w",
						keyOf(obj), m.field, key, strings.Join(managementDomains, ", "), ErrValueCreatesStructure)
				case isNamespaceObject(obj) && podSecurityKey(key):
					return fmt.Errorf("%s %s has the key %s, which a value of the instance (its spec, labels or annotations, or a team's Values Override) gave: the Pod Security labels of a namespace are the platform's to set: %w",
						keyOf(obj), m.field, key, ErrValueCreatesStructure)
				}
			}
		}
	}
	return nil
}
