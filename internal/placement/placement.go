// Package placement decides which member clusters an instance (or a Promise's
// fleet resources) lands on, enforces tenancy, and selects the Overrides that
// shape each rendering. It is pure: the controllers read Clusters, Fleets,
// Namespaces and Overrides from the hub's cache and pass them in.
//
// The rules (docs/placement.md):
//
//   - A ClusterSelector's terms (names, fleets, selector) are ANDed; an empty
//     or nil selector matches every cluster.
//   - An instance lands on the clusters matching the Promise's placement AND
//     the instance's own spec.placement AND belonging to at least one Fleet
//     whose tenants admit the instance's namespace. The platform namespace
//     flotilla-system is admitted everywhere.
//   - When tenancy rules out every Fleet the request could use, that is a
//     violation: the instance gets a condition and no Work.
//   - Clusters being deleted are never placed on.
package placement

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// Cluster is what placement needs to know about a member cluster.
type Cluster struct {
	Name   string
	Labels map[string]string
	// Deleting clusters (deletionTimestamp set) are never placed on.
	Deleting bool
}

// Fleet is a named selector over Clusters and its tenants.
type Fleet struct {
	Name     string
	Selector metav1.LabelSelector
	Tenants  *fleetv1alpha1.Tenants
}

// Namespace is the namespace of an instance, with its labels (Fleet tenants
// may admit namespaces by label).
type Namespace struct {
	Name   string
	Labels map[string]string
}

// Violation reasons.
const (
	// ReasonTenancyViolation: the instance's namespace is not a tenant of the
	// Fleets its placement needs.
	ReasonTenancyViolation = fleetv1alpha1.ReasonTenancyViolation
	// ReasonInvalidSpec: a selector in the placement does not parse.
	ReasonInvalidSpec = fleetv1alpha1.ReasonInvalidSpec
	// ReasonNotFound: the instance names a Fleet that does not exist.
	ReasonNotFound = fleetv1alpha1.ReasonNotFound
)

// Violation is a reason the instance may not be placed at all.
type Violation struct {
	Reason  string
	Message string
}

// Result is where a subject lands.
type Result struct {
	// Clusters are the names of the clusters placed on, sorted. Empty when
	// there are violations.
	Clusters []string
	// Violations, when any, mean the subject is placed nowhere.
	Violations []Violation
}

// Message joins the violations' messages.
func (r Result) Message() string {
	msgs := make([]string, 0, len(r.Violations))
	for _, v := range r.Violations {
		msgs = append(msgs, v.Message)
	}
	return strings.Join(msgs, "; ")
}

// View is the fleet as placement sees it: clusters and which Fleets they
// belong to. Build it once per set of Clusters and Fleets and place many
// subjects with it.
type View struct {
	clusters []Cluster // sorted by name
	byName   map[string]int
	fleets   map[string]*fleetView
}

type fleetView struct {
	fleet   Fleet
	members map[string]bool
	// invalid is set when the Fleet's selector does not parse; it then has no members.
	invalid error
	// tenantsInvalid is set when its tenants.namespaceSelector does not
	// parse: it then admits only the namespaces it lists by name, and may
	// admit any other (brokenFleetViolations).
	tenantsInvalid error
}

// NewView indexes clusters and fleets: which clusters each Fleet holds.
func NewView(clusters []Cluster, fleets []Fleet) *View {
	v := &View{
		clusters: slices.Clone(clusters),
		byName:   make(map[string]int, len(clusters)),
		fleets:   make(map[string]*fleetView, len(fleets)),
	}
	slices.SortFunc(v.clusters, func(a, b Cluster) int { return cmp.Compare(a.Name, b.Name) })
	for i, c := range v.clusters {
		v.byName[c.Name] = i
	}
	for _, f := range fleets {
		fv := &fleetView{fleet: f, members: map[string]bool{}}
		if t := f.Tenants; t != nil && t.NamespaceSelector != nil {
			if _, err := metav1.LabelSelectorAsSelector(t.NamespaceSelector); err != nil {
				fv.tenantsInvalid = fmt.Errorf("tenants.namespaceSelector: %w", err)
			}
		}
		sel, err := metav1.LabelSelectorAsSelector(&f.Selector)
		if err != nil {
			fv.invalid = fmt.Errorf("fleet %s: invalid selector: %w", f.Name, err)
		} else {
			for _, c := range v.clusters {
				if sel.Matches(labels.Set(c.Labels)) {
					fv.members[c.Name] = true
				}
			}
		}
		v.fleets[f.Name] = fv
	}
	return v
}

