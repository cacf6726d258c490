package kube

import (
	"context"
	"fmt"
	"slices"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensionsclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
)

// InstallCRDs creates or updates the CRDs and waits until each is Established,
// so objects of those kinds can be created right after it returns.
func InstallCRDs(ctx context.Context, config *rest.Config, crds []*apiextensionsv1.CustomResourceDefinition) error {
	client, err := apiextensionsclient.NewForConfig(config)
	if err != nil {
		return fmt.Errorf("creating apiextensions client: %w", err)
	}
	api := client.ApiextensionsV1().CustomResourceDefinitions()
	for _, crd := range crds {
		existing, err := api.Get(ctx, crd.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			_, err = api.Create(ctx, crd.DeepCopy(), metav1.CreateOptions{})
		case err == nil:
			update := crd.DeepCopy()
			update.ResourceVersion = existing.ResourceVersion
			if kept := KeepInstalledFields(update, existing); len(kept) > 0 {
				ctrl.LoggerFrom(ctx).Info("the installed CRD has fields this build does not know (a newer hub installed it): they are kept",
					"crd", crd.Name, "fields", kept)
			}
			_, err = api.Update(ctx, update, metav1.UpdateOptions{})
		}
		if err != nil {
			return fmt.Errorf("installing CRD %s: %w", crd.Name, err)
		}
	}
	for _, crd := range crds {
		if err := waitEstablished(ctx, client, crd.Name); err != nil {
			return err
		}
	}
	return nil
}

func waitEstablished(ctx context.Context, client apiextensionsclient.Interface, name string) error {
	for {
		crd, err := client.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, name, metav1.GetOptions{})
		if err == nil {
			for _, cond := range crd.Status.Conditions {
				if cond.Type == apiextensionsv1.Established && cond.Status == apiextensionsv1.ConditionTrue {
					return nil
				}
				if cond.Type == apiextensionsv1.NamesAccepted && cond.Status == apiextensionsv1.ConditionFalse {
					return fmt.Errorf("CRD %s names not accepted: %s", name, cond.Message)
				}
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for CRD %s to be established: %w", name, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// KeepInstalledFields adds to ours, the CRD about to replace installed, every
// field of installed's schema that ours lacks (in each version both serve),
// and returns their paths. The API server drops from every object the fields
// its CRD's schema does not declare, when it reads one and so at its next
// write, whoever writes: a hub of an older build (a rollback of the hub's
// Deployment) replacing a newer hub's CRDs erased, at every status write,
// what people recorded in the fields only the newer build knows, and
// everything the newer hub counted there. A field that this build dropped
// on purpose stays declared, unused; `kubectl apply -k config/crd` removes it.
func KeepInstalledFields(ours, installed *apiextensionsv1.CustomResourceDefinition) []string {
	var kept []string
	for i := range ours.Spec.Versions {
		v := &ours.Spec.Versions[i]
		for _, iv := range installed.Spec.Versions {
			if iv.Name != v.Name || v.Schema == nil || iv.Schema == nil {
				continue
			}
			kept = append(kept, keepFields(v.Schema.OpenAPIV3Schema, iv.Schema.OpenAPIV3Schema, v.Name)...)
		}
	}
	slices.Sort(kept)
	return kept
}

// keepFields adds to ours the properties installed has and ours lacks, at
// path and below, where ours declares properties (an object that is not a
// map), and returns their paths.
func keepFields(ours, installed *apiextensionsv1.JSONSchemaProps, path string) []string {
	if ours == nil || installed == nil {
		return nil
	}
	var kept []string
	if ours.Type == "object" && ours.AdditionalProperties == nil {
		for name, p := range installed.Properties {
			q, ok := ours.Properties[name]
			if !ok {
				if ours.Properties == nil {
					ours.Properties = map[string]apiextensionsv1.JSONSchemaProps{}
				}
				ours.Properties[name] = p
				kept = append(kept, path+"."+name)
				continue
			}
			kept = append(kept, keepFields(&q, &p, path+"."+name)...)
			ours.Properties[name] = q
		}
	}
	if ours.Items != nil && installed.Items != nil {
		kept = append(kept, keepFields(ours.Items.Schema, installed.Items.Schema, path+"[]")...)
	}
	return kept
}
