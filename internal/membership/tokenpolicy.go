package membership

import (
	"strconv"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// The agent's RBAC lets it request tokens for its own ServiceAccount
// (serviceaccounts/token create), and RBAC cannot bound what it asks for: a
// TokenRequest may name any expirationSeconds up to the API server's
// --service-account-max-token-expiration (often unset, or a year). So join
// also installs a ValidatingAdmissionPolicy that holds for any client, the
// agent or someone calling the API with its token:
//
//   - it matches TokenRequests (create serviceaccounts/token) made by a
//     ServiceAccount in a cluster namespace (labelled fleetv1alpha1.LabelCluster);
//   - it reads the lifetime join set from the ConfigMap AgentTokenConfigMap in
//     that namespace (the agent has no right on ConfigMaps), and refuses a
//     request for a longer one, or for none;
//   - it refuses a token for an audience other than the hub's own (the
//     ConfigMap's AgentTokenAudiencesKey, which join sets from the token it
//     issues): the agent's credentials would otherwise mint tokens of its
//     ServiceAccount for any service that trusts the hub's issuer (Vault, a
//     cloud's workload identity);
//   - without that ConfigMap (a cluster joined by an older version) every
//     such request is refused: re-run join.
//
// Join itself, and other people, are not ServiceAccounts and are not bound
// by it; unjoin deletes the ConfigMap with the rest.
const (
	// AgentTokenPolicy names the ValidatingAdmissionPolicy and its binding.
	AgentTokenPolicy = "flotilla-agent-token-lifetime"
	// AgentTokenConfigMap, in each cluster namespace, holds the lifetime of
	// the agent's tokens under AgentTokenMaxSecondsKey.
	AgentTokenConfigMap     = "flotilla-agent-token"
	AgentTokenMaxSecondsKey = "maxExpirationSeconds"
	// AgentTokenAudiencesKey holds, one per line, the audiences the agent's
	// tokens may name: the hub API server's own, as join saw them filled in
	// on the token it issued. Unset (a cluster joined before it existed, until
	// its next join): any.
	AgentTokenAudiencesKey = "audiences"
)

// tokenPolicy returns the cluster-wide admission policy and binding that
// bound the tokens agents mint for themselves (see above).
func tokenPolicy() []client.Object {
	labels := map[string]string{fleetv1alpha1.LabelManagedBy: fleetv1alpha1.ManagedByValue}
	key := AgentTokenMaxSecondsKey
	return []client.Object{
		&admissionregistrationv1.ValidatingAdmissionPolicy{
			ObjectMeta: metav1.ObjectMeta{Name: AgentTokenPolicy, Labels: labels},
			Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
				FailurePolicy: ptr.To(admissionregistrationv1.Fail),
				ParamKind:     &admissionregistrationv1.ParamKind{APIVersion: "v1", Kind: "ConfigMap"},
				MatchConstraints: &admissionregistrationv1.MatchResources{
					ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{
						RuleWithOperations: admissionregistrationv1.RuleWithOperations{
							Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
							Rule: admissionregistrationv1.Rule{
								APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"serviceaccounts/token"},
							},
						},
					}},
				},
				MatchConditions: []admissionregistrationv1.MatchCondition{{
					Name:       "requested-by-a-service-account",
					Expression: `request.userInfo.username.startsWith('system:serviceaccount:')`,
				}},
				Variables: []admissionregistrationv1.Variable{{
					Name:       "max",
					Expression: `has(params.data) && '` + key + `' in params.data ? int(params.data['` + key + `']) : 0`,
				}, {
					Name: "audiences",
					Expression: `has(params.data) && '` + AgentTokenAudiencesKey + `' in params.data ? params.data['` +
						AgentTokenAudiencesKey + `'].split('\n') : []`,
				}},
				Validations: []admissionregistrationv1.Validation{{
					Expression: `has(object.spec.expirationSeconds) && object.spec.expirationSeconds <= variables.max`,
					MessageExpression: `'a ServiceAccount of a member cluster may request tokens valid for at most ' + string(variables.max) + ` +
						`' seconds (set by flotilla join --token-ttl; ConfigMap ` + AgentTokenConfigMap + `)'`,
					Reason: ptr.To(metav1.StatusReasonForbidden),
				}, {
					// The API server fills in its default audiences before
					// admission, so a request that names none passes.
					Expression: `size(variables.audiences) == 0 || (has(object.spec.audiences) && ` +
						`object.spec.audiences.all(a, a in variables.audiences))`,
					MessageExpression: `'a ServiceAccount of a member cluster may request tokens only for the hub (audiences ' + ` +
						`variables.audiences.join(', ') + '), not for ' + ` +
						`(has(object.spec.audiences) ? object.spec.audiences.join(', ') : 'none')`,
					Reason: ptr.To(metav1.StatusReasonForbidden),
				}},
			},
		},
		&admissionregistrationv1.ValidatingAdmissionPolicyBinding{
			ObjectMeta: metav1.ObjectMeta{Name: AgentTokenPolicy, Labels: labels},
			Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{
				PolicyName: AgentTokenPolicy,
				// No namespace: the ConfigMap of the request's namespace.
				ParamRef: &admissionregistrationv1.ParamRef{
					Name:                    AgentTokenConfigMap,
					ParameterNotFoundAction: ptr.To(admissionregistrationv1.DenyAction),
				},
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

// tokenConfigMap is the per-cluster parameter of tokenPolicy: the lifetime
// of the agent's tokens.
func tokenConfigMap(meta metav1.ObjectMeta, ttl time.Duration) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		ObjectMeta: meta,
		Data:       map[string]string{AgentTokenMaxSecondsKey: strconv.FormatInt(int64(ttl/time.Second), 10)},
	}
}
