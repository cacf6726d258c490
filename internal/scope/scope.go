// Package scope decides where an instance's objects may land on a member:
// of a kind the Promise's output declares, in the instance's namespace or one
// its output.namespaces rules allow, and never cluster-scoped (a Namespace
// object excepted, when declared and allowed). The hub checks every render
// with it before writing a Work, and the agent checks every object again
// before applying it, from the scope the hub wrote into the Work.
//
// PURE: no API server, no network, no clock.
package scope

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// ForInstance is the scope of an instance's Works: the instance's namespace
// first, then the namespaces out's rules name for it (deduplicated), and the
// kinds out declares. A rule that expands to an invalid namespace name is an
// error: the Promise cannot be rendered for this instance.
func ForInstance(out *v1alpha1.PromiseOutput, namespace, name string) (*v1alpha1.WorkScope, error) {
	sc := &v1alpha1.WorkScope{Namespaces: []string{namespace}}
	if out == nil {
		return sc, nil
	}
	seen := map[string]bool{namespace: true}
	for _, rule := range out.Namespaces {
		// Teams choose their instances' names: a rule that ${name} alone
		// shapes could name kube-system or another team's namespace. The
		// API refuses such a rule; revisions made before are refused here.
		if strings.Contains(rule, "${name}") && !strings.Contains(rule, "${namespace}") {
			return nil, fmt.Errorf("output.namespaces rule %q has ${name} without ${namespace}: an instance's name could pick any namespace", rule)
		}
		ns := expand(rule, namespace, name)
		if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
			return nil, fmt.Errorf("output.namespaces rule %q gives %q for this instance, not a namespace name: %s",
				rule, ns, strings.Join(errs, "; "))
		}
		if !seen[ns] {
			seen[ns] = true
			sc.Namespaces = append(sc.Namespaces, ns)
		}
	}
	sc.Kinds = append(sc.Kinds, out.Kinds...)
	return sc, nil
}

// Derived returns the namespaces out's rules with a placeholder give the
// instance namespace/name, other than namespace itself: those the instance's
// namespace and name decide, not the platform alone (a rule without a
// placeholder names one namespace the platform chose). The hub refuses an
// instance for which one of them is a namespace of the hub: a team chooses
// its instances' names, and ${namespace}-${name} for team pay and instance
// eu gives pay-eu, which may be team pay-eu's.
func Derived(out *v1alpha1.PromiseOutput, namespace, name string) []string {
	if out == nil {
		return nil
	}
	var derived []string
	for _, rule := range out.Namespaces {
		if !strings.Contains(rule, "${") {
			continue
		}
		if ns := expand(rule, namespace, name); ns != namespace && !contains(derived, ns) {
			derived = append(derived, ns)
		}
	}
	return derived
}

// expand replaces ${namespace} and ${name} in a namespaces rule.
func expand(rule, namespace, name string) string {
	return strings.NewReplacer("${namespace}", namespace, "${name}", name).Replace(rule)
}

// Object is what the check needs to know of one object.
type Object struct {
	Group, Kind, Namespace, Name string
	// ClusterScoped says the kind is cluster-scoped, as far as the caller
	// knows: the hub knows Kubernetes' built-in kinds (BuiltinClusterScoped),
	// the agent asks the member's discovery.
	ClusterScoped bool
	// List says the object has a top-level items field (HasItems).
	List bool
	// Finalizers says the object's manifest sets metadata.finalizers.
	Finalizers bool
}

// HasItems says whether an object's content has a top-level items field.
// Argo CD applies the items of any object whose items is a list instead of
// the object itself (unstructured.Unstructured.IsList), kustomize (and so
// Flux) those of a kind ending in List: what the scope judged would not be
// what lands. No kind an instance renders has one but the Lists themselves.
func HasItems(content map[string]any) bool {
	_, ok := content["items"]
	return ok
}

func (o Object) String() string {
	gk := groupKind(o.Group, o.Kind)
	if o.Namespace == "" {
		return gk + " " + o.Name
	}
	return gk + " " + o.Namespace + "/" + o.Name
}

// Violation is an object outside a scope, with the rule it breaks.
type Violation struct {
	// Object names the object, e.g. "ClusterRoleBinding.rbac.authorization.k8s.io evil".
	Object string
	// Rule says what is not allowed.
	Rule string
}

func (v *Violation) Error() string { return v.Object + ": " + v.Rule }

