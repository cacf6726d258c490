package v1alpha1

// A Promise's Helm repository credentials (spec.templates.helm.repository.
// secretRef) are scoped: the hub only reads a Secret the platform team
// marked for chart repositories, and only sends it to the hosts the Secret
// names, over https. Any other Secret on the hub (the git delivery token,
// say) cannot be sent anywhere by a Promise.
const (
	// LabelChartCredentials set to "true" marks a Secret (keys username and
	// password) as chart repository credentials.
	LabelChartCredentials = Group + "/chart-credentials"
	// AnnotationChartCredentialsHosts on such a Secret lists, comma-separated,
	// the repository hosts (host or host:port, as in the repository url) its
	// credentials may be sent to.
	AnnotationChartCredentialsHosts = Group + "/chart-credentials-hosts"
)
