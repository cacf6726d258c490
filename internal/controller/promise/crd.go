package promise

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/instanceapi"
)

// installAPI creates or updates the instance CRD and reports whether it is
// Established. A CRD of the same name that another Promise (or no Promise)
// owns is a conflict.
func (r *Reconciler) installAPI(ctx context.Context, p *fleetv1alpha1.Promise, crd *apiextensionsv1.CustomResourceDefinition) (bool, *problem, error) {
	conflict := func(msg string) *problem {
		return &problem{condition: fleetv1alpha1.ConditionAPIEstablished, reason: fleetv1alpha1.ReasonAPIConflict, message: msg, stalled: true}
	}
	owned := &apiextensionsv1.CustomResourceDefinitionList{}
	if err := r.Client.List(ctx, owned, client.MatchingLabels{fleetv1alpha1.LabelPromise: p.Name}); err != nil {
		return false, nil, fmt.Errorf("listing CRDs of promise %s: %w", p.Name, err)
	}
	for _, other := range owned.Items {
		if other.Name != crd.Name && other.DeletionTimestamp.IsZero() {
			return false, conflict(fmt.Sprintf("the Promise already serves CRD %s, where its instances are: api.plural cannot change", other.Name)), nil
		}
	}
	existing := &apiextensionsv1.CustomResourceDefinition{}
	err := r.Client.Get(ctx, client.ObjectKeyFromObject(crd), existing)
	if apierrors.IsNotFound(err) {
		// Not in the cache, which holds only Flotilla's: ask the API server.
		err = r.APIReader.Get(ctx, client.ObjectKeyFromObject(crd), existing)
	}
	switch {
	case apierrors.IsNotFound(err):
		specHash, err := generatedHash(&crd.Spec)
		if err != nil {
			return false, nil, err
		}
		crd.Annotations = map[string]string{annotationCRDSpecHash: specHash}
		if err := r.Client.Create(ctx, crd); err != nil {
			if apierrors.IsInvalid(err) {
				return false, &problem{condition: fleetv1alpha1.ConditionAPIEstablished, reason: fleetv1alpha1.ReasonInvalidSpec,
					message: "the API server refused the generated CRD: " + err.Error(), stalled: true}, nil
			}
			return false, nil, fmt.Errorf("creating CRD %s: %w", crd.Name, err)
		}
		ctrl.LoggerFrom(ctx).Info("created instance CRD", "crd", crd.Name)
		return false, nil, nil
	case err != nil:
		return false, nil, fmt.Errorf("reading CRD %s: %w", crd.Name, err)
	}
	if owner := existing.Labels[fleetv1alpha1.LabelPromise]; owner != p.Name {
		if owner == "" {
			return false, conflict(fmt.Sprintf("CRD %s exists and is not managed by Flotilla", crd.Name)), nil
		}
		return false, conflict(fmt.Sprintf("CRD %s belongs to Promise %s", crd.Name, owner)), nil
	}
	if !existing.DeletionTimestamp.IsZero() {
		return false, &problem{condition: fleetv1alpha1.ConditionAPIEstablished, reason: fleetv1alpha1.ReasonProgressing,
			message: fmt.Sprintf("CRD %s is being deleted", crd.Name)}, nil
	}
	desired := existing.DeepCopy()
	desired.Labels = crd.Labels
	desired.Spec.Group = crd.Spec.Group
	desired.Spec.Names = crd.Spec.Names
	desired.Spec.Scope = crd.Spec.Scope
	desired.Spec.Versions = instanceapi.KeepStoredVersions(crd.Spec.Versions, existing.Status.StoredVersions)
	// The API server normalises schemas, so compare what was generated, not
	// what is stored: the hash of the generated spec rides on an annotation.
	specHash, err := generatedHash(&desired.Spec)
	if err != nil {
		return false, nil, err
	}
	if desired.Annotations == nil {
		desired.Annotations = map[string]string{}
	}
	desired.Annotations[annotationCRDSpecHash] = specHash
	if !equality.Semantic.DeepEqual(existing.Labels, desired.Labels) || existing.Annotations[annotationCRDSpecHash] != specHash {
		if err := r.Client.Update(ctx, desired); err != nil {
			if apierrors.IsInvalid(err) {
				return false, &problem{condition: fleetv1alpha1.ConditionAPIEstablished, reason: fleetv1alpha1.ReasonInvalidSpec,
					message: "the API server refused the generated CRD: " + err.Error(), stalled: true}, nil
			}
			return false, nil, fmt.Errorf("updating CRD %s: %w", crd.Name, err)
		}
		ctrl.LoggerFrom(ctx).Info("updated instance CRD", "crd", crd.Name)
	}
	return crdEstablished(desired), nil, nil
}

// annotationCRDSpecHash records the hash of the generated CRD spec last written.
const annotationCRDSpecHash = fleetv1alpha1.Group + "/spec-hash"

// generatedHash hashes the parts of a CRD spec the hub generates.
func generatedHash(spec *apiextensionsv1.CustomResourceDefinitionSpec) (string, error) {
	b, err := json.Marshal([]any{spec.Group, spec.Names, spec.Scope, spec.Versions})
	if err != nil {
		return "", fmt.Errorf("encoding CRD spec: %w", err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

func crdEstablished(crd *apiextensionsv1.CustomResourceDefinition) bool {
	for _, c := range crd.Status.Conditions {
		if c.Type == apiextensionsv1.Established && c.Status == apiextensionsv1.ConditionTrue {
			return true
		}
	}
	return false
}

// ownedCRDEstablished reports whether the Promise's CRD exists, is the
// Promise's, and is Established (from the cache).
func (r *Reconciler) ownedCRDEstablished(ctx context.Context, p *fleetv1alpha1.Promise) bool {
	crd := &apiextensionsv1.CustomResourceDefinition{}
	if err := r.Client.Get(ctx, client.ObjectKey{Name: instanceapi.CRDName(&p.Spec.API)}, crd); err != nil {
		return false
	}
	return crd.Labels[fleetv1alpha1.LabelPromise] == p.Name && crd.DeletionTimestamp.IsZero() && crdEstablished(crd)
}
