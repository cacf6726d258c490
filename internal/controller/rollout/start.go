package rollout

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/controller"
	"github.com/flotilla-dev/flotilla/internal/rollout"
)

// Starter creates the Rollout of a Promise change (promise.RolloutStarter).
type Starter struct {
	// Client creates Rollouts.
	Client client.Client
	// Cache lists Rollouts cheaply, for the check made on every instance reconcile.
	Cache client.Reader
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
	newest := rollout.Newest(rollouts)
	from, err := s.usableFrom(ctx, subject{promise: p.Name}, FromRevision(newest, rollout.IsRevert(newest, rollouts), previous, latest), previous)
	if err != nil {
		return err
	}
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
				fleetv1alpha1.AnnotationStartedBy:  rollout.ActorHub,
				rollout.AnnotationChangeGeneration: strconv.FormatInt(p.Generation, 10),
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
// newest Rollout of the subject (nil if none), whether it is a revert
// (rollout.IsRevert) and the previous latest revision: the revision the
// fleet settles on under the newest Rollout, which is what a new Work
// starts on (rollout.NewWorkRevision). So a change made while a revert has
// not settled starts from what the revert returns to, never from the change
// it takes back, which only the clusters that change reached ran. When
// that is latest itself while some clusters may run the newest Rollout's
// target (it is in flight, or ended without settling), the change is a
// revert of that target, which becomes fromRevision.
func FromRevision(newest *fleetv1alpha1.Rollout, revert bool, previous, latest string) string {
	if newest == nil {
		return previous
	}
	from := rollout.NewWorkRevision(newest, revert)
	if from != latest {
		return from
	}
	switch newest.Status.Phase {
	case fleetv1alpha1.RolloutPhaseSucceeded, fleetv1alpha1.RolloutPhaseRolledBack:
		return latest // the fleet runs latest in full: nothing to roll out
	}
	return newest.Spec.TargetRevision
}

// usableFrom is from, unless it is not a revision of the subject that
// exists: then previous. A new Rollout never inherits a revision that
// would block it for good.
func (s *Starter) usableFrom(ctx context.Context, sub subject, from, previous string) (string, error) {
	if from == previous || from == "" {
		return from, nil
	}
	var b *blocked
	if err := checkRevision(ctx, s.Reader, sub, from); errors.As(err, &b) {
		return previous, nil
	} else if err != nil {
		return "", err
	}
	return from, nil
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

// StartInstanceRollout creates the Rollout that moves an instance's Works
// from previous to latest (instance revisions), in the instance's namespace,
// so the team that owns the instance operates it. Nothing is started when a
// Rollout to latest exists (in flight or finished: a rolled-back change stays
// rolled back until the spec changes again). It is named after the instance's
// kind, name and generation.
func (s *Starter) StartInstanceRollout(ctx context.Context, p *fleetv1alpha1.Promise, inst *unstructured.Unstructured, previous, latest string) error {
	ns, name := inst.GetNamespace(), inst.GetName()
	cached, err := controller.InstanceRollouts(ctx, s.Cache, p.Name, ns, name)
	if err != nil {
		return err
	}
	if n := rollout.Newest(cached); n != nil && n.Spec.TargetRevision == latest {
		return nil
	}
	// The API server knows no field index: list the namespace and filter.
	list := &fleetv1alpha1.RolloutList{}
	if err := s.Reader.List(ctx, list, client.InNamespace(ns)); err != nil {
		return fmt.Errorf("listing rollouts: %w", err)
	}
	var live []fleetv1alpha1.Rollout
	for _, ro := range list.Items {
		if i := ro.Spec.Subject.Instance; i != nil && i.Name == name && ro.Spec.Subject.Promise == p.Name {
			live = append(live, ro)
		}
	}
	newest := rollout.Newest(live)
	if newest != nil && newest.Spec.TargetRevision == latest {
		return nil
	}
	from, err := s.usableFrom(ctx, subject{promise: p.Name, instance: &types.NamespacedName{Namespace: ns, Name: name}},
		FromRevision(newest, rollout.IsRevert(newest, live), previous, latest), previous)
	if err != nil {
		return err
	}
	if from == latest {
		return nil
	}
	taken := make(map[string]bool, len(list.Items))
	for _, ro := range list.Items {
		taken[ro.Name] = true
	}
	ro := &fleetv1alpha1.Rollout{
		ObjectMeta: metav1.ObjectMeta{
			Name:      instanceRolloutName(inst, taken),
			Namespace: ns,
			Labels: map[string]string{
				fleetv1alpha1.LabelPromise:   p.Name,
				fleetv1alpha1.LabelInstance:  fleetv1alpha1.WorkLabelValue(name),
				fleetv1alpha1.LabelManagedBy: fleetv1alpha1.ManagedByValue,
			},
			Annotations: map[string]string{
				fleetv1alpha1.AnnotationStartedBy:  rollout.ActorHub,
				rollout.AnnotationChangeGeneration: strconv.FormatInt(inst.GetGeneration(), 10),
			},
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: inst.GetAPIVersion(), Kind: inst.GetKind(), Name: name, UID: inst.GetUID(),
				BlockOwnerDeletion: ptr.To(false),
			}},
		},
		Spec: fleetv1alpha1.RolloutSpec{
			Subject:        fleetv1alpha1.RolloutSubject{Promise: p.Name, Instance: &fleetv1alpha1.LocalObjectReference{Name: name}},
			FromRevision:   from,
			TargetRevision: latest,
			// An owner's own change has no adoption window.
			UpdatePolicy: fleetv1alpha1.UpdatePolicy{Mode: fleetv1alpha1.UpdateModeProgressive},
			DesiredState: fleetv1alpha1.RolloutRunning,
		},
	}
	if p.Spec.UpdatePolicy.Mode == fleetv1alpha1.UpdateModeImmediate {
		ro.Spec.UpdatePolicy = *p.Spec.UpdatePolicy.DeepCopy()
	}
	if err := s.Client.Create(ctx, ro); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating rollout %s/%s: %w", ns, ro.Name, err)
	}
	return nil
}

// instanceRolloutName names the Rollout of an instance change: its kind,
// name and the generation that changed it. A change of the team's
// Overrides leaves the generation as it is: the name then takes the first
// free of -2, -3, … after it (taken: the namespace's Rollouts).
func instanceRolloutName(inst *unstructured.Unstructured, taken map[string]bool) string {
	prefix := strings.ToLower(inst.GetKind()) + "-" + inst.GetName()
	for n := 1; ; n++ {
		suffix := "-" + strconv.FormatInt(inst.GetGeneration(), 10)
		if n > 1 {
			suffix += "-" + strconv.Itoa(n)
		}
		name := prefix
		if len(name)+len(suffix) > 253 {
			name = name[:253-len(suffix)]
		}
		if name += suffix; !taken[name] {
			return name
		}
	}
}
