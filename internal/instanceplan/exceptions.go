package instanceplan

import (
	"encoding/json"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/drift"
	"github.com/flotilla-dev/flotilla/internal/placement"
)

// maxWorkExceptions is the Work API's bound on spec.driftExceptions.
const maxWorkExceptions = 16

// ExceptionNamespaces are the namespaces whose DriftExceptions may excuse
// drift on s's Works: the platform namespace (which may excuse any
// instance, and alone the fleet resources) and an instance's own.
func ExceptionNamespaces(s Subject) []string {
	namespaces := []string{fleetv1alpha1.PlatformNamespace}
	if s.Instance != nil && s.Instance.Namespace != fleetv1alpha1.PlatformNamespace {
		namespaces = append(namespaces, s.Instance.Namespace)
	}
	return namespaces
}

// InForce keeps, of excs, those that may excuse drift on s's Works at now:
// in one of ExceptionNamespaces(s), not being deleted, not expired.
func InForce(s Subject, excs []fleetv1alpha1.DriftException, now time.Time) []fleetv1alpha1.DriftException {
	namespaces := ExceptionNamespaces(s)
	var out []fleetv1alpha1.DriftException
	for i := range excs {
		e := &excs[i]
		if slices.Contains(namespaces, e.Namespace) && e.DeletionTimestamp.IsZero() && now.Before(e.Spec.ExpiresAt.Time) {
			out = append(out, *e)
		}
	}
	return out
}

// WorkExceptions picks, from excs (see InForce), those for one Work: whose
// clusterSelector matches cluster and one of whose resource selectors
// matches one of the Work's manifests. They are bounded by the Work API,
// the platform's first (a team's own cannot crowd them out), each
// namespace's by name; the same input always gives the same list, so Works
// are not rewritten for nothing.
func WorkExceptions(view *placement.View, cluster string, objects []drift.Resource, excs []fleetv1alpha1.DriftException) []fleetv1alpha1.WorkDriftException {
	if len(excs) == 0 || view == nil {
		return nil
	}
	c, ok := view.Cluster(cluster)
	if !ok {
		return nil
	}
	var out []fleetv1alpha1.WorkDriftException
	idx := indexObjects(objects)
	for i := range excs {
		e := &excs[i]
		m, err := view.Compile(&e.Spec.ClusterSelector)
		if err != nil || !m.Matches(c) || !idx.selects(e.Spec.Resources) {
			continue
		}
		out = append(out, fleetv1alpha1.WorkDriftException{
			Name:      e.Namespace + "/" + e.Name,
			Resources: slices.Clone(e.Spec.Resources),
			Paths:     slices.Clone(e.Spec.Paths),
			ExpiresAt: e.Spec.ExpiresAt,
		})
	}
	slices.SortFunc(out, func(a, b fleetv1alpha1.WorkDriftException) int {
		if pa, pb := isPlatforms(a.Name), isPlatforms(b.Name); pa != pb {
			if pa {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Name, b.Name)
	})
	if len(out) > maxWorkExceptions {
		out = out[:maxWorkExceptions]
	}
	return out
}

// isPlatforms reports whether the exception named namespace/name is the
// platform's.
func isPlatforms(name string) bool {
	return strings.HasPrefix(name, fleetv1alpha1.PlatformNamespace+"/")
}

// objectIndex answers whether a resource selector matches one of a Work's
// objects (drift.SelectorMatches; an object without a namespace matches a
// selector of any namespace: the agent settles its namespace by the kind's
// scope, and matches exactly) with a few lookups: a team may declare
// thousands of DriftExceptions of 32 selectors each, and each is matched
// against every Work of its instances, on every cluster, at every
// reconcile; scanning the Work's 500 objects per selector took 0.12 ms an
// exception, 1.2 s a Work for 10,000 of them.
type objectIndex map[drift.Resource]bool

// anyNamespace stands, in an objectIndex key, for the namespace of a
// cluster-scoped object: a selector of any namespace matches it.
const anyNamespace = "\x00any"

// indexObjects indexes objects under every key a selector may look one up
// by: its group or "*", its namespace or "" (any), its name or "" (any).
func indexObjects(objects []drift.Resource) objectIndex {
	idx := make(objectIndex, 8*len(objects))
	for _, r := range objects {
		ns := r.Namespace
		if ns == "" {
			ns = anyNamespace
		}
		for _, g := range []string{r.Group, "*"} {
			for _, n := range []string{ns, ""} {
				for _, name := range []string{r.Name, ""} {
					idx[drift.Resource{Group: g, Kind: r.Kind, Namespace: n, Name: name}] = true
				}
			}
		}
	}
	return idx
}

// selects says whether one of sels matches an indexed object.
func (idx objectIndex) selects(sels []fleetv1alpha1.ResourceSelector) bool {
	for _, sel := range sels {
		key := drift.Resource{Group: sel.Group, Kind: sel.Kind, Namespace: sel.Namespace, Name: sel.Name}
		if idx[key] {
			return true
		}
		if sel.Namespace != "" {
			key.Namespace = anyNamespace
			if idx[key] {
				return true
			}
		}
	}
	return false
}

// ExceptionsOnly is the write that brings w, a Work the hub otherwise keeps
// as it is (its render failed, or its subject is held), the DriftExceptions
// in.Exceptions gives it, and nothing else: a change of them applies
// nothing on the member, and a Work kept for a failure of its team's must
// not go on carrying an exception the platform revoked (or expired). ok is
// false when there is nothing to write.
func ExceptionsOnly(w *fleetv1alpha1.Work, in WorkInputs) (Write, bool) {
	if w == nil || !w.DeletionTimestamp.IsZero() {
		return Write{}, false
	}
	excs := WorkExceptions(in.View, w.Spec.Cluster, manifestObjects(w.Spec.Manifests), in.Exceptions)
	if equality.Semantic.DeepEqual(w.Spec.DriftExceptions, excs) {
		return Write{}, false
	}
	desired := w.DeepCopy()
	desired.Status = fleetv1alpha1.WorkStatus{}
	desired.Spec.DriftExceptions = excs
	return Write{Cluster: w.Spec.Cluster, Current: w, Desired: desired, Op: Update}, true
}

// manifestObjects identifies a Work's manifests as exceptions match them;
// one that does not decode matches none.
func manifestObjects(manifests []fleetv1alpha1.Manifest) []drift.Resource {
	out := make([]drift.Resource, 0, len(manifests))
	for _, m := range manifests {
		var obj struct {
			APIVersion string            `json:"apiVersion"`
			Kind       string            `json:"kind"`
			Metadata   metav1.ObjectMeta `json:"metadata"`
		}
		if json.Unmarshal(m.Raw, &obj) != nil {
			continue
		}
		if gv, err := schema.ParseGroupVersion(obj.APIVersion); err == nil {
			out = append(out, drift.Resource{Group: gv.Group, Kind: obj.Kind, Namespace: obj.Metadata.Namespace, Name: obj.Metadata.Name})
		}
	}
	return out
}

// NextExpiry is the earliest expiresAt among the exceptions of works, zero
// when none: the subject is rendered again then, to drop expired ones.
func NextExpiry(works []fleetv1alpha1.Work) time.Time {
	var next time.Time
	for i := range works {
		for _, e := range works[i].Spec.DriftExceptions {
			if t := e.ExpiresAt.Time; next.IsZero() || t.Before(next) {
				next = t
			}
		}
	}
	return next
}
