// Package hubread reads a fleetview.Snapshot from the hub with the caller's
// own credentials: what Kubernetes RBAC forbids is left out and named, not
// treated as an error, so a team member sees their own slice of the fleet.
package hubread

import (
	"context"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/fleetview"
)

// Options narrow what Read lists.
type Options struct {
	// Namespace, when set, is where Rollouts and DriftExceptions are listed
	// if the reader may not list them in every namespace (a team's own
	// namespace).
	Namespace string
	// FromCache says c is an informer cache whose objects the caller only
	// reads: Read then skips deep copies (the hub's metrics, every scrape).
	FromCache bool
	// SkipDriftExceptions leaves DriftExceptions out: drift counts do not
	// need them, only the owner, reason and expiry a listed resource shows.
	SkipDriftExceptions bool
}

// namespaced are the kinds Read lists in Options.Namespace when the reader
// may not list them in every namespace.
var namespaced = map[string]bool{fleetview.KindRollouts: true, fleetview.KindDriftExceptions: true}

// Read lists the hub's Clusters, Works, Rollouts, Promises, FleetFreezes and
// DriftExceptions.
func Read(ctx context.Context, c client.Reader, now time.Time, opts Options) (fleetview.Snapshot, error) {
	s := fleetview.Snapshot{Now: now}
	var listOpts []client.ListOption
	if opts.FromCache {
		listOpts = append(listOpts, client.UnsafeDisableDeepCopy)
	}
	clusters, works, rollouts := &fleetv1alpha1.ClusterList{}, &fleetv1alpha1.WorkList{}, &fleetv1alpha1.RolloutList{}
	promises, freezes := &fleetv1alpha1.PromiseList{}, &fleetv1alpha1.FleetFreezeList{}
	exceptions := &fleetv1alpha1.DriftExceptionList{}
	type kind struct {
		what string
		list client.ObjectList
	}
	kinds := []kind{
		{fleetview.KindClusters, clusters},
		{fleetview.KindWorks, works},
		{fleetview.KindRollouts, rollouts},
		{fleetview.KindPromises, promises},
		{fleetview.KindFleetFreezes, freezes},
	}
	if !opts.SkipDriftExceptions {
		kinds = append(kinds, kind{fleetview.KindDriftExceptions, exceptions})
	}
	for _, l := range kinds {
		err := c.List(ctx, l.list, listOpts...)
		if apierrors.IsForbidden(err) && namespaced[l.what] && opts.Namespace != "" {
			err = c.List(ctx, l.list, append(listOpts, client.InNamespace(opts.Namespace))...)
			if err == nil {
				s.Hidden = append(s.Hidden, fleetview.HiddenOutside(l.what, opts.Namespace))
			}
		}
		switch {
		case apierrors.IsForbidden(err):
			s.Hidden = append(s.Hidden, l.what)
		case err != nil:
			return fleetview.Snapshot{}, fmt.Errorf("listing %s: %w", l.what, err)
		}
	}
	s.Clusters, s.Works, s.Rollouts, s.Promises, s.Freezes = clusters.Items, works.Items, rollouts.Items, promises.Items, freezes.Items
	s.DriftExceptions = exceptions.Items
	return s, nil
}