// Cluster returns the named cluster.
func (v *View) Cluster(name string) (Cluster, bool) {
	i, ok := v.byName[name]
	if !ok {
		return Cluster{}, false
	}
	return v.clusters[i], true
}

// FleetMembers returns the sorted names of a Fleet's clusters.
func (v *View) FleetMembers(fleet string) []string {
	fv, ok := v.fleets[fleet]
	if !ok {
		return nil
	}
	out := make([]string, 0, len(fv.members))
	for name := range fv.members {
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}

// InFleet reports whether cluster is a member of fleet.
func (v *View) InFleet(cluster, fleet string) bool {
	fv, ok := v.fleets[fleet]
	return ok && fv.members[cluster]
}

// Admits reports whether fleet's tenants admit namespace ns. The platform
// namespace is always admitted.
func Admits(f Fleet, ns Namespace) bool {
	if ns.Name == fleetv1alpha1.PlatformNamespace {
		return true
	}
	t := f.Tenants
	if t == nil {
		return false
	}
	if slices.Contains(t.Namespaces, ns.Name) {
		return true
	}
	if t.NamespaceSelector == nil {
		return false
	}
	sel, err := metav1.LabelSelectorAsSelector(t.NamespaceSelector)
	if err != nil {
		return false
	}
	return sel.Matches(labels.Set(ns.Labels))
}

// Matcher is a compiled ClusterSelector.
type Matcher struct {
	names    map[string]bool
	fleets   []string
	selector labels.Selector
	view     *View
}

// Compile compiles s against the view; nil matches every cluster.
func (v *View) Compile(s *fleetv1alpha1.ClusterSelector) (*Matcher, error) {
	m := &Matcher{view: v}
	if s == nil {
		return m, nil
	}
	if len(s.Names) > 0 {
		m.names = make(map[string]bool, len(s.Names))
		for _, n := range s.Names {
			m.names[n] = true
		}
	}
	m.fleets = s.Fleets
	if s.Selector != nil {
		sel, err := metav1.LabelSelectorAsSelector(s.Selector)
		if err != nil {
			return nil, fmt.Errorf("invalid selector: %w", err)
		}
		m.selector = sel
	}
	return m, nil
}

// Matches reports whether cluster c matches every term of the selector.
func (m *Matcher) Matches(c Cluster) bool {
	if m.names != nil && !m.names[c.Name] {
		return false
	}
	if len(m.fleets) > 0 && !slices.ContainsFunc(m.fleets, func(f string) bool { return m.view.InFleet(c.Name, f) }) {
		return false
	}
	if m.selector != nil && !m.selector.Matches(labels.Set(c.Labels)) {
		return false
	}
	return true
}

// Request is what is being placed.
type Request struct {
	// Promise is the Promise's placement; nil matches every cluster.
	Promise *fleetv1alpha1.ClusterSelector
	// Instance is the instance's spec.placement; nil does not narrow.
	Instance *fleetv1alpha1.ClusterSelector
	// Namespace is the instance's namespace; the platform namespace (fleet
	// resources, platform-owned instances) is admitted by every Fleet and may
	// also use clusters that belong to no Fleet.
	Namespace Namespace
}

// Place returns the clusters req lands on, or the violations that keep it
// from landing anywhere.
func (v *View) Place(req Request) Result {
	var violations []Violation
	promise, err := v.Compile(req.Promise)
	if err != nil {
		violations = append(violations, Violation{ReasonInvalidSpec, "the Promise's placement: " + err.Error()})
	}
	instance, err := v.Compile(req.Instance)
	if err != nil {
		violations = append(violations, Violation{ReasonInvalidSpec, "spec.placement: " + err.Error()})
	}
	// A broken Fleet first: it may be why no Fleet admits the namespace.
	violations = append(violations, v.brokenFleetViolations(req)...)
	violations = append(violations, v.tenancyViolations(req)...)
	if len(violations) > 0 {
		return Result{Violations: violations}
	}
	platform := req.Namespace.Name == fleetv1alpha1.PlatformNamespace
	var admitted []*fleetView
	if !platform {
		for _, fv := range v.fleets {
			if fv.invalid == nil && Admits(fv.fleet, req.Namespace) {
				admitted = append(admitted, fv)
			}
		}
	}
	var out []string
	for _, c := range v.clusters {
		if c.Deleting || !promise.Matches(c) || !instance.Matches(c) {
			continue
		}
		if !platform && !slices.ContainsFunc(admitted, func(fv *fleetView) bool { return fv.members[c.Name] }) {
			continue
		}
		out = append(out, c.Name)
	}
	return Result{Clusters: out}
}

// tenancyViolations explains why the namespace may not place req at all:
//   - a Fleet the instance names itself does not exist or does not admit it;
//   - none of the Fleets the Promise names admits it;
//   - no Fleet at all admits it.
func (v *View) tenancyViolations(req Request) []Violation {
	ns := req.Namespace
	if ns.Name == fleetv1alpha1.PlatformNamespace {
		return nil
	}
	var out []Violation
	if req.Instance != nil {
		for _, name := range req.Instance.Fleets {
			fv, ok := v.fleets[name]
			switch {
			case !ok:
				out = append(out, Violation{ReasonNotFound, fmt.Sprintf("spec.placement names Fleet %q, which does not exist", name)})
			case !Admits(fv.fleet, ns):
				out = append(out, Violation{ReasonTenancyViolation, fmt.Sprintf("namespace %s is not a tenant of Fleet %s", ns.Name, name)})
			}
		}
		if len(out) > 0 {
			return out
		}
	}
	if req.Promise != nil && len(req.Promise.Fleets) > 0 {
		if !slices.ContainsFunc(req.Promise.Fleets, func(name string) bool {
			fv, ok := v.fleets[name]
			return ok && Admits(fv.fleet, ns)
		}) {
			return []Violation{{ReasonTenancyViolation, fmt.Sprintf("namespace %s is not a tenant of any Fleet of the Promise's placement (%s)",
				ns.Name, strings.Join(req.Promise.Fleets, ", "))}}
		}
		return nil
	}
	for _, fv := range v.fleets {
		if Admits(fv.fleet, ns) {
			return nil
		}
	}
	return []Violation{{ReasonTenancyViolation, fmt.Sprintf("namespace %s is not a tenant of any Fleet", ns.Name)}}
}

// brokenFleetViolations holds an instance that may land through a Fleet whose
// selector does not parse (the API server refuses unknown operators, not a
// value with a space, nor a selector stored before it did). Such a Fleet
// holds no cluster; placed without it, the instance would lose its Works on
// every cluster the Fleet held, and the agents would prune what runs there,
// for a typo. A violation keeps its Works as they are until the Fleet is
// fixed. The same goes for a Fleet whose tenants.namespaceSelector does not
// parse: whether it admits a namespace it does not list by name cannot be
// told, so an instance of such a namespace is held too.
func (v *View) brokenFleetViolations(req Request) []Violation {
	platform := req.Namespace.Name == fleetv1alpha1.PlatformNamespace
	names := make([]string, 0, len(v.fleets))
	for name, fv := range v.fleets {
		if fv.invalid != nil || fv.tenantsInvalid != nil && !platform && !Admits(fv.fleet, req.Namespace) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	var out []Violation
	for _, name := range names {
		fv := v.fleets[name]
		named := (req.Promise != nil && slices.Contains(req.Promise.Fleets, name)) ||
			(req.Instance != nil && slices.Contains(req.Instance.Fleets, name))
		if platform && !named {
			continue // the platform namespace lands without Fleets
		}
		if !platform && !Admits(fv.fleet, req.Namespace) && fv.tenantsInvalid == nil {
			continue
		}
		if !named && ((req.Promise != nil && len(req.Promise.Fleets) > 0) || (req.Instance != nil && len(req.Instance.Fleets) > 0)) {
			continue // narrowed to other Fleets
		}
		why := errors.Unwrap(fv.invalid)
		if fv.invalid == nil {
			why = fv.tenantsInvalid
		}
		out = append(out, Violation{ReasonInvalidSpec, fmt.Sprintf(
			"Fleet %s: %v; instances it admits are held where they are until its selector is fixed", name, why)})
	}
	return out
}
