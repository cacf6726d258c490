package controller

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"

	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// Field indexes on Work in the hub's cache. Use them with client.MatchingFields
// so roll-ups read one cluster's, one Promise's or one instance's Works from
// the cache without scanning the fleet:
//
//	c.List(ctx, works, client.MatchingFields{controller.IndexWorkByInstance: controller.InstanceKey(ns, name)})
const (
	// IndexWorkByCluster indexes Works by spec.cluster.
	IndexWorkByCluster = "spec.cluster"
	// IndexWorkByPromise indexes Works by spec.subject.promise.
	IndexWorkByPromise = "spec.subject.promise"
	// IndexWorkByInstance indexes Works by their instance as InstanceKey(namespace, name);
	// fleet-resource Works (no instance) are not indexed.
	IndexWorkByInstance = "spec.subject.instance"
	// IndexWorkByScopeNamespace indexes an instance's Works by the namespaces
	// their scope allows besides the instance's own (output.namespaces), and
	// a Promise's fleet resources Works by the namespaces their objects use
	// (FleetNamespaces).
	IndexWorkByScopeNamespace = "spec.scope.namespaces"
	// IndexWorkByDriftException indexes Works by the DriftExceptions
	// (namespace/name) the hub gave them (CarriedExceptions): only there
	// may an exception accept drift.
	IndexWorkByDriftException = "spec.driftExceptions.name"
)

// IndexRolloutByPromise indexes Promise-subject Rollouts (not instance
// changes) by spec.subject.promise.
const IndexRolloutByPromise = "spec.subject.promise"

// IndexRolloutByInstance indexes instance-change Rollouts by their instance
// as InstanceKey(namespace, name) (an instance lives in its Rollout's namespace).
const IndexRolloutByInstance = "spec.subject.instance"

// InstanceKey is the IndexWorkByInstance value of an instance.
func InstanceKey(namespace, name string) string { return namespace + "/" + name }

// CarriedExceptions returns the DriftExceptions (namespace/name) the hub
// gave w, in spec.driftExceptions.
func CarriedExceptions(w *fleetv1alpha1.Work) []string {
	out := make([]string, 0, len(w.Spec.DriftExceptions))
	for _, e := range w.Spec.DriftExceptions {
		out = append(out, e.Name)
	}
	return out
}

// AcceptingExceptions returns the DriftExceptions (namespace/name) that
// accept drift on w's resources, in full or in part, each once.
func AcceptingExceptions(w *fleetv1alpha1.Work) []string {
	var out []string
	for _, r := range w.Status.Resources {
		// Accepted in full, or some fields beside unexplained drift.
		if d := r.Drift; d != nil && (d.State == fleetv1alpha1.DriftAccepted || len(d.AcceptedFields) > 0) && d.Exception != "" &&
			!slices.Contains(out, d.Exception) {
			out = append(out, d.Exception)
		}
	}
	return out
}

// SetupIndexes registers the hub's field indexes.
func SetupIndexes(ctx context.Context, indexer client.FieldIndexer) error {
	indexes := []struct {
		field   string
		extract func(*fleetv1alpha1.Work) []string
	}{
		{IndexWorkByCluster, func(w *fleetv1alpha1.Work) []string { return []string{w.Spec.Cluster} }},
		{IndexWorkByPromise, func(w *fleetv1alpha1.Work) []string { return []string{w.Spec.Subject.Promise} }},
		{IndexWorkByInstance, func(w *fleetv1alpha1.Work) []string {
			if i := w.Spec.Subject.Instance; i != nil {
				return []string{InstanceKey(i.Namespace, i.Name)}
			}
			return nil
		}},
		{IndexWorkByDriftException, CarriedExceptions},
		{IndexWorkByScopeNamespace, UsedNamespaces},
	}
	for _, ix := range indexes {
		extract := ix.extract
		if err := indexer.IndexField(ctx, &fleetv1alpha1.Work{}, ix.field, func(obj client.Object) []string {
			w, ok := obj.(*fleetv1alpha1.Work)
			if !ok {
				return nil
			}
			return extract(w)
		}); err != nil {
			return fmt.Errorf("indexing Works by %s: %w", ix.field, err)
		}
	}
	if err := indexer.IndexField(ctx, &fleetv1alpha1.Rollout{}, IndexRolloutByPromise, func(obj client.Object) []string {
		r, ok := obj.(*fleetv1alpha1.Rollout)
		if !ok || r.Spec.Subject.Instance != nil {
			return nil
		}
		return []string{r.Spec.Subject.Promise}
	}); err != nil {
		return fmt.Errorf("indexing Rollouts by %s: %w", IndexRolloutByPromise, err)
	}
	if err := indexer.IndexField(ctx, &fleetv1alpha1.Rollout{}, IndexRolloutByInstance, func(obj client.Object) []string {
		r, ok := obj.(*fleetv1alpha1.Rollout)
		if !ok || r.Spec.Subject.Instance == nil {
			return nil
		}
		return []string{InstanceKey(r.Namespace, r.Spec.Subject.Instance.Name)}
	}); err != nil {
		return fmt.Errorf("indexing Rollouts by %s: %w", IndexRolloutByInstance, err)
	}
	return nil
}

