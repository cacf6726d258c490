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
	// Namespace, when set, is where Rollouts are listed if the reader may not
	// list them in every namespace (a team's own namespace).
	Namespace string
}

// Read lists the hub's Clusters, Works, Rollouts, Promises and FleetFreezes.
func Read(ctx context.Context, c client.Reader, now time.Time, opts Options) (fleetview.Snapshot, error) {
	s := fleetview.Snapshot{Now: now}
	lists := []struct {
		what string
		list client.ObjectList
	}{
		{"clusters", &fleetv1alpha1.ClusterList{}},
		{"works", &fleetv1alpha1.WorkList{}},
		{"rollouts", &fleetv1alpha1.RolloutList{}},
		{"promises", &fleetv1alpha1.PromiseList{}},
		{"fleetfreezes", &fleetv1alpha1.FleetFreezeList{}},
	}
	for _, l := range lists {
		err := c.List(ctx, l.list)
		if apierrors.IsForbidden(err) && l.what == "rollouts" && opts.Namespace != "" {
			err = c.List(ctx, l.list, client.InNamespace(opts.Namespace))
			if err == nil {
				s.Hidden = append(s.Hidden, "rollouts outside namespace "+opts.Namespace)
			}
		}
		switch {
		case apierrors.IsForbidden(err):
			s.Hidden = append(s.Hidden, l.what)
			continue
		case err != nil:
			return fleetview.Snapshot{}, fmt.Errorf("listing %s: %w", l.what, err)
		}
	}
	s.Clusters = lists[0].list.(*fleetv1alpha1.ClusterList).Items
	s.Works = lists[1].list.(*fleetv1alpha1.WorkList).Items
	s.Rollouts = lists[2].list.(*fleetv1alpha1.RolloutList).Items
	s.Promises = lists[3].list.(*fleetv1alpha1.PromiseList).Items
	s.Freezes = lists[4].list.(*fleetv1alpha1.FleetFreezeList).Items
	return s, nil
}
