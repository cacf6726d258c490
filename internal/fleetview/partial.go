package fleetview

import "strings"

// A View built from what the reader may list is partial when Kubernetes RBAC
// forbids some of those lists. What is forbidden is unknown, not empty: a
// tile whose Works the reader may not list is Hidden, not Idle, and a count
// built from a hidden list is not zero but unknown. Visibility records, per
// list, how much of it the reader saw, so the CLI and the dashboard say so.

// Kinds a Snapshot lists, as Snapshot.Hidden names them.
const (
	KindClusters        = "clusters"
	KindWorks           = "works"
	KindRollouts        = "rollouts"
	KindPromises        = "promises"
	KindFleetFreezes    = "fleetfreezes"
	KindDriftExceptions = "driftexceptions"
)

// hiddenOutside is how Snapshot.Hidden names a kind listed only in one
// namespace: "<kind> outside namespace <namespace>".
const hiddenOutside = " outside namespace "

// HiddenOutside names, for Snapshot.Hidden, a kind the reader could list in
// namespace only.
func HiddenOutside(kind, namespace string) string { return kind + hiddenOutside + namespace }

// Listing says how much of one list the reader saw.
type Listing string

const (
	// ListedAll: every object of the kind.
	ListedAll Listing = "All"
	// ListedNamespace: the objects in one namespace (Visibility names it);
	// the rest is hidden.
	ListedNamespace Listing = "Namespace"
	// ListedNone: the reader may not list the kind; what it holds is unknown.
	ListedNone Listing = "Hidden"
)

// Known reports whether the list was read at all.
func (l Listing) Known() bool { return l != ListedNone }

// Visibility is how much of each list a View is built from the reader saw.
type Visibility struct {
	// Partial is true when any list was hidden in whole or in part.
	Partial         bool    `json:"partial"`
	Clusters        Listing `json:"clusters"`
	Works           Listing `json:"works"`
	Rollouts        Listing `json:"rollouts"`
	Promises        Listing `json:"promises"`
	FleetFreezes    Listing `json:"fleetFreezes"`
	DriftExceptions Listing `json:"driftExceptions"`
	// Namespace is the one namespace a ListedNamespace list was read in.
	Namespace string `json:"namespace,omitempty"`
}

// visibility reads Snapshot.Hidden: "<kind>" is a list the reader may not
// read, HiddenOutside(kind, ns) one read in ns only.
func visibility(hidden []string) Visibility {
	v := Visibility{}
	listing := func(kind string) Listing {
		for _, h := range hidden {
			if h == kind {
				v.Partial = true
				return ListedNone
			}
			if ns, ok := strings.CutPrefix(h, kind+hiddenOutside); ok {
				v.Partial = true
				v.Namespace = ns
				return ListedNamespace
			}
		}
		return ListedAll
	}
	v.Clusters = listing(KindClusters)
	v.Works = listing(KindWorks)
	v.Rollouts = listing(KindRollouts)
	v.Promises = listing(KindPromises)
	v.FleetFreezes = listing(KindFleetFreezes)
	v.DriftExceptions = listing(KindDriftExceptions)
	return v
}
