package membership

import (
	"context"
	"errors"
	"maps"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/kube"
)

func adminClient(t *testing.T) client.Client {
	t.Helper()
	c, err := client.New(hub.RESTConfig, client.Options{Scheme: kube.NewScheme()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// agentClient connects to the hub with the kubeconfig join issued.
func agentClient(t *testing.T, kubeconfig []byte) client.WithWatch {
	t.Helper()
	cfg, err := clientcmd.RESTConfigFromKubeConfig(kubeconfig)
	if err != nil {
		t.Fatalf("agent kubeconfig: %v", err)
	}
	c, err := client.NewWithWatch(cfg, client.Options{Scheme: kube.NewScheme()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// whoAmI returns the user the hub authenticates c as.
func whoAmI(ctx context.Context, c client.Client) (string, error) {
	review := &authenticationv1.SelfSubjectReview{}
	if err := c.Create(ctx, review); err != nil {
		return "", err
	}
	return review.Status.UserInfo.Username, nil
}

func TestJoinIsIdempotentAndUnjoinRemovesEverything(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	admin := adminClient(t)
	const name = "edge-1"
	ns := fleetv1alpha1.ClusterNamespace(name)

	start := time.Now()
	joined, err := Join(ctx, hub.RESTConfig, JoinOptions{Name: name, Labels: map[string]string{"env": "prod", "region": "eu-west"}})
	if err != nil {
		t.Fatalf("join: %v", err)
	}
	t.Logf("join took %s", time.Since(start).Round(time.Millisecond))
	if joined.Namespace != ns || joined.Cluster.Name != name || joined.Cluster.UID == "" {
		t.Fatalf("joined = %+v", joined)
	}
	if d := time.Until(joined.TokenExpiry); d < DefaultTokenTTL-time.Minute || d > DefaultTokenTTL+time.Minute {
		t.Errorf("token expires in %s, want about %s", d, DefaultTokenTTL)
	}
	checkHubObjects(ctx, t, admin, name)
	cluster := getCluster(ctx, t, admin, name)
	if cluster.Spec.Delivery.Mode != fleetv1alpha1.DeliveryAgent {
		t.Errorf("delivery = %+v", cluster.Spec.Delivery)
	}

	// The kubeconfig reaches this hub, trusts its CA, and authenticates as the agent.
	kcfg, err := clientcmd.Load(joined.HubKubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	kctx := kcfg.Contexts[kcfg.CurrentContext]
	if kcfg.Clusters[kctx.Cluster].Server != hub.Server || kctx.Namespace != ns {
		t.Errorf("kubeconfig server %q namespace %q", kcfg.Clusters[kctx.Cluster].Server, kctx.Namespace)
	}
	firstAgent := agentClient(t, joined.HubKubeconfig)
	user, err := whoAmI(ctx, firstAgent)
	if want := "system:serviceaccount:" + ns + ":" + fleetv1alpha1.AgentServiceAccount; err != nil || user != want {
		t.Fatalf("agent authenticates as %q (%v), want %q", user, err, want)
	}

	// Someone labels the Cluster by other means; the agent heartbeats.
	patch := client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"labels":{"owner":"team-a"}}}`))
	if err := admin.Patch(ctx, cluster, patch); err != nil {
		t.Fatal(err)
	}
	lease := &coordinationv1.Lease{}
	if err := firstAgent.Get(ctx, types.NamespacedName{Namespace: ns, Name: fleetv1alpha1.AgentLease}, lease); err != nil {
		t.Fatal(err)
	}
	renew := metav1.NewMicroTime(time.Now().Truncate(time.Microsecond)) // the API keeps microseconds
	lease.Spec.RenewTime, lease.Spec.HolderIdentity = &renew, ptr.To("agent-pod")
	if err := firstAgent.Update(ctx, lease); err != nil {
		t.Fatalf("agent renewing its lease: %v", err)
	}

	// Join again with other labels and git delivery: labels join set before
	// and not now go, others stay; the lease keeps the agent's heartbeat.
	git := &fleetv1alpha1.GitDelivery{URL: "https://git.example.com/fleet.git", Branch: "main", Path: "clusters/edge-1"}
	second, err := Join(ctx, hub.RESTConfig, JoinOptions{Name: name, Labels: map[string]string{"env": "staging", "tier": "edge"},
		Delivery: fleetv1alpha1.DeliveryGit, Git: git, TokenTTL: time.Hour})
	if err != nil {
		t.Fatalf("second join: %v", err)
	}
	cluster = getCluster(ctx, t, admin, name)
	if want := map[string]string{"env": "staging", "tier": "edge", "owner": "team-a"}; !maps.Equal(cluster.Labels, want) {
		t.Errorf("labels after re-join = %v, want %v", cluster.Labels, want)
	}
	if cluster.UID != joined.Cluster.UID || cluster.Spec.Delivery.Mode != fleetv1alpha1.DeliveryGit || cluster.Spec.Delivery.Git.URL != git.URL {
		t.Errorf("cluster after re-join: uid %s (was %s), delivery %+v", cluster.UID, joined.Cluster.UID, cluster.Spec.Delivery)
	}
	if d := time.Until(second.TokenExpiry); d > time.Hour+time.Minute || d < time.Hour-time.Minute {
		t.Errorf("second token expires in %s, want about 1h", d)
	}
	if err := admin.Get(ctx, client.ObjectKeyFromObject(lease), lease); err != nil || lease.Spec.RenewTime == nil || !lease.Spec.RenewTime.Equal(&renew) {
		t.Errorf("re-join touched the agent's lease: %+v (%v)", lease.Spec, err)
	}
	checkHubObjects(ctx, t, admin, name)

	// And back to agent delivery: the git settings join set are removed.
	if _, err := Join(ctx, hub.RESTConfig, JoinOptions{Name: name}); err != nil {
		t.Fatalf("third join: %v", err)
	}
	cluster = getCluster(ctx, t, admin, name)
	if cluster.Spec.Delivery.Mode != fleetv1alpha1.DeliveryAgent || cluster.Spec.Delivery.Git != nil || !maps.Equal(cluster.Labels, map[string]string{"owner": "team-a"}) {
		t.Errorf("after the third join: delivery %+v labels %v", cluster.Spec.Delivery, cluster.Labels)
	}
	clusters := &fleetv1alpha1.ClusterList{}
	if err := admin.List(ctx, clusters); err != nil {
		t.Fatal(err)
	}
	for _, c := range clusters.Items {
		if c.Name != name && strings.HasPrefix(c.Name, name) {
			t.Errorf("re-join created another cluster %s", c.Name)
		}
	}

	// Unjoin: everything on the hub goes, and the agent's tokens stop working at once.
	start = time.Now()
	if err := Unjoin(ctx, hub.RESTConfig, name, UnjoinOptions{}); err != nil {
		t.Fatalf("unjoin: %v", err)
	}
	t.Logf("unjoin took %s", time.Since(start).Round(time.Millisecond))
	for _, obj := range append(hubObjects(name, metav1.OwnerReference{}, 0), &fleetv1alpha1.Cluster{ObjectMeta: metav1.ObjectMeta{Name: name}}) {
		err := admin.Get(ctx, client.ObjectKeyFromObject(obj), obj)
		if _, isNamespace := obj.(*corev1.Namespace); isNamespace && err == nil {
			if obj.GetDeletionTimestamp() == nil {
				t.Errorf("namespace %s is not being deleted", ns)
			}
			continue
		}
		if !apierrors.IsNotFound(err) {
			t.Errorf("%s still exists after unjoin (%v)", describe(admin, obj), err)
		}
	}
	// The API server caches a token's authentication for about 10 s.
	for _, kubeconfig := range [][]byte{joined.HubKubeconfig, second.HubKubeconfig} {
		agent := agentClient(t, kubeconfig)
		err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 20*time.Second, true, func(ctx context.Context) (bool, error) {
			_, err := whoAmI(ctx, agent)
			return apierrors.IsUnauthorized(err), nil
		})
		if err != nil {
			t.Errorf("a token of the unjoined agent still authenticates 20 s after unjoin")
		}
	}
	t.Logf("tokens revoked %s after unjoin", time.Since(start).Round(100*time.Millisecond))

	// The hub of the tests runs no namespace controller, so the namespace
	// stays Terminating: a join now must say so rather than fail obscurely.
	if err := admin.Get(ctx, client.ObjectKey{Name: ns}, &corev1.Namespace{}); err == nil {
		if _, err := Join(ctx, hub.RESTConfig, JoinOptions{Name: name}); err == nil || !strings.Contains(err.Error(), "still being deleted") {
			t.Errorf("join into a terminating namespace: %v", err)
		}
	}
	if err := Unjoin(ctx, hub.RESTConfig, "never-joined", UnjoinOptions{}); !errors.Is(err, ErrNotJoined) {
		t.Errorf("unjoin of an unknown cluster = %v, want ErrNotJoined", err)
	}
}

// A cluster joined by an earlier version has a ClusterRole and binding for its
// agent; joining again removes them, and leaves alone a ClusterRole of the
// same name and labels that join did not make (not owned by the Cluster, as
// the agent's member-side install on a hub that is also a member).
func TestJoinRemovesTheClusterRBACOfEarlierVersions(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	admin := adminClient(t)
	const old, foreign = "legacy-1", "legacy-2"
	for _, name := range []string{old, foreign} {
		if _, err := Join(ctx, hub.RESTConfig, JoinOptions{Name: name}); err != nil {
			t.Fatalf("join %s: %v", name, err)
		}
	}
	// What joins before agents reported facts on their Lease created.
	legacy := func(cluster string, joins bool) []client.Object {
		// Both carry join's labels; only join's are owned by the Cluster.
		meta := metav1.ObjectMeta{Name: legacyAgentClusterRoleName(cluster),
			Labels: map[string]string{fleetv1alpha1.LabelManagedBy: fleetv1alpha1.ManagedByValue, fleetv1alpha1.LabelCluster: cluster}}
		if joins {
			owner := getCluster(ctx, t, admin, cluster)
			meta.OwnerReferences = []metav1.OwnerReference{{APIVersion: fleetv1alpha1.GroupVersion.String(), Kind: "Cluster",
				Name: cluster, UID: owner.UID}}
		}
		return []client.Object{
			&rbacv1.ClusterRole{ObjectMeta: meta, Rules: []rbacv1.PolicyRule{{APIGroups: []string{fleetv1alpha1.Group},
				Resources: []string{"clusters/status"}, Verbs: []string{"get", "update", "patch"}, ResourceNames: []string{cluster}}}},
			&rbacv1.ClusterRoleBinding{ObjectMeta: meta,
				RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: meta.Name},
				Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: fleetv1alpha1.ClusterNamespace(cluster),
					Name: fleetv1alpha1.AgentServiceAccount}}},
		}
	}
	for _, obj := range append(legacy(old, true), legacy(foreign, false)...) {
		if err := admin.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}

	for _, name := range []string{old, foreign} {
		if _, err := Join(ctx, hub.RESTConfig, JoinOptions{Name: name}); err != nil {
			t.Fatalf("re-join %s: %v", name, err)
		}
	}
	for _, obj := range legacy(old, true) {
		if err := admin.Get(ctx, client.ObjectKeyFromObject(obj), obj); !apierrors.IsNotFound(err) {
			t.Errorf("%s after re-join: %v, want NotFound", describe(admin, obj), err)
		}
	}
	for _, obj := range legacy(foreign, false) {
		if err := admin.Get(ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
			t.Errorf("%s, not join's, after re-join: %v", describe(admin, obj), err)
		}
	}
}

func getCluster(ctx context.Context, t *testing.T, c client.Client, name string) *fleetv1alpha1.Cluster {
	t.Helper()
	cluster := &fleetv1alpha1.Cluster{}
	if err := c.Get(ctx, client.ObjectKey{Name: name}, cluster); err != nil {
		t.Fatalf("reading cluster %s: %v", name, err)
	}
	return cluster
}

// checkHubObjects checks what join created for the cluster, exactly once each.
func checkHubObjects(ctx context.Context, t *testing.T, c client.Client, name string) {
	t.Helper()
	ns := fleetv1alpha1.ClusterNamespace(name)
	namespace := &corev1.Namespace{}
	if err := c.Get(ctx, client.ObjectKey{Name: ns}, namespace); err != nil {
		t.Fatalf("namespace: %v", err)
	}
	if namespace.Labels[fleetv1alpha1.LabelCluster] != name || len(namespace.OwnerReferences) != 1 || namespace.OwnerReferences[0].Name != name {
		t.Errorf("namespace labels %v owners %v", namespace.Labels, namespace.OwnerReferences)
	}
	for _, obj := range []client.Object{&corev1.ServiceAccount{}, &coordinationv1.Lease{}} {
		if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: fleetv1alpha1.AgentServiceAccount}, obj); err != nil {
			t.Errorf("%T: %v", obj, err)
		}
	}
	role := &rbacv1.Role{}
	if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: fleetv1alpha1.AgentServiceAccount}, role); err != nil {
		t.Fatal(err)
	}
	if !equality.Semantic.DeepEqual(role.Rules, agentRoleRules()) {
		t.Errorf("role rules = %+v", role.Rules)
	}
	rb := &rbacv1.RoleBinding{}
	if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: fleetv1alpha1.AgentServiceAccount}, rb); err != nil {
		t.Fatal(err)
	}
	if len(rb.Subjects) != 1 || rb.Subjects[0].Namespace != ns || rb.Subjects[0].Name != fleetv1alpha1.AgentServiceAccount {
		t.Errorf("binding subjects = %+v", rb.Subjects)
	}
	// Nothing cluster-scoped for the agent: see hubObjects.
	for _, obj := range []client.Object{&rbacv1.ClusterRoleBinding{}, &rbacv1.ClusterRole{}} {
		if err := c.Get(ctx, client.ObjectKey{Name: legacyAgentClusterRoleName(name)}, obj); !apierrors.IsNotFound(err) {
			t.Errorf("%s: %v, want NotFound", describe(c, obj), err)
		}
	}
	sas := &corev1.ServiceAccountList{}
	if err := c.List(ctx, sas, client.InNamespace(ns), client.MatchingLabels{fleetv1alpha1.LabelManagedBy: fleetv1alpha1.ManagedByValue}); err != nil {
		t.Fatal(err)
	}
	if len(sas.Items) != 1 {
		t.Errorf("%d ServiceAccounts of flotilla's in %s, want 1", len(sas.Items), ns)
	}
}
