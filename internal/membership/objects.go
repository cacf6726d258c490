package membership

import (
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// legacyAgentClusterRoleName names the ClusterRole and ClusterRoleBinding
// that joins before this version gave each agent to report its facts on its
// Cluster's status. Agents now report them on their Lease (see
// fleetv1alpha1.AnnotationKubernetesVersion), and join removes these.
func legacyAgentClusterRoleName(cluster string) string { return "flotilla-agent-" + cluster }

// agentRoleRules are the agent's rights in its cluster's hub namespace, and no more.
func agentRoleRules() []rbacv1.PolicyRule {
	return []rbacv1.PolicyRule{
		// Its only input: the Works of its own cluster.
		{APIGroups: []string{fleetv1alpha1.Group}, Resources: []string{"works"}, Verbs: []string{"get", "list", "watch"}},
		// Its report on each Work.
		{APIGroups: []string{fleetv1alpha1.Group}, Resources: []string{"works/status"}, Verbs: []string{"get", "update", "patch"}},
		// Its heartbeat: the Lease join pre-created, so no create right.
		{APIGroups: []string{coordinationv1.GroupName}, Resources: []string{"leases"}, Verbs: []string{"get", "update", "patch"},
			ResourceNames: []string{fleetv1alpha1.AgentLease}},
		// Events about its Works (core and events.k8s.io APIs).
		{APIGroups: []string{"", "events.k8s.io"}, Resources: []string{"events"}, Verbs: []string{"create", "patch"}},
		// Renewing its own token before it expires.
		{APIGroups: []string{""}, Resources: []string{"serviceaccounts/token"}, Verbs: []string{"create"},
			ResourceNames: []string{fleetv1alpha1.AgentServiceAccount}},
	}
}

// hubObjects returns what join applies on the hub for a cluster, besides the
// Cluster itself, in apply order: all of it in the cluster's namespace, so the
// agent holds no cluster-scoped right (every ClusterRoleBinding costs the RBAC
// authorizer time on every request to the hub, whoever makes it). owner (the
// Cluster) owns the namespace, so deleting the Cluster lets the garbage
// collector remove it and everything in it. tokenTTL is the lifetime of the
// agent's tokens (the parameter of tokenPolicy, applied before these).
func hubObjects(cluster string, owner metav1.OwnerReference, tokenTTL time.Duration) []client.Object {
	ns := fleetv1alpha1.ClusterNamespace(cluster)
	meta := func(namespace, name string, owned bool) metav1.ObjectMeta {
		m := metav1.ObjectMeta{Namespace: namespace, Name: name, Labels: map[string]string{
			fleetv1alpha1.LabelManagedBy: fleetv1alpha1.ManagedByValue,
			fleetv1alpha1.LabelCluster:   cluster,
		}}
		if owned {
			m.OwnerReferences = []metav1.OwnerReference{owner}
		}
		return m
	}
	agent := rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Namespace: ns, Name: fleetv1alpha1.AgentServiceAccount}
	return []client.Object{
		&corev1.Namespace{ObjectMeta: meta("", ns, true)},
		&corev1.ServiceAccount{ObjectMeta: meta(ns, fleetv1alpha1.AgentServiceAccount, false)},
		&coordinationv1.Lease{ObjectMeta: meta(ns, fleetv1alpha1.AgentLease, false)},
		// Before the Role: the agent may not mint a token until its bound is set.
		tokenConfigMap(meta(ns, AgentTokenConfigMap, false), tokenTTL),
		&rbacv1.Role{ObjectMeta: meta(ns, fleetv1alpha1.AgentServiceAccount, false), Rules: agentRoleRules()},
		&rbacv1.RoleBinding{
			ObjectMeta: meta(ns, fleetv1alpha1.AgentServiceAccount, false),
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: fleetv1alpha1.AgentServiceAccount},
			Subjects:   []rbacv1.Subject{agent},
		},
	}
}

// clusterObject is the Cluster join applies: its name, labels and delivery.
func clusterObject(opts JoinOptions) *fleetv1alpha1.Cluster {
	return &fleetv1alpha1.Cluster{
		ObjectMeta: metav1.ObjectMeta{Name: opts.Name, Labels: opts.Labels, Finalizers: []string{fleetv1alpha1.FinalizerRecordUnjoin}},
		Spec:       fleetv1alpha1.ClusterSpec{Delivery: fleetv1alpha1.Delivery{Mode: opts.Delivery, Git: opts.Git}},
	}
}
