package fleetview

import (
	"cmp"
	"slices"
	"strings"
	"time"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/drift"
)

// MaxDriftItems bounds View.Drift.Items and View.Drift.PerCluster; the counts stay whole.
const MaxDriftItems = 50

// Drift is drift across the fleet as the agents report it on their Works:
// resources whose live objects differ from what was applied, unexplained
// (the drift policy applies) or accepted (a DriftException excuses them).
type Drift struct {
	// Resources counts drifted resources by state.
	Resources DriftCounts `json:"resources"`
	// Clusters counts clusters with drifted resources in each state; a
	// cluster with both counts under both, and once in Total.
	Clusters DriftCounts `json:"clusters"`
	// Corrections is the total the agents made (status.drift.corrections).
	Corrections int64 `json:"corrections"`
	// Promises are the Promises with drifted resources, by name.
	Promises []PromiseDrift `json:"promises"`
	// PerCluster are the clusters with drifted resources, most unexplained
	// drift first, then by name; bounded like Items (Clusters.Total counts all).
	PerCluster []ClusterDrift `json:"perCluster"`
	// Items are the drifted resources, unexplained first, oldest first; a
	// View keeps at most MaxDriftItems of them, and when there are more,
	// each owner and each cluster takes its turn within each state
	// (inTurns). Resources counts every one, listed or not.
	Items []DriftedResource `json:"items"`
}

// DriftCounts counts by drift state.
type DriftCounts struct {
	Unexplained int `json:"unexplained"`
	Accepted    int `json:"accepted"`
	Total       int `json:"total"`
}

func (c *DriftCounts) add(state fleetv1alpha1.DriftState) {
	if state == fleetv1alpha1.DriftAccepted {
		c.Accepted++
	} else {
		c.Unexplained++
	}
	c.Total++
}

// PromiseDrift is the drift of one Promise's resources.
type PromiseDrift struct {
	Promise   string      `json:"promise"`
	Resources DriftCounts `json:"resources"`
	// Clusters counts the clusters where the Promise has drifted resources.
	Clusters int `json:"clusters"`
}

// ClusterDrift is the drift on one cluster.
type ClusterDrift struct {
	Cluster   string      `json:"cluster"`
	Resources DriftCounts `json:"resources"`
}

