// Package v1alpha1 holds the Flotilla fleet API: the kinds of group
// fleet.flotilla.dev, version v1alpha1.
//
// +kubebuilder:object:generate=true
// +groupName=fleet.flotilla.dev
package v1alpha1
