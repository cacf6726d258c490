package placement

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// Instance identifies an instance for Override selection.
type Instance struct {
	Namespace string
	Name      string
	Labels    map[string]string
}

// Subject is one rendering: a Promise's instance (or its fleet resources) on one cluster.
type Subject struct {
	Promise string
	Cluster string
	// Instance is nil for the Promise's fleet resources.
	Instance *Instance
}

// SelectOverrides returns the Overrides that shape subject, in the order they
// apply (SortOverrides): a team's before the platform's, and within each
// lower priority first, so the platform's highest priority is applied last
// and wins a conflict. An Override:
//   - in the platform namespace may shape any instance, and the fleet
//     resources when it has no instanceSelector;
//   - in any other namespace shapes only instances in that namespace, never
//     fleet resources;
//   - with spec.promise set only shapes that Promise's renderings;
//   - with an instanceSelector only instances whose labels match it;
//   - only clusters its clusterSelector matches (empty: every cluster).
//
// Overrides being deleted, and those CheckOverride rejects, shape nothing.
func (v *View) SelectOverrides(overrides []fleetv1alpha1.Override, s Subject) []fleetv1alpha1.Override {
	cluster, ok := v.Cluster(s.Cluster)
	if !ok {
		return nil
	}
	var out []fleetv1alpha1.Override
	for i := range overrides {
		o := &overrides[i]
		if v.Selects(o, s, cluster) {
			out = append(out, *o)
		}
	}
	SortOverrides(out)
	return out
}

// Selects reports whether Override o shapes subject s on cluster.
func (v *View) Selects(o *fleetv1alpha1.Override, s Subject, cluster Cluster) bool {
	return SelectsSubject(o, s.Promise, s.Instance) && v.selectsCluster(o, cluster)
}

// SelectsSubject reports whether Override o shapes the renderings of
// instance inst of promise (nil: the Promise's fleet resources) on the
// clusters its clusterSelector matches: every rule of SelectOverrides but
// the clusterSelector.
func SelectsSubject(o *fleetv1alpha1.Override, promise string, inst *Instance) bool {
	if o.DeletionTimestamp != nil || o.Spec.Promise != "" && o.Spec.Promise != promise {
		return false
	}
	platform := o.Namespace == fleetv1alpha1.PlatformNamespace
	switch {
	case inst == nil:
		if !platform || o.Spec.InstanceSelector != nil {
			return false
		}
	case !platform && o.Namespace != inst.Namespace:
		return false
	case o.Spec.InstanceSelector != nil:
		sel, err := metav1.LabelSelectorAsSelector(o.Spec.InstanceSelector)
		if err != nil || !sel.Matches(labels.Set(inst.Labels)) {
			return false
		}
	}
	// Last: it decodes the patch, and every instance's reconcile asks of
	// every Override, other teams' included.
	return CheckOverride(o) == nil
}

// SelectClusters returns those of overrides whose clusterSelector matches
// cluster name (none if the fleet has no such cluster), in the order they
// apply (SortOverrides). No other rule is checked: overrides were selected
// for the subject already (an instance revision's team Overrides).
func (v *View) SelectClusters(overrides []fleetv1alpha1.Override, name string) []fleetv1alpha1.Override {
	cluster, ok := v.Cluster(name)
	if !ok {
		return nil
	}
	var out []fleetv1alpha1.Override
	for i := range overrides {
		if v.selectsCluster(&overrides[i], cluster) {
			out = append(out, overrides[i])
		}
	}
	SortOverrides(out)
	return out
}

func (v *View) selectsCluster(o *fleetv1alpha1.Override, cluster Cluster) bool {
	m, err := v.Compile(&o.Spec.ClusterSelector)
	return err == nil && m.Matches(cluster)
}

// SortOverrides orders overrides as they apply: the teams' first, then the
// platform's, each by priority, then namespace/name. The platform's come
// last whatever the priorities, so a team's Override never undoes one of
// the platform's (a registry mirror, a resource bound): a team chooses its
// own priority, and the platform namespace sorts before most team names.
func SortOverrides(overrides []fleetv1alpha1.Override) {
	platform := func(o fleetv1alpha1.Override) bool { return o.Namespace == fleetv1alpha1.PlatformNamespace }
	slices.SortFunc(overrides, func(a, b fleetv1alpha1.Override) int {
		return cmp.Or(compareBool(platform(a), platform(b)), cmp.Compare(a.Spec.Priority, b.Spec.Priority),
			cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
}

// compareBool orders false before true.
func compareBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

// OverrideKey is how a Work lists an Override: namespace/name.
func OverrideKey(o *fleetv1alpha1.Override) string { return o.Namespace + "/" + o.Name }

// CheckOverride returns why an Override cannot shape anything, or nil:
// selectors that do not parse, a patch that is not a JSON object, and, for a
// team's Override (outside the platform namespace), a patch that would move
// or rename rendered resources (metadata.namespace or metadata.name), since
// a team may only change its own instances where they are.
func CheckOverride(o *fleetv1alpha1.Override) error {
	if s := o.Spec.ClusterSelector.Selector; s != nil {
		if _, err := metav1.LabelSelectorAsSelector(s); err != nil {
			return fmt.Errorf("spec.clusterSelector.selector: %w", err)
		}
	}
	if s := o.Spec.InstanceSelector; s != nil {
		if _, err := metav1.LabelSelectorAsSelector(s); err != nil {
			return fmt.Errorf("spec.instanceSelector: %w", err)
		}
	}
	var patch map[string]any
	if err := json.Unmarshal(o.Spec.Patch.Raw, &patch); err != nil || patch == nil {
		return errors.New("spec.patch: must be an object")
	}
	if o.Namespace == fleetv1alpha1.PlatformNamespace || o.Spec.Type == fleetv1alpha1.PatchValues {
		return nil
	}
	if meta, ok := patch["metadata"].(map[string]any); ok {
		for _, field := range []string{"namespace", "name"} {
			if _, set := meta[field]; set {
				return &ScopeError{Field: "spec.patch.metadata." + field,
					Message: fmt.Sprintf("an Override in namespace %s may not move or rename rendered resources", o.Namespace)}
			}
		}
	}
	return nil
}

// ScopeError is a team's Override reaching beyond the team's own instances.
type ScopeError struct {
	Field   string
	Message string
}

func (e *ScopeError) Error() string { return e.Field + ": " + e.Message }
