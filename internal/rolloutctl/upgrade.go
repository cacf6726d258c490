package rolloutctl

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/instanceapi"
)

// UpgradeOptions name the instance that adopts a revision early.
type UpgradeOptions struct {
	// Kind of the instance: the Promise's kind (any case), its plural, or
	// either followed by "." and the API group.
	Kind string
	// Namespace and Name of the instance.
	Namespace, Name string
	// ToRevision to adopt; empty adopts the target of the newest Rollout in
	// progress for the Promise.
	ToRevision string
}

// UpgradeResult is what Upgrade did.
type UpgradeResult struct {
	// Promise whose instance adopted the revision.
	Promise string
	// GVK of the instance.
	GVK schema.GroupVersionKind
	// Revision adopted.
	Revision string
	// Rollout in progress for the Promise, if any was found.
	Rollout *fleetv1alpha1.Rollout
	// Changed is false when the instance already adopted Revision.
	Changed bool
	// Summary says in one sentence what was done.
	Summary string
	// Notes are what else the caller should know.
	Notes []string
}

// Upgrade lets an instance owner adopt a Deadline-mode rollout's target
// ahead of its deadline: it sets the annotation fleet.flotilla.dev/adopt-revision
// on the instance (a merge patch of that annotation alone) to ToRevision, or
// to the target of the newest Rollout in progress for the instance's Promise.
func (c *Client) Upgrade(ctx context.Context, opts UpgradeOptions) (*UpgradeResult, error) {
	p, gvk, err := c.ResolveKind(ctx, opts.Kind)
	if err != nil {
		return nil, err
	}
	res := &UpgradeResult{Promise: p.Name, GVK: gvk}
	inst := &unstructured.Unstructured{}
	inst.SetGroupVersionKind(gvk)
	if err := c.c.Get(ctx, client.ObjectKey{Namespace: opts.Namespace, Name: opts.Name}, inst); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("%s %s not found in namespace %s", gvk.Kind, opts.Name, opts.Namespace)
		}
		return nil, fmt.Errorf("reading %s %s/%s: %w", gvk.Kind, opts.Namespace, opts.Name, err)
	}

	ro, rerr := c.rolloutInProgress(ctx, p.Name)
	res.Rollout = ro
	switch res.Revision = opts.ToRevision; {
	case res.Revision != "":
		if err := c.checkRevision(ctx, p.Name, res.Revision); err != nil {
			return nil, err
		}
	case rerr != nil:
		return nil, fmt.Errorf("finding the rollout in progress for promise %s (name the revision to adopt instead): %w", p.Name, rerr)
	case ro == nil:
		return nil, fmt.Errorf("no rollout in progress for promise %s; nothing to adopt", p.Name)
	default:
		res.Revision = ro.Spec.TargetRevision
	}

	who := fmt.Sprintf("%s %s/%s", gvk.Kind, opts.Namespace, opts.Name)
	if inst.GetAnnotations()[fleetv1alpha1.AnnotationAdoptRevision] == res.Revision {
		res.Summary = fmt.Sprintf("%s already adopts revision %s; nothing changed", who, res.Revision)
	} else {
		patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{
			fleetv1alpha1.AnnotationAdoptRevision: res.Revision}}})
		if err != nil {
			return nil, fmt.Errorf("encoding the adoption patch: %w", err)
		}
		if err := c.c.Patch(ctx, inst, client.RawPatch(types.MergePatchType, patch)); err != nil {
			return nil, fmt.Errorf("annotating %s with %s=%s: %w", who, fleetv1alpha1.AnnotationAdoptRevision, res.Revision, err)
		}
		res.Changed = true
		res.Summary = fmt.Sprintf("%s adopts revision %s", who, res.Revision)
	}
	res.Summary += "; " + adoptionEffect(res, ro)
	return res, nil
}

