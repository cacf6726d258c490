package instance

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// desiredWork is the Work the hub wants for one subject on one cluster.
func desiredWork(key Key, cluster string, revs revisions, manifests []*unstructured.Unstructured, overrides []string,
	drift fleetv1alpha1.DriftPolicy, rollout *fleetv1alpha1.RolloutReference) (*fleetv1alpha1.Work, error) {
	w := &fleetv1alpha1.Work{
		ObjectMeta: metav1.ObjectMeta{
			Name:      fleetv1alpha1.WorkName(key.Promise, key.Namespace, key.Name),
			Namespace: fleetv1alpha1.ClusterNamespace(cluster),
			Labels: map[string]string{
				fleetv1alpha1.LabelPromise:   key.Promise,
				fleetv1alpha1.LabelRevision:  revs.promise,
				fleetv1alpha1.LabelCluster:   cluster,
				fleetv1alpha1.LabelManagedBy: fleetv1alpha1.ManagedByValue,
			},
		},
		Spec: fleetv1alpha1.WorkSpec{
			Cluster:          cluster,
			Subject:          key.Subject(),
			Revision:         revs.promise,
			InstanceRevision: revs.instance,
			Overrides:        overrides,
			DriftPolicy:      drift,
			PrunePolicy:      fleetv1alpha1.PruneDelete,
			Rollout:          rollout,
		},
	}
	if w.Spec.DriftPolicy == "" {
		w.Spec.DriftPolicy = fleetv1alpha1.DriftPolicyCorrect
	}
	if key.Name != "" {
		w.Labels[fleetv1alpha1.LabelInstance] = fleetv1alpha1.WorkLabelValue(key.Name)
		w.Labels[fleetv1alpha1.LabelInstanceNamespace] = key.Namespace
	}
	w.Spec.Manifests = make([]fleetv1alpha1.Manifest, 0, len(manifests))
	for _, m := range manifests {
		raw, err := m.MarshalJSON()
		if err != nil {
			return nil, fmt.Errorf("encoding %s %s: %w", m.GetKind(), m.GetName(), err)
		}
		w.Spec.Manifests = append(w.Spec.Manifests, fleetv1alpha1.Manifest{RawExtension: runtime.RawExtension{Raw: raw}})
	}
	return w, nil
}

// workUpToDate reports whether existing already carries desired's labels and spec.
func workUpToDate(existing, desired *fleetv1alpha1.Work) bool {
	for k, v := range desired.Labels {
		if existing.Labels[k] != v {
			return false
		}
	}
	a, b := existing.Spec, desired.Spec
	if a.Cluster != b.Cluster || a.Revision != b.Revision || a.InstanceRevision != b.InstanceRevision ||
		a.DriftPolicy != b.DriftPolicy || a.PrunePolicy != b.PrunePolicy ||
		!equality.Semantic.DeepEqual(a.Subject, b.Subject) || !equality.Semantic.DeepEqual(a.Rollout, b.Rollout) ||
		!stringsEqual(a.Overrides, b.Overrides) || len(a.Manifests) != len(b.Manifests) ||
		!equality.Semantic.DeepEqual(a.DriftExceptions, b.DriftExceptions) ||
		a.Adoption != b.Adoption || !equality.Semantic.DeepEqual(a.Scope, b.Scope) {
		return false
	}
	for i := range a.Manifests {
		if !sameJSON(a.Manifests[i].Raw, b.Manifests[i].Raw) {
			return false
		}
	}
	return true
}

func stringsEqual(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// sameJSON compares two JSON documents: byte-equal (the usual case, as both
// sides are encoded from maps with sorted keys) or equal once decoded.
func sameJSON(a, b []byte) bool {
	if bytes.Equal(a, b) {
		return true
	}
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return equality.Semantic.DeepEqual(x, y)
}

// writeWork creates desired or updates existing to it; nothing is sent when
// existing is already up to date. It returns the Work as it now is and what
// it did: "", "create" or "update". An update that conflicts (the agent wrote
// the Work's status since the cache saw it) is retried once on the Work read
// from reader (the API server).
func writeWork(ctx context.Context, c client.Client, reader client.Reader, existing, desired *fleetv1alpha1.Work) (*fleetv1alpha1.Work, string, error) {
	if existing == nil {
		if err := c.Create(ctx, desired); err != nil {
			if apierrors.IsAlreadyExists(err) {
				return nil, "", fmt.Errorf("creating work %s/%s: the cache is behind, retrying: %w", desired.Namespace, desired.Name, err)
			}
			return nil, "", fmt.Errorf("creating work %s/%s: %w", desired.Namespace, desired.Name, err)
		}
		return desired, "create", nil
	}
	for attempt := 0; ; attempt++ {
		if workUpToDate(existing, desired) {
			return existing, "", nil
		}
		update := existing.DeepCopy()
		if update.Labels == nil {
			update.Labels = map[string]string{}
		}
		for k, v := range desired.Labels {
			update.Labels[k] = v
		}
		if len(desired.Annotations) > 0 && update.Annotations == nil {
			update.Annotations = map[string]string{}
		}
		for k, v := range desired.Annotations {
			update.Annotations[k] = v
		}
		update.Spec = desired.Spec
		err := c.Update(ctx, update)
		if err == nil {
			return update, "update", nil
		}
		if !apierrors.IsConflict(err) || attempt > 0 {
			return nil, "", fmt.Errorf("updating work %s/%s: %w", desired.Namespace, desired.Name, err)
		}
		fresh := &fleetv1alpha1.Work{}
		if err := reader.Get(ctx, client.ObjectKeyFromObject(existing), fresh); err != nil {
			return nil, "", fmt.Errorf("reading work %s/%s: %w", desired.Namespace, desired.Name, err)
		}
		existing = fresh
	}
}
