package membership

import (
	"fmt"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// The agent may update its Lease and create Events in its cluster's
// namespace, and RBAC cannot tell which fields of them it writes. A finalizer
// it added to either would outlive its access: after unjoin, the namespace
// would stay Terminating (NamespaceFinalizersRemaining) until a person
// removed it, and the cluster's name could not be joined again. So join also
// installs a ValidatingAdmissionPolicy refusing a ServiceAccount of a cluster
// namespace (labelled fleetv1alpha1.LabelCluster) any finalizer it adds to a
// Lease or an Event there. Like tokenPolicy it holds for any client, and is
// cluster-wide, shared by all clusters and left by unjoin.
const AgentFinalizerPolicy = "flotilla-agent-finalizers"

// The API server checks an events.k8s.io Event's namespace against the
// object it regards only for cluster-scoped ones, and nothing checks the kind
// it names or who it says reported it. So the same policy holds the agent's
// Events (both APIs, created or patched) to what its recorder writes: about
// Works of its own namespace, reported as the agent. One in
// flotilla-cluster-a "regarding" the platform's Rollout, or Cluster b given
// flotilla-cluster-a as its namespace, from flotilla-hub with the hub's
// ClusterOffline, would otherwise read as the hub's word about that object to
// `kubectl events -A --for cluster/b` and whatever exports Events by the
// object they name.
var eventsAreTheAgents = `request.resource.resource != 'events' || (` +
	`(request.resource.group == 'events.k8s.io' ? ` +
	`has(object.regarding) && ` + aWorkOfTheNamespace("object.regarding") + ` && ` +
	reportedAsTheAgent("reportingController", "deprecatedSource") + ` : ` +
	`has(object.involvedObject) && ` + aWorkOfTheNamespace("object.involvedObject") + ` && ` +
	reportedAsTheAgent("reportingComponent", "source") + `) && ` +
	`(!has(object.related) || ` + aWorkOfTheNamespace("object.related") + `))`

// aWorkOfTheNamespace is a CEL test that the object reference ref names a
// Work of the request's namespace.
func aWorkOfTheNamespace(ref string) string {
	return fmt.Sprintf(`(%[1]s[?'namespace'].orValue('') == request.namespace && %[1]s[?'kind'].orValue('') == 'Work' && `+
		`%[1]s[?'apiVersion'].orValue('').startsWith('%[2]s/'))`, ref, fleetv1alpha1.Group)
}

// reportedAsTheAgent is a CEL test that an Event names no reporter but the
// agent, in its reporting field and its source's component.
func reportedAsTheAgent(reporting, source string) string {
	return fmt.Sprintf(`object[?'%[1]s'].orValue('') in ['', '%[3]s'] && `+
		`object[?'%[2]s'].component.orValue('') in ['', '%[3]s']`, reporting, source, fleetv1alpha1.AgentEventSource)
}

// agentFinalizerPolicy returns the admission policy and binding above, with
// both rules.
func agentFinalizerPolicy() []client.Object {
	labels := map[string]string{fleetv1alpha1.LabelManagedBy: fleetv1alpha1.ManagedByValue}
	rule := func(group string, resources ...string) admissionregistrationv1.NamedRuleWithOperations {
		return admissionregistrationv1.NamedRuleWithOperations{RuleWithOperations: admissionregistrationv1.RuleWithOperations{
			Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update},
			Rule:       admissionregistrationv1.Rule{APIGroups: []string{group}, APIVersions: []string{"*"}, Resources: resources},
		}}
	}
	return []client.Object{
		&admissionregistrationv1.ValidatingAdmissionPolicy{
			ObjectMeta: metav1.ObjectMeta{Name: AgentFinalizerPolicy, Labels: labels},
			Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
				FailurePolicy: ptr.To(admissionregistrationv1.Fail),
				MatchConstraints: &admissionregistrationv1.MatchResources{
					ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{
						rule("coordination.k8s.io", "leases"), rule("", "events"), rule("events.k8s.io", "events"),
					},
				},
				MatchConditions: []admissionregistrationv1.MatchCondition{{
					Name:       "requested-by-a-service-account-of-the-namespace",
					Expression: `request.userInfo.username.startsWith('system:serviceaccount:' + request.namespace + ':')`,
				}},
				Validations: []admissionregistrationv1.Validation{{
					Expression: `!has(object.metadata.finalizers) || object.metadata.finalizers.all(f, ` +
						`oldObject != null && has(oldObject.metadata.finalizers) && f in oldObject.metadata.finalizers)`,
					Message: "an agent may not add finalizers: they would keep its cluster's namespace from being deleted",
					Reason:  ptr.To(metav1.StatusReasonForbidden),
				}, {
					Expression: eventsAreTheAgents,
					Message: "an agent's Event may regard (and relate to) only Works of its own cluster's namespace, " +
						"reported as " + fleetv1alpha1.AgentEventSource + ": " +
						"an Event of its namespace about another object, or in another's name, would read as the hub's or another cluster's",
					Reason: ptr.To(metav1.StatusReasonForbidden),
				}},
			},
		},
		&admissionregistrationv1.ValidatingAdmissionPolicyBinding{
			ObjectMeta: metav1.ObjectMeta{Name: AgentFinalizerPolicy, Labels: labels},
			Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{
				PolicyName: AgentFinalizerPolicy,
				MatchResources: &admissionregistrationv1.MatchResources{
					NamespaceSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{
						Key: fleetv1alpha1.LabelCluster, Operator: metav1.LabelSelectorOpExists,
					}}},
				},
				ValidationActions: []admissionregistrationv1.ValidationAction{admissionregistrationv1.Deny},
			},
		},
	}
}