// UsedNamespaces are the namespaces a Work uses on its member that are not
// its instance's own (IndexWorkByScopeNamespace): those its scope allows
// besides (an output.namespaces rule's), or, for a Promise's fleet
// resources, FleetNamespaces.
func UsedNamespaces(w *fleetv1alpha1.Work) []string {
	i, sc := w.Spec.Subject.Instance, w.Spec.Scope
	if i == nil {
		return fleetNamespacesOf(w)
	}
	if sc == nil {
		return nil
	}
	var out []string
	for _, ns := range sc.Namespaces {
		if ns != i.Namespace {
			out = append(out, ns)
		}
	}
	return out
}

// fleetNamespacesSeen keeps FleetNamespaces by Work UID, with the
// generation they were read at: the index runs at every update of a Work,
// each status report of its agent included, and a fleet resources Work may
// carry large manifests (an operator's CRDs) that only a new generation
// changes. An entry goes when its Work is deleted (ForgetFleetNamespaces).
var fleetNamespacesSeen sync.Map // types.UID → fleetNamespacesAt

// ForgetFleetNamespaces drops what fleetNamespacesSeen keeps of a deleted
// Work; the Work informer's delete handler calls it, after the cache has
// dropped the Work from its indexes.
func ForgetFleetNamespaces(w *fleetv1alpha1.Work) { fleetNamespacesSeen.Delete(w.UID) }

type fleetNamespacesAt struct {
	generation int64
	namespaces []string
}

func fleetNamespacesOf(w *fleetv1alpha1.Work) []string {
	if !w.DeletionTimestamp.IsZero() || w.UID == "" {
		fleetNamespacesSeen.Delete(w.UID)
		return FleetNamespaces(w)
	}
	if seen, ok := fleetNamespacesSeen.Load(w.UID); ok && seen.(fleetNamespacesAt).generation == w.Generation {
		return seen.(fleetNamespacesAt).namespaces
	}
	ns := FleetNamespaces(w)
	fleetNamespacesSeen.Store(w.UID, fleetNamespacesAt{generation: w.Generation, namespaces: ns})
	return ns
}

// FleetNamespaces are the namespaces a Promise's fleet resources Work uses
// on its member: those its Namespace objects name and those its objects are
// in. No instance's namespaces rule may give one of them (the platform's
// operators and their ServiceAccounts run there).
func FleetNamespaces(w *fleetv1alpha1.Work) []string {
	var out []string
	for _, m := range w.Spec.Manifests {
		var obj struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Metadata   struct {
				Name      string `json:"name"`
				Namespace string `json:"namespace"`
			} `json:"metadata"`
		}
		if json.Unmarshal(m.Raw, &obj) != nil {
			continue
		}
		ns := obj.Metadata.Namespace
		if obj.APIVersion == "v1" && obj.Kind == "Namespace" {
			ns = obj.Metadata.Name
		}
		if ns != "" && !slices.Contains(out, ns) {
			out = append(out, ns)
		}
	}
	return out
}
