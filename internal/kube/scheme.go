// Package kube holds small Kubernetes plumbing shared by the hub, the agent,
// the CLI and the test environment.
package kube

import (
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// NewScheme returns a scheme with the built-in Kubernetes types and Flotilla's API.
func NewScheme() *runtime.Scheme {
	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(fleetv1alpha1.AddToScheme(scheme))
	return scheme
}
