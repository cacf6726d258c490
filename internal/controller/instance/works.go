package instance

import (
	"context"
	"errors"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/instanceplan"
)

// writeWork creates desired or updates existing to it; nothing is sent when
// existing is already up to date. It returns the Work as it now is, what it
// did ("", "create" or "update") and, for an update, the resourceVersion it
// replaced. An update that conflicts (the agent wrote the Work's status
// since the cache saw it) is retried once on the Work read from reader (the
// API server); so is a create that finds the Work exists.
func writeWork(ctx context.Context, c client.Client, reader client.Reader, existing, desired *fleetv1alpha1.Work) (*fleetv1alpha1.Work, string, string, error) {
	if existing == nil {
		err := c.Create(ctx, desired)
		if err == nil {
			return desired, "create", "", nil
		}
		if !apierrors.IsAlreadyExists(err) {
			return nil, "", "", fmt.Errorf("creating work %s/%s: %w", desired.Namespace, desired.Name, err)
		}
		// The cache has not seen the Work yet: this controller created it
		// a moment ago, or the hub just started. Compare with the API
		// server's copy, if it is this subject's; a Work of another
		// subject (or a hand-made one) holding the name is not written over.
		if existing, err = liveWorkOf(ctx, reader, desired); err != nil {
			return nil, "", "", err
		}
	}
	for attempt := 0; ; attempt++ {
		if instanceplan.UpToDate(existing, desired) {
			return existing, "", "", nil
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
		// The status subresource keeps the stored status whatever an
		// update sends: sent, the agent's report would only be decoded,
		// coerced and thrown away by the API server (a Work update is
		// about 3 ms of its CPU). The answer carries the stored status.
		update.Status = fleetv1alpha1.WorkStatus{}
		err := c.Update(ctx, update)
		if err == nil {
			return update, "update", existing.ResourceVersion, nil
		}
		if !apierrors.IsConflict(err) || attempt > 0 {
			return nil, "", "", fmt.Errorf("updating work %s/%s: %w", desired.Namespace, desired.Name, err)
		}
		fresh := &fleetv1alpha1.Work{}
		if err := reader.Get(ctx, client.ObjectKeyFromObject(existing), fresh); err != nil {
			return nil, "", "", fmt.Errorf("reading work %s/%s: %w", desired.Namespace, desired.Name, err)
		}
		existing = fresh
	}
}

// errWorkBeingDeleted: the subject's Work on a cluster is still being
// deleted (its agent prunes first) when the subject needs one there again.
// Its deletion is an event of the subject, which creates the Work then.
var errWorkBeingDeleted = errors.New("the subject's previous Work there is still being deleted")

// liveWorkOf reads desired's Work from reader (the API server) and returns it
// when the hub owns it for desired's subject and cluster.
func liveWorkOf(ctx context.Context, reader client.Reader, desired *fleetv1alpha1.Work) (*fleetv1alpha1.Work, error) {
	live := &fleetv1alpha1.Work{}
	if err := reader.Get(ctx, client.ObjectKeyFromObject(desired), live); err != nil {
		return nil, fmt.Errorf("reading work %s/%s, which exists though the cache misses it: %w", desired.Namespace, desired.Name, err)
	}
	ds := desired.Spec.Subject
	subject := instanceplan.Subject{Promise: ds.Promise, Instance: ds.Instance}
	switch {
	case !subject.Claims(live) || live.Spec.Cluster != desired.Spec.Cluster:
		return nil, fmt.Errorf("creating work %s/%s: %w", desired.Namespace, desired.Name, instanceplan.ErrWorkNameTaken)
	case !live.DeletionTimestamp.IsZero():
		return nil, fmt.Errorf("creating work %s/%s: %w", desired.Namespace, desired.Name, errWorkBeingDeleted)
	}
	return live, nil
}
