package membership

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/kube"
)

// Join makes a member cluster known to the hub, or brings an existing
// membership up to date: it applies (server-side, field manager FieldManager)
// the admission policies bounding the lifetime of agents' tokens (tokenPolicy)
// and refusing them finalizers and Events about objects of other namespaces
// (agentFinalizerPolicy),
// the Cluster, its namespace, the agent's ServiceAccount and pre-created
// Lease, the bound of its tokens (opts.TokenTTL), and the agent's
// Role/RoleBinding; it removes the ClusterRole and
// ClusterRoleBinding earlier versions gave the agent; then it issues a fresh
// token for the agent. Running it again updates labels
// and delivery and issues a new token; earlier tokens stay valid, and whoever
// holds one may renew it, unless opts.RevokeTokens replaces the ServiceAccount.
func Join(ctx context.Context, hub *rest.Config, opts JoinOptions) (*Joined, error) {
	opts, err := opts.normalize()
	if err != nil {
		return nil, err
	}
	c, err := newClient(hub)
	if err != nil {
		return nil, err
	}
	ns := fleetv1alpha1.ClusterNamespace(opts.Name)
	if err := checkNotTerminating(ctx, c, ns); err != nil {
		return nil, err
	}
	if err := checkClusterNotDeleted(ctx, c, opts.Name); err != nil {
		return nil, err
	}
	reused, err := checkNameNotUnjoined(ctx, c, opts.Name, opts.ReuseName)
	if err != nil {
		return nil, err
	}

	cluster := clusterObject(opts)
	if err := apply(ctx, c, cluster); err != nil {
		return nil, err
	}
	owner := metav1.OwnerReference{
		APIVersion: fleetv1alpha1.GroupVersion.String(), Kind: "Cluster",
		Name: cluster.Name, UID: cluster.UID,
	}
	revoked := false
	if opts.RevokeTokens {
		if revoked, err = deleteAgentServiceAccount(ctx, c, ns); err != nil {
			return nil, err
		}
	}
	policies := append(tokenPolicy(), agentFinalizerPolicy()...)
	for _, obj := range append(policies, hubObjects(opts.Name, owner, opts.TokenTTL)...) {
		if err := apply(ctx, c, obj); err != nil {
			return nil, err
		}
	}

	if err := removeLegacyClusterRBAC(ctx, c, opts.Name); err != nil {
		return nil, err
	}

	token, expiry, audiences, err := requestToken(ctx, c, ns, opts.TokenTTL, tokenParamWait)
	if err != nil {
		return nil, err
	}
	if err := boundAudiences(ctx, c, ns, audiences); err != nil {
		return nil, err
	}
	server := opts.HubServer
	if server == "" {
		server = hub.Host
	}
	kubeconfig, err := agentKubeconfig(hub, server, opts.Name, token)
	if err != nil {
		return nil, err
	}
	if reused {
		if err := clearUnjoined(ctx, c, opts.Name); err != nil {
			return nil, err
		}
	}
	return &Joined{Cluster: cluster, Namespace: ns, HubKubeconfig: kubeconfig, TokenExpiry: expiry, RevokedTokens: revoked}, nil
}

// deleteAgentServiceAccount deletes the agent's ServiceAccount in ns, so that
// every token issued for it is refused (each is bound to its UID); join's
// apply then creates it anew. It reports whether there was one. One that
// stays after the delete (a finalizer someone put on it) keeps its UID and
// its tokens valid: that is an error, not a revocation.
func deleteAgentServiceAccount(ctx context.Context, c client.Client, ns string) (bool, error) {
	sa := &corev1.ServiceAccount{}
	key := client.ObjectKey{Namespace: ns, Name: fleetv1alpha1.AgentServiceAccount}
	if err := c.Get(ctx, key, sa); apierrors.IsNotFound(err) {
		return false, nil
	} else if err != nil {
		return false, fmt.Errorf("reading the agent's ServiceAccount %s/%s: %w", ns, key.Name, err)
	}
	uid := sa.UID
	if err := c.Delete(ctx, sa, client.Preconditions{UID: &uid}); client.IgnoreNotFound(err) != nil {
		return false, fmt.Errorf("revoking the agent's tokens: deleting ServiceAccount %s/%s: %w", ns, key.Name, err)
	}
	left := &corev1.ServiceAccount{}
	err := c.Get(ctx, key, left)
	switch {
	case apierrors.IsNotFound(err):
		return true, nil
	case err != nil:
		return false, fmt.Errorf("revoking the agent's tokens: reading ServiceAccount %s/%s: %w", ns, key.Name, err)
	case left.UID == uid:
		return false, fmt.Errorf("revoking the agent's tokens: ServiceAccount %s/%s is still there after its deletion "+
			"(finalizers %v), so its tokens stay valid; remove them and join again", ns, key.Name, left.Finalizers)
	}
	return true, nil // already created anew by someone else: the old UID is gone
}

