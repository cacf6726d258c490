package instance

import (
	"context"
	"fmt"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/instanceplan"
)

// driftExceptions lists the DriftExceptions that may excuse drift on key's
// Works at now (instanceplan.InForce), from the namespaces
// instanceplan.ExceptionNamespaces names.
func (r *Reconciler) driftExceptions(ctx context.Context, key Key, now time.Time) ([]fleetv1alpha1.DriftException, error) {
	var all []fleetv1alpha1.DriftException
	for _, ns := range instanceplan.ExceptionNamespaces(key.plan()) {
		list := &fleetv1alpha1.DriftExceptionList{}
		if err := r.Client.List(ctx, list, client.InNamespace(ns), client.UnsafeDisableDeepCopy); err != nil {
			return nil, fmt.Errorf("listing drift exceptions in %s: %w", ns, err)
		}
		all = append(all, list.Items...)
	}
	return instanceplan.InForce(key.plan(), all, now), nil
}
