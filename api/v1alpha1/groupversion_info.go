package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Group is the API group of every Flotilla kind.
const Group = "fleet.flotilla.dev"

var (
	// GroupVersion is the group and version of this package's kinds.
	GroupVersion = schema.GroupVersion{Group: Group, Version: "v1alpha1"}

	// SchemeBuilder registers this package's kinds with a scheme.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

	// AddToScheme adds this package's kinds to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

// Resource returns a group-qualified resource for an unqualified one, e.g. "rollouts".
func Resource(resource string) schema.GroupResource {
	return GroupVersion.WithResource(resource).GroupResource()
}

func addKnownTypes(scheme *runtime.Scheme) error {
	scheme.AddKnownTypes(GroupVersion,
		&Cluster{}, &ClusterList{},
		&Fleet{}, &FleetList{},
		&Promise{}, &PromiseList{},
		&PromiseRevision{}, &PromiseRevisionList{},
		&Work{}, &WorkList{},
		&RolloutStrategy{}, &RolloutStrategyList{},
		&Rollout{}, &RolloutList{},
		&Override{}, &OverrideList{},
		&DriftException{}, &DriftExceptionList{},
		&FleetFreeze{}, &FleetFreezeList{},
	)
	metav1.AddToGroupVersion(scheme, GroupVersion)
	return nil
}