func newClient(hub *rest.Config) (client.Client, error) {
	c, err := client.New(hub, client.Options{Scheme: kube.NewScheme()})
	if err != nil {
		return nil, fmt.Errorf("connecting to the hub: %w", err)
	}
	return c, nil
}

// checkNotTerminating refuses to join while an earlier unjoin's namespace is
// still being deleted: nothing can be created in it until it is gone.
func checkNotTerminating(ctx context.Context, c client.Client, ns string) error {
	existing := &corev1.Namespace{}
	err := c.Get(ctx, client.ObjectKey{Name: ns}, existing)
	switch {
	case apierrors.IsNotFound(err):
		return nil
	case err != nil:
		return fmt.Errorf("reading namespace %s: %w", ns, err)
	case existing.DeletionTimestamp != nil:
		return fmt.Errorf("namespace %s is still being deleted after an unjoin; join again once it is gone", ns)
	}
	return nil
}

// checkClusterNotDeleted refuses to join a name whose Cluster is being
// deleted (kubectl delete, waiting for the hub to record the name): join would
// apply everything again onto the removed cluster's ServiceAccount, whose
// tokens would then serve the new cluster, until the deletion, once the hub
// records it, takes the new cluster's namespace with it.
func checkClusterNotDeleted(ctx context.Context, c client.Client, name string) error {
	cluster := &fleetv1alpha1.Cluster{}
	err := c.Get(ctx, client.ObjectKey{Name: name}, cluster)
	switch {
	case apierrors.IsNotFound(err):
		return nil
	case err != nil:
		return fmt.Errorf("reading cluster %s: %w", name, err)
	case cluster.DeletionTimestamp != nil:
		return fmt.Errorf("cluster %s is being deleted (since %s; finalizers %v): the hub records its name as unjoined before it goes, "+
			"so check that the hub runs; then join the new cluster under another name, or with --reuse-name once the hub's API servers "+
			"have restarted (see flotilla unjoin)", name, cluster.DeletionTimestamp.UTC().Format(time.RFC3339), cluster.Finalizers)
	}
	return nil
}

// apply server-side applies the fields obj sets, taking them over from any
// other manager, and reads the result back into obj.
func apply(ctx context.Context, c client.Client, obj client.Object) error {
	u, err := toUnstructured(obj, c.Scheme())
	if err != nil {
		return err
	}
	if err := c.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner(FieldManager), client.ForceOwnership); err != nil {
		return fmt.Errorf("applying %s: %w", describe(c, obj), err)
	}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, obj); err != nil {
		return fmt.Errorf("reading applied %s: %w", describe(c, obj), err)
	}
	return nil
}

// toUnstructured converts a typed object, setting its apiVersion and kind and
// dropping the zero values typed objects carry (creationTimestamp, status),
// which would otherwise be applied or printed as if they were meant.
func toUnstructured(obj client.Object, scheme *runtime.Scheme) (*unstructured.Unstructured, error) {
	gvk, err := apiutil.GVKForObject(obj, scheme)
	if err != nil {
		return nil, fmt.Errorf("converting %T: %w", obj, err)
	}
	content, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, fmt.Errorf("converting %s %s: %w", gvk.Kind, obj.GetName(), err)
	}
	u := &unstructured.Unstructured{Object: content}
	u.SetGroupVersionKind(gvk)
	unstructured.RemoveNestedField(u.Object, "metadata", "creationTimestamp")
	unstructured.RemoveNestedField(u.Object, "status")
	return u, nil
}

// describe names obj for errors: "Role flotilla-cluster-a/flotilla-agent".
func describe(c client.Client, obj client.Object) string {
	kind := fmt.Sprintf("%T", obj)
	if gvk, err := apiutil.GVKForObject(obj, c.Scheme()); err == nil {
		kind = gvk.Kind
	}
	if obj.GetNamespace() == "" {
		return kind + " " + obj.GetName()
	}
	return kind + " " + obj.GetNamespace() + "/" + obj.GetName()
}

// tokenParamWait bounds how long join waits for the API server to see the
// token policy's parameter (the ConfigMap join has just applied).
const tokenParamWait = 30 * time.Second