// Check returns nil when obj is inside sc, else a *Violation. A nil scope
// (a Promise's fleet resources, which only the platform team shapes)
// allows everything.
func Check(sc *v1alpha1.WorkScope, obj Object) error {
	if sc == nil {
		return nil
	}
	violation := func(format string, args ...any) error {
		return &Violation{Object: obj.String(), Rule: fmt.Sprintf(format, args...)}
	}
	if obj.List {
		return violation("it has a top-level items field: Argo CD, and kustomize for a kind ending in List, apply its items instead of it, unchecked; an instance's objects are never lists")
	}
	if obj.Finalizers {
		// No controller of the member handles a finalizer an instance's
		// render makes up: its object would never go, and what it runs
		// would stay once the instance, or the team's tenancy, is gone.
		return violation("it sets metadata.finalizers: an instance's objects may not, since one that nobody removes keeps the object on the member once the instance is deleted")
	}
	if !hasKind(sc.Kinds, obj.Group, obj.Kind) {
		return violation("kind %s is not in the Promise's output.kinds (%s)", groupKind(obj.Group, obj.Kind), kindList(sc.Kinds))
	}
	if obj.Group == "" && obj.Kind == "Namespace" {
		if !contains(sc.Namespaces, obj.Name) {
			return violation("a Namespace object may only be one of the namespaces this instance may use (%s)",
				strings.Join(sc.Namespaces, ", "))
		}
		return nil
	}
	if obj.ClusterScoped {
		return violation("cluster-scoped objects come only from a Promise's fleetResources, never from an instance")
	}
	if obj.Namespace == "" {
		return violation("it has no namespace; an instance's objects must be in one of %s", strings.Join(sc.Namespaces, ", "))
	}
	if !contains(sc.Namespaces, obj.Namespace) {
		return violation("namespace %s is neither the instance's (%s) nor one the Promise's output.namespaces allow",
			obj.Namespace, allowedOthers(sc.Namespaces))
	}
	return nil
}

func allowedOthers(nss []string) string {
	if len(nss) == 1 {
		return nss[0]
	}
	return nss[0] + "; also " + strings.Join(nss[1:], ", ")
}

func hasKind(kinds []v1alpha1.OutputKind, group, kind string) bool {
	for _, k := range kinds {
		if k.Group == group && k.Kind == kind {
			return true
		}
	}
	return false
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func groupKind(group, kind string) string {
	if group == "" {
		return kind
	}
	return kind + "." + group
}

func kindList(kinds []v1alpha1.OutputKind) string {
	if len(kinds) == 0 {
		return "none declared"
	}
	names := make([]string, len(kinds))
	for i, k := range kinds {
		names[i] = groupKind(k.Group, k.Kind)
	}
	return strings.Join(names, ", ")
}

// BuiltinClusterScoped says whether group/kind is one of Kubernetes'
// built-in cluster-scoped kinds. Custom kinds are unknown here: the agent
// judges them by the member's discovery.
func BuiltinClusterScoped(group, kind string) bool {
	return clusterScoped[groupKind(group, kind)]
}

// clusterScoped lists the cluster-scoped kinds of Kubernetes' built-in APIs,
// as Kind.group ("Namespace" for the core group).
var clusterScoped = map[string]bool{
	"ComponentStatus":  true,
	"Namespace":        true,
	"Node":             true,
	"PersistentVolume": true,
	"MutatingWebhookConfiguration.admissionregistration.k8s.io":     true,
	"ValidatingWebhookConfiguration.admissionregistration.k8s.io":   true,
	"ValidatingAdmissionPolicy.admissionregistration.k8s.io":        true,
	"ValidatingAdmissionPolicyBinding.admissionregistration.k8s.io": true,
	"MutatingAdmissionPolicy.admissionregistration.k8s.io":          true,
	"MutatingAdmissionPolicyBinding.admissionregistration.k8s.io":   true,
	"CustomResourceDefinition.apiextensions.k8s.io":                 true,
	"APIService.apiregistration.k8s.io":                             true,
	"SelfSubjectReview.authentication.k8s.io":                       true,
	"TokenReview.authentication.k8s.io":                             true,
	"SelfSubjectAccessReview.authorization.k8s.io":                  true,
	"SelfSubjectRulesReview.authorization.k8s.io":                   true,
	"SubjectAccessReview.authorization.k8s.io":                      true,
	"CertificateSigningRequest.certificates.k8s.io":                 true,
	"ClusterTrustBundle.certificates.k8s.io":                        true,
	"FlowSchema.flowcontrol.apiserver.k8s.io":                       true,
	"PriorityLevelConfiguration.flowcontrol.apiserver.k8s.io":       true,
	"IngressClass.networking.k8s.io":                                true,
	"IPAddress.networking.k8s.io":                                   true,
	"ServiceCIDR.networking.k8s.io":                                 true,
	"RuntimeClass.node.k8s.io":                                      true,
	"ClusterRole.rbac.authorization.k8s.io":                         true,
	"ClusterRoleBinding.rbac.authorization.k8s.io":                  true,
	"DeviceClass.resource.k8s.io":                                   true,
	"ResourceSlice.resource.k8s.io":                                 true,
	"PriorityClass.scheduling.k8s.io":                               true,
	"CSIDriver.storage.k8s.io":                                      true,
	"CSINode.storage.k8s.io":                                        true,
	"StorageClass.storage.k8s.io":                                   true,
	"VolumeAttachment.storage.k8s.io":                               true,
	"VolumeAttributesClass.storage.k8s.io":                          true,
	"StorageVersionMigration.storagemigration.k8s.io":               true,
	"StorageVersion.internal.apiserver.k8s.io":                      true,
	"ImageReview.imagepolicy.k8s.io":                                true,
}