// DriftedResource is one drifted resource on one cluster.
type DriftedResource struct {
	Cluster  string `json:"cluster"`
	Promise  string `json:"promise"`
	Instance string `json:"instance,omitempty"`
	Work     string `json:"work"`

	Group     string `json:"group,omitempty"`
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`

	State  fleetv1alpha1.DriftState `json:"state"`
	Fields []string                 `json:"fields,omitempty"`
	// AcceptedFields are fields Exception accepts on a resource whose other
	// drift is unexplained (State Unexplained); left as they are.
	AcceptedFields []string `json:"acceptedFields,omitempty"`
	// By is the field manager that made the change, when known.
	By string `json:"by,omitempty"`
	// Since is when the agent first saw the drift; the age is GeneratedAt - Since.
	Since *time.Time `json:"since,omitempty"`
	// Exception is the DriftException accepting the drift (State Accepted)
	// or AcceptedFields.
	Exception *DriftExceptionView `json:"exception,omitempty"`
}

// DriftExceptionView names a DriftException and, when the reader may see it,
// who owns it, why and until when.
type DriftExceptionView struct {
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
	Owner     string `json:"owner,omitempty"`
	// DeclaredBy is the user who declared it or last changed it (its
	// spec.declaredBy, checked at admission); empty on an exception
	// declared before the hub recorded it.
	DeclaredBy string     `json:"declaredBy,omitempty"`
	Reason     string     `json:"reason,omitempty"`
	ExpiresAt  *time.Time `json:"expiresAt,omitempty"`
}

// DriftFilter narrows a Drift to one cluster, one Promise and the instances of
// one namespace; empty fields match everything.
type DriftFilter struct {
	Cluster string
	Promise string
	// Namespace is the instances' namespace; a Promise's fleet resources
	// (Works without an instance) belong to flotilla-system.
	Namespace string
}

func (f DriftFilter) matches(w *fleetv1alpha1.Work) bool {
	return (f.Cluster == "" || f.Cluster == w.Spec.Cluster) &&
		(f.Promise == "" || f.Promise == w.Spec.Subject.Promise) &&
		(f.Namespace == "" || f.Namespace == workNamespace(w))
}

// workNamespace is the namespace a Work's subject belongs to.
func workNamespace(w *fleetv1alpha1.Work) string {
	if ref := w.Spec.Subject.Instance; ref != nil {
		return ref.Namespace
	}
	return fleetv1alpha1.PlatformNamespace
}

// BuildDrift rolls up the drift the snapshot's Works report, of those f
// matches, listing at most limit resources (every one if limit <= 0). The
// counts cover every matching resource, listed or not. The result depends
// only on the snapshot, not on the order of its lists.
func BuildDrift(s Snapshot, f DriftFilter, limit int) Drift {
	exceptions := map[string]*fleetv1alpha1.DriftException{}
	for i := range s.DriftExceptions {
		e := &s.DriftExceptions[i]
		exceptions[e.Namespace+"/"+e.Name] = e
	}
	d := Drift{Promises: []PromiseDrift{}, PerCluster: []ClusterDrift{}, Items: []DriftedResource{}}
	promises := map[string]*PromiseDrift{}
	promiseClusters := map[string]map[string]bool{}
	clusters := map[string]*ClusterDrift{}
	var items, workItems []DriftedResource
	for i := range s.Works {
		w := &s.Works[i]
		if !f.matches(w) {
			continue
		}
		if w.Status.Drift != nil {
			d.Corrections += w.Status.Drift.Corrections
		}
		workItems = workItems[:0]
		for _, r := range w.Status.Resources {
			if r.Drift == nil {
				continue
			}
			item := driftedResource(w, &r, exceptions, s.Now)
			d.Resources.add(item.State)
			p := promises[item.Promise]
			if p == nil {
				p = &PromiseDrift{Promise: item.Promise}
				promises[item.Promise] = p
				promiseClusters[item.Promise] = map[string]bool{}
			}
			p.Resources.add(item.State)
			promiseClusters[item.Promise][item.Cluster] = true
			c := clusters[item.Cluster]
			if c == nil {
				c = &ClusterDrift{Cluster: item.Cluster}
				clusters[item.Cluster] = c
			}
			c.Resources.add(item.State)
			workItems = append(workItems, item)
		}
		items = append(items, listable(workItems, limit)...)
	}
	for name, p := range promises {
		p.Clusters = len(promiseClusters[name])
		d.Promises = append(d.Promises, *p)
	}
	slices.SortFunc(d.Promises, func(a, b PromiseDrift) int { return cmp.Compare(a.Promise, b.Promise) })
	for _, c := range clusters {
		d.PerCluster = append(d.PerCluster, *c)
		if c.Resources.Unexplained > 0 {
			d.Clusters.Unexplained++
		}
		if c.Resources.Accepted > 0 {
			d.Clusters.Accepted++
		}
		d.Clusters.Total++
	}
	slices.SortFunc(d.PerCluster, compareClusterDrift)
	slices.SortFunc(items, compareDrifted)
	if limit > 0 && len(items) > limit {
		// A list cut short takes each owner and each cluster in turn within
		// each state, so neither one team's old drift nor one agent's
		// (which dates it) can fill it.
		split := slices.IndexFunc(items, func(it DriftedResource) bool { return it.State == fleetv1alpha1.DriftAccepted })
		if split < 0 {
			split = len(items)
		}
		driftInstance := func(it DriftedResource) string { return it.Instance }
		driftCluster := func(it DriftedResource) string { return it.Cluster }
		inTurns(items[:split], driftInstance, driftCluster)
		inTurns(items[split:], driftInstance, driftCluster)
		items = items[:limit]
	}
	// A fleet of 10,000 drifting clusters must not make every view carry
	// 10,000 rows; the counts above stay whole.
	if limit > 0 && len(d.PerCluster) > limit {
		d.PerCluster = d.PerCluster[:limit]
	}
	d.Items = append(d.Items, items...)
	return d
}

// listable keeps, of one Work's drifted resources, those a list of limit
// can show: its first limit in each state (the list keeps each owner's and
// each cluster's in order, and a Work is one owner's on one cluster, so it
// shows a Work's first ones, and never more than limit). An agent writes
// its Works' status, up to 1,000 resources each, so a cluster's agent
// could otherwise have every view sort and carry 1,000 rows for each of
// its Works; the counts stay whole, and the view says how many it leaves
// out.
func listable(items []DriftedResource, limit int) []DriftedResource {
	if limit <= 0 || len(items) <= limit {
		return items
	}
	slices.SortFunc(items, compareDrifted)
	split := slices.IndexFunc(items, func(it DriftedResource) bool { return it.State == fleetv1alpha1.DriftAccepted })
	if split < 0 {
		split = len(items)
	}
	unexplained, accepted := items[:min(split, limit)], items[split:]
	return append(unexplained, accepted[:min(len(accepted), limit)]...)
}

// compareClusterDrift orders clusters with the most unexplained drift first,
// then the most accepted, then by name.
func compareClusterDrift(a, b ClusterDrift) int {
	if c := cmp.Compare(b.Resources.Unexplained, a.Resources.Unexplained); c != 0 {
		return c
	}
	if c := cmp.Compare(b.Resources.Accepted, a.Resources.Accepted); c != 0 {
		return c
	}
	return cmp.Compare(a.Cluster, b.Cluster)
}

func driftedResource(w *fleetv1alpha1.Work, r *fleetv1alpha1.ResourceStatus, exceptions map[string]*fleetv1alpha1.DriftException, now time.Time) DriftedResource {
	item := DriftedResource{
		Cluster:   w.Spec.Cluster,
		Promise:   w.Spec.Subject.Promise,
		Instance:  instanceName(w),
		Work:      w.Name,
		Group:     r.Group,
		Kind:      r.Kind,
		Namespace: r.Namespace,
		Name:      r.Name,
		State:     r.Drift.State,
		Fields:    r.Drift.Fields,
		By:        r.Drift.By,
		Since:     timePtr(r.Drift.Since),
	}
	if item.State != fleetv1alpha1.DriftAccepted {
		// Anything not accepted is left to the drift policy; fields an
		// exception accepts alongside are listed apart.
		item.State = fleetv1alpha1.DriftUnexplained
		item.AcceptedFields = r.Drift.AcceptedFields
	}
	ref := r.Drift.Exception
	if ref == "" {
		// Accepted drift names its exception; without one nothing accepts it.
		item.State = fleetv1alpha1.DriftUnexplained
		item.Fields = append(slices.Clone(item.Fields), item.AcceptedFields...)
		item.AcceptedFields = nil
		return item
	}
	e := exceptions[ref]
	accepted := item.AcceptedFields
	if item.State == fleetv1alpha1.DriftAccepted {
		accepted = item.Fields
	}
	res := drift.Resource{Group: r.Group, Kind: r.Kind, Namespace: r.Namespace, Name: r.Name}
	listed, inForce := workException(w, ref, e, res, accepted, now)
	if !inForce {
		// The agent's report is as of when it wrote it (an offline agent
		// writes nothing), and its own cluster's word only: drift is
		// accepted in the view only under an exception the hub gave this
		// Work and that is in force now. Otherwise the drift policy applies
		// to it, as the agent itself does at expiry.
		if item.State == fleetv1alpha1.DriftAccepted {
			item.State = fleetv1alpha1.DriftUnexplained
		} else {
			item.Fields = append(slices.Clone(item.Fields), item.AcceptedFields...)
		}
		item.AcceptedFields = nil
		if !listed && (e == nil || now.Before(e.Spec.ExpiresAt.Time) || e.Namespace != workNamespace(w) && e.Namespace != fleetv1alpha1.PlatformNamespace) {
			// Not one this Work had (nor one of its own namespace's that
			// expired since): naming it would make its owner accountable
			// for drift it never covered.
			return item
		}
	}
	ev := &DriftExceptionView{Name: ref}
	if ns, name, ok := strings.Cut(ref, "/"); ok {
		ev.Namespace, ev.Name = ns, name
	}
	if e != nil {
		ev.Owner, ev.DeclaredBy, ev.Reason = e.Spec.Owner, e.Spec.DeclaredBy, e.Spec.Reason
		expires := e.Spec.ExpiresAt.Time
		ev.ExpiresAt = &expires
	}
	item.Exception = ev
	return item
}

// workException reports whether the hub gave w the exception named ref
// (listed in its spec) for the drift of fields on res, and whether it is in
// force at now: listed, not expired there, nor on the DriftException e when
// the reader sees it. One listed that does not cover that drift (another
// resource, a field outside its paths) counts as not given: an agent naming
// it must not make its owner accountable for drift it never covered.
func workException(w *fleetv1alpha1.Work, ref string, e *fleetv1alpha1.DriftException, res drift.Resource, fields []string, now time.Time) (listed, inForce bool) {
	for _, we := range w.Spec.DriftExceptions {
		if we.Name != ref {
			continue
		}
		if !drift.CoversDrift(we, res, fields) {
			return false, false
		}
		inForce = now.Before(we.ExpiresAt.Time) && (e == nil || now.Before(e.Spec.ExpiresAt.Time) && e.DeletionTimestamp.IsZero())
		return true, inForce
	}
	return false, false
}

// compareDrifted orders unexplained drift first, then the oldest first (drift
// of unknown age last), then by where it is.
func compareDrifted(a, b DriftedResource) int {
	return cmp.Or(
		cmp.Compare(stateRank(a.State), stateRank(b.State)),
		compareSince(a.Since, b.Since),
		cmp.Compare(a.Cluster, b.Cluster),
		cmp.Compare(a.Promise, b.Promise),
		cmp.Compare(a.Instance, b.Instance),
		cmp.Compare(a.Work, b.Work),
		cmp.Compare(a.Group, b.Group),
		cmp.Compare(a.Kind, b.Kind),
		cmp.Compare(a.Namespace, b.Namespace),
		cmp.Compare(a.Name, b.Name),
	)
}

func stateRank(s fleetv1alpha1.DriftState) int {
	if s == fleetv1alpha1.DriftUnexplained {
		return 0
	}
	return 1
}

func compareSince(a, b *time.Time) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		return 1
	case b == nil:
		return -1
	}
	return a.Compare(*b)
}