// requestToken issues a token for the agent's ServiceAccount. It is bound to
// the ServiceAccount's UID: deleting the ServiceAccount (unjoin) revokes it.
//
// The API server looks up the token policy's parameter in its own cache
// before it evaluates the policy's match conditions, so a TokenRequest in a
// cluster namespace is refused ("no params found", 422), whoever makes it, until
// that cache holds the ConfigMap join applied a moment ago; a busy API server
// lags by seconds. That refusal is waited out, up to wait; any other error,
// and that one after wait, is returned.
//
// It also returns the token's audiences: the API server fills in its own when
// a request names none.
func requestToken(ctx context.Context, c client.Client, ns string, ttl, wait time.Duration) (string, time.Time, []string, error) {
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fleetv1alpha1.AgentServiceAccount}}
	req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		ExpirationSeconds: ptr.To(int64(ttl / time.Second)),
	}}
	deadline := time.Now().Add(wait)
	for backoff := 100 * time.Millisecond; ; backoff = min(2*backoff, 2*time.Second) {
		err := c.SubResource("token").Create(ctx, sa, req)
		if err == nil {
			break
		}
		if !paramNotYetSeen(err) || time.Now().Add(backoff).After(deadline) {
			return "", time.Time{}, nil, fmt.Errorf("requesting a token for %s/%s: %w", ns, sa.Name, err)
		}
		select {
		case <-ctx.Done():
			return "", time.Time{}, nil, fmt.Errorf("requesting a token for %s/%s: %w", ns, sa.Name, err)
		case <-time.After(backoff):
		}
	}
	if req.Status.Token == "" {
		return "", time.Time{}, nil, errors.New("the hub returned an empty token")
	}
	return req.Status.Token, req.Status.ExpirationTimestamp.Time, req.Spec.Audiences, nil
}

// boundAudiences records audiences, the hub API server's own, as the only
// ones the agent's tokens may name (tokenPolicy). Its own field manager owns
// the key, so join's apply of the ConfigMap's other keys leaves it.
func boundAudiences(ctx context.Context, c client.Client, ns string, audiences []string) error {
	if len(audiences) == 0 {
		return nil
	}
	cm := &unstructured.Unstructured{}
	cm.SetAPIVersion("v1")
	cm.SetKind("ConfigMap")
	cm.SetNamespace(ns)
	cm.SetName(AgentTokenConfigMap)
	if err := unstructured.SetNestedField(cm.Object, strings.Join(audiences, "\n"), "data", AgentTokenAudiencesKey); err != nil {
		return err
	}
	if err := c.Apply(ctx, client.ApplyConfigurationFromUnstructured(cm), client.FieldOwner(FieldManager+"-audiences"), client.ForceOwnership); err != nil {
		return fmt.Errorf("recording the hub's token audiences in %s/%s: %w", ns, AgentTokenConfigMap, err)
	}
	return nil
}

// removeLegacyClusterRBAC deletes the ClusterRoleBinding and ClusterRole that
// joins before agents reported facts on their Lease created for the cluster:
// the agent no longer uses them, and each ClusterRoleBinding slows every
// request to the hub. Only objects join made are deleted (see madeByJoin);
// the binding goes first, so the agent never holds a dangling grant.
func removeLegacyClusterRBAC(ctx context.Context, c client.Client, cluster string) error {
	name := legacyAgentClusterRoleName(cluster)
	for _, obj := range []client.Object{&rbacv1.ClusterRoleBinding{}, &rbacv1.ClusterRole{}} {
		err := c.Get(ctx, client.ObjectKey{Name: name}, obj)
		switch {
		case apierrors.IsNotFound(err):
			continue
		case err != nil:
			return fmt.Errorf("reading %s: %w", describe(c, obj), err)
		}
		if !madeByJoin(obj, cluster) {
			continue // not join's: leave it to whoever made it
		}
		uid := obj.GetUID()
		if err := c.Delete(ctx, obj, client.Preconditions{UID: &uid}); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("removing %s, which agents no longer need: %w", describe(c, obj), err)
		}
	}
	return nil
}

// madeByJoin reports whether obj is one an earlier join made for cluster: it
// carries join's labels and is owned by the Cluster. (A member-side object of
// the agent's install may carry the same labels, and on a hub that is also
// the member, the same name.)
func madeByJoin(obj client.Object, cluster string) bool {
	labels := obj.GetLabels()
	if labels[fleetv1alpha1.LabelManagedBy] != fleetv1alpha1.ManagedByValue || labels[fleetv1alpha1.LabelCluster] != cluster {
		return false
	}
	for _, ref := range obj.GetOwnerReferences() {
		if ref.Kind == "Cluster" && ref.APIVersion == fleetv1alpha1.GroupVersion.String() && ref.Name == cluster {
			return true
		}
	}
	return false
}

// paramNotYetSeen reports whether err is the API server refusing a request
// because an admission policy's parameter is not in its cache (yet): a
// policy's configuration error, which it answers 422 Invalid.
func paramNotYetSeen(err error) bool {
	return apierrors.IsInvalid(err) && strings.Contains(err.Error(), "no params found")
}