// adoptionEffect says when the adoption takes effect, and adds notes.
func adoptionEffect(res *UpgradeResult, ro *fleetv1alpha1.Rollout) string {
	switch {
	case ro == nil:
		return "it takes effect when a Deadline-mode rollout to that revision runs"
	case ro.Spec.TargetRevision != res.Revision:
		res.Notes = append(res.Notes, fmt.Sprintf("the rollout in progress for promise %s, %s, targets %s, not %s",
			res.Promise, ro.Name, ro.Spec.TargetRevision, res.Revision))
		return "it takes effect when a Deadline-mode rollout to that revision runs"
	case ro.Spec.UpdatePolicy.Mode != fleetv1alpha1.UpdateModeDeadline:
		return fmt.Sprintf("rollout %s is in %s mode, and only a Deadline-mode rollout acts on adoptions: the instance moves when its clusters' wave comes",
			ro.Name, or(ro.Spec.UpdatePolicy.Mode, fleetv1alpha1.UpdateModeProgressive))
	case ro.Spec.DesiredState == fleetv1alpha1.RolloutPaused || ro.Status.Phase == fleetv1alpha1.RolloutPhasePaused:
		return fmt.Sprintf("its Works move when rollout %s is no longer paused or frozen", ro.Name)
	case ro.Status.Phase == fleetv1alpha1.RolloutPhaseHalted:
		return fmt.Sprintf("its Works move when halted rollout %s is resumed", ro.Name)
	}
	if a := ro.Status.Adoption; a != nil && a.ForcedAt != nil {
		res.Notes = append(res.Notes, fmt.Sprintf("rollout %s passed its deadline: the rest of the fleet is already going through the waves", ro.Name))
	}
	return "its Works move at once on each cluster where every instance of the Promise has adopted"
}

// rolloutInProgress is the newest non-terminal Rollout of promise in the
// platform namespace whose subject is the whole Promise; nil when none.
func (c *Client) rolloutInProgress(ctx context.Context, promiseName string) (*fleetv1alpha1.Rollout, error) {
	items, err := c.List(ctx, fleetv1alpha1.PlatformNamespace)
	if err != nil {
		return nil, err
	}
	var newest *fleetv1alpha1.Rollout
	for i := range items {
		r := &items[i]
		if r.Spec.Subject.Promise != promiseName || r.Spec.Subject.Instance != nil ||
			r.Status.Phase.IsTerminal() || r.Spec.DesiredState == fleetv1alpha1.RolloutAborted || r.DeletionTimestamp != nil {
			continue
		}
		if newest == nil || newest.CreationTimestamp.Before(&r.CreationTimestamp) ||
			(newest.CreationTimestamp.Equal(&r.CreationTimestamp) && newest.Name < r.Name) {
			newest = r
		}
	}
	return newest, nil
}

// checkRevision makes sure revision is a PromiseRevision of promise. An
// instance owner may not be allowed to read PromiseRevisions: then the
// check is skipped and the hub judges the annotation.
func (c *Client) checkRevision(ctx context.Context, promiseName, revision string) error {
	rev := &fleetv1alpha1.PromiseRevision{}
	err := c.c.Get(ctx, client.ObjectKey{Name: revision}, rev)
	switch {
	case apierrors.IsNotFound(err):
		return fmt.Errorf("promise %s has no revision %s", promiseName, revision)
	case err != nil:
		return nil
	case rev.Spec.Promise != promiseName:
		return fmt.Errorf("revision %s belongs to promise %s, not %s", revision, rev.Spec.Promise, promiseName)
	}
	return nil
}

// ResolveKind finds the Promise whose instances are of kind: the kind (any
// case), its plural, or either followed by "." and the API group. It
// returns the Promise and its instances' group, version and kind.
func (c *Client) ResolveKind(ctx context.Context, kind string) (*fleetv1alpha1.Promise, schema.GroupVersionKind, error) {
	var list fleetv1alpha1.PromiseList
	if err := c.c.List(ctx, &list); err != nil {
		return nil, schema.GroupVersionKind{}, fmt.Errorf("listing Promises to resolve kind %s: %w", kind, err)
	}
	var (
		matches []*fleetv1alpha1.Promise
		known   []string
	)
	for i := range list.Items {
		p := &list.Items[i]
		api := &p.Spec.API
		if api.Kind == "" {
			continue
		}
		plural := instanceapi.Plural(api)
		known = append(known, api.Kind+"."+api.Group)
		for _, name := range []string{api.Kind, plural, api.Kind + "." + api.Group, plural + "." + api.Group} {
			if strings.EqualFold(kind, name) {
				matches = append(matches, p)
				break
			}
		}
	}
	switch len(matches) {
	case 0:
		slices.Sort(known)
		if len(known) == 0 {
			return nil, schema.GroupVersionKind{}, fmt.Errorf("no Promise serves kind %s: there are no Promises", kind)
		}
		return nil, schema.GroupVersionKind{}, fmt.Errorf("no Promise serves kind %s; the Promises' kinds are: %s", kind, strings.Join(known, ", "))
	case 1:
		return matches[0], instanceapi.GVK(&matches[0].Spec.API), nil
	}
	var names []string
	for _, p := range matches {
		names = append(names, fmt.Sprintf("%s.%s (promise %s)", p.Spec.API.Kind, p.Spec.API.Group, p.Name))
	}
	slices.Sort(names)
	return nil, schema.GroupVersionKind{}, fmt.Errorf("kind %s is ambiguous: %s; give KIND.GROUP", kind, strings.Join(names, ", "))
}
