package kube

import (
	"context"
	"fmt"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// InstallAdmissionPolicies creates or updates the ValidatingAdmissionPolicies
// and their bindings, policies first.
func InstallAdmissionPolicies(ctx context.Context, config *rest.Config,
	policies []*admissionregistrationv1.ValidatingAdmissionPolicy, bindings []*admissionregistrationv1.ValidatingAdmissionPolicyBinding) error {
	cs, err := kubernetes.NewForConfig(config)
	if err != nil {
		return fmt.Errorf("creating client: %w", err)
	}
	api := cs.AdmissionregistrationV1()
	for _, p := range policies {
		existing, err := api.ValidatingAdmissionPolicies().Get(ctx, p.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			_, err = api.ValidatingAdmissionPolicies().Create(ctx, p.DeepCopy(), metav1.CreateOptions{})
		case err == nil:
			update := p.DeepCopy()
			update.ResourceVersion = existing.ResourceVersion
			_, err = api.ValidatingAdmissionPolicies().Update(ctx, update, metav1.UpdateOptions{})
		}
		if err != nil {
			return fmt.Errorf("installing ValidatingAdmissionPolicy %s: %w", p.Name, err)
		}
	}
	for _, b := range bindings {
		existing, err := api.ValidatingAdmissionPolicyBindings().Get(ctx, b.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			_, err = api.ValidatingAdmissionPolicyBindings().Create(ctx, b.DeepCopy(), metav1.CreateOptions{})
		case err == nil:
			update := b.DeepCopy()
			update.ResourceVersion = existing.ResourceVersion
			_, err = api.ValidatingAdmissionPolicyBindings().Update(ctx, update, metav1.UpdateOptions{})
		}
		if err != nil {
			return fmt.Errorf("installing ValidatingAdmissionPolicyBinding %s: %w", b.Name, err)
		}
	}
	return nil
}
