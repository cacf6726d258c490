package agent

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// ClaimConfigMap, in Options.ClaimNamespace on the member, names the cluster
// the member is on the hub (key ClaimClusterKey). Work names do not depend on
// the cluster, so another cluster's agent, its manifests applied to this
// member by mistake (a wrong kubectl context), would find this cluster's
// objects labelled with its own Works' names, take them as its own, apply
// its cluster's render over them and report to the hub, as its cluster's,
// what this member runs. The first agent to run records the claim; the
// install manifests never carry it, so applying another cluster's leaves it.
const (
	ClaimConfigMap  = "flotilla-agent-cluster"
	ClaimClusterKey = "cluster"
)

// claimMember records on the member that it is cluster, or refuses when it
// is another. A report-only agent writes nothing on the member: it only
// checks a claim that exists.
func claimMember(ctx context.Context, member *rest.Config, namespace, cluster string, reportOnly bool) error {
	// The dynamic client, as the agent's member client: the typed clientset
	// would add megabytes to the agent's binary for one ConfigMap.
	dyn, err := dynamic.NewForConfig(member)
	if err != nil {
		return fmt.Errorf("member client: %w", err)
	}
	configMaps := dyn.Resource(schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}).Namespace(namespace)
	for {
		cm, err := configMaps.Get(ctx, ClaimConfigMap, metav1.GetOptions{})
		switch {
		case err == nil:
			claimed, _, _ := unstructured.NestedString(cm.Object, "data", ClaimClusterKey)
			return checkClaim(claimed, cluster, namespace)
		case !apierrors.IsNotFound(err):
			return fmt.Errorf("reading the member's claim %s/%s: %w", namespace, ClaimConfigMap, err)
		case reportOnly:
			return nil
		}
		claim := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "v1", "kind": "ConfigMap",
			"metadata": map[string]any{"name": ClaimConfigMap, "labels": map[string]any{
				fleetv1alpha1.LabelManagedBy: fleetv1alpha1.ManagedByValue,
			}},
			"data": map[string]any{ClaimClusterKey: cluster},
		}}
		_, err = configMaps.Create(ctx, claim, metav1.CreateOptions{})
		if !apierrors.IsAlreadyExists(err) { // else another agent claimed it first: read its claim
			if err != nil {
				return fmt.Errorf("recording the member's claim %s/%s: %w", namespace, ClaimConfigMap, err)
			}
			return nil
		}
	}
}

// checkClaim refuses to run as cluster on a member claimed by another.
func checkClaim(claimed, cluster, namespace string) error {
	if claimed == cluster {
		return nil
	}
	return fmt.Errorf("this member is cluster %q (ConfigMap %s/%s), not %q: the agent of %q would apply its Works over %q's objects "+
		"and report to the hub what this member runs. Were %q's install manifests applied to the wrong cluster? Apply %q's here again. "+
		"To make this member %q on purpose (once %q is unjoined), delete that ConfigMap",
		claimed, namespace, ClaimConfigMap, cluster, cluster, claimed, cluster, claimed, cluster, claimed)
}
