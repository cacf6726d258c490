package rollout

import (
	"context"
	"fmt"
	"strconv"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/rollout"
)

// Starter creates the Rollout of a Promise change (promise.RolloutStarter).
type Starter struct {
	// Client creates Rollouts.
	Client client.Client
	// Reader lists Rollouts from the API server, not a cache that may not
	// have seen the previous Rollout yet.
	Reader client.Reader
}

// StartRollout creates the Rollout that moves promise p to latest, named
// after p's generation so that a retry after a crash finds it. Its
// fromRevision is the revision the fleet settles on under the Rollout that
// governs p now (previous if none ever did). A change back to a revision the
// fleet runs in full starts nothing.
func (s *Starter) StartRollout(ctx context.Context, p *fleetv1alpha1.Promise, previous, latest string) error {
	list := &fleetv1alpha1.RolloutList{}
	if err := s.Reader.List(ctx, list, client.InNamespace(fleetv1alpha1.PlatformNamespace)); err != nil {
		return fmt.Errorf("listing rollouts: %w", err)
	}
	var rollouts []fleetv1alpha1.Rollout
	for _, ro := range list.Items {
		if ro.Spec.Subject.Promise == p.Name && ro.Spec.Subject.Instance == nil {
			rollouts = append(rollouts, ro)
		}
	}
	from := FromRevision(rollout.Newest(rollouts), previous, latest)
	if from == latest {
		return nil
	}
	ro := &fleetv1alpha1.Rollout{
		ObjectMeta: metav1.ObjectMeta{
			Name:      RolloutName(p),
			Namespace: fleetv1alpha1.PlatformNamespace,
			Labels: map[string]string{
				fleetv1alpha1.LabelPromise:   p.Name,
				fleetv1alpha1.LabelManagedBy: fleetv1alpha1.ManagedByValue,
			},
			Annotations: map[string]string{
				fleetv1alpha1.AnnotationStartedBy:   rollout.ActorHub,
				rollout.AnnotationPromiseGeneration: strconv.FormatInt(p.Generation, 10),
			},
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: fleetv1alpha1.GroupVersion.String(), Kind: "Promise", Name: p.Name, UID: p.UID,
				BlockOwnerDeletion: ptr.To(false),
			}},
		},
		Spec: fleetv1alpha1.RolloutSpec{
			Subject:        fleetv1alpha1.RolloutSubject{Promise: p.Name},
			FromRevision:   from,
			TargetRevision: latest,
			UpdatePolicy:   *p.Spec.UpdatePolicy.DeepCopy(),
			DesiredState:   fleetv1alpha1.RolloutRunning,
		},
	}
	if ro.Spec.UpdatePolicy.Mode == "" {
		ro.Spec.UpdatePolicy.Mode = fleetv1alpha1.UpdateModeProgressive
	}
	if err := s.Client.Create(ctx, ro); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating rollout %s: %w", ro.Name, err)
	}
	return nil
}

// FromRevision is the fromRevision of a new Rollout to latest, given the
// newest Rollout of the subject (nil if none) and the previous latest
// revision: the revision the fleet settles on under the newest Rollout. When
// that is latest itself while some clusters may run the newest Rollout's
// target (it is in flight, or ended without settling), the change is a
// revert of that target, which becomes fromRevision.
func FromRevision(newest *fleetv1alpha1.Rollout, previous, latest string) string {
	if newest == nil {
		return previous
	}
	from := rollout.StableRevision(newest)
	if from != latest {
		return from
	}
	switch newest.Status.Phase {
	case fleetv1alpha1.RolloutPhaseSucceeded, fleetv1alpha1.RolloutPhaseRolledBack:
		return latest // the fleet runs latest in full: nothing to roll out
	}
	return newest.Spec.TargetRevision
}

// RolloutName names the Rollout of a Promise's change: the Promise and the
// generation that changed it.
func RolloutName(p *fleetv1alpha1.Promise) string {
	suffix := "-" + strconv.FormatInt(p.Generation, 10)
	name := p.Name
	if len(name)+len(suffix) > 253 {
		name = name[:253-len(suffix)]
	}
	return name + suffix
}
