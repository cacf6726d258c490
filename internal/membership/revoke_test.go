package membership

import (
	"context"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/kube"
)

// The attack: a copy of an agent's hub kubeconfig leaks (a member
// reinstalled, an install manifest in a ticket). The platform rotates by
// running join again, as the docs said ("earlier tokens stay valid until they
// expire"); but the leaked token may mint a token of its ServiceAccount, as
// the agent renews its own, so whoever holds it renews it before it expires,
// for good, and keeps reading the cluster's Works (rendered Secrets
// included). Only unjoin revoked it. Now join with RevokeTokens replaces the
// ServiceAccount, which revokes every token issued for it before.
func TestALeakedAgentTokenIsRevokedByJoin(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	const name = "leak-1"
	ns := fleetv1alpha1.ClusterNamespace(name)
	ttl := 20 * time.Minute

	leaked, err := Join(ctx, hub.RESTConfig, JoinOptions{Name: name, TokenTTL: ttl})
	if err != nil {
		t.Fatal(err)
	}
	thief := agentClient(t, leaked.HubKubeconfig)
	// The thief renews before the platform acts, as the agent would.
	var renewed string
	if err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fleetv1alpha1.AgentServiceAccount}}
		req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To(int64(ttl / time.Second))}}
		if err := thief.SubResource("token").Create(ctx, sa, req); err != nil {
			return false, nil //nolint:nilerr // RBAC and the policy reach the API server a moment after join
		}
		renewed = req.Status.Token
		return true, nil
	}); err != nil {
		t.Fatal("the leaked kubeconfig could not mint a token")
	}
	thiefRenewed := tokenClient(t, leaked.HubKubeconfig, renewed)

	rotated, err := Join(ctx, hub.RESTConfig, JoinOptions{Name: name, TokenTTL: ttl, RevokeTokens: true})
	if err != nil {
		t.Fatalf("join with RevokeTokens: %v", err)
	}
	if !rotated.RevokedTokens {
		t.Error("join with RevokeTokens did not report the earlier tokens revoked")
	}
	// Revoked (after the API server's cache of authentications, ~10 s).
	for what, c := range map[string]client.Client{"the leaked token": thief, "a token the leaked one minted": thiefRenewed} {
		if err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
			_, err := whoAmI(ctx, c)
			return apierrors.IsUnauthorized(err), nil
		}); err != nil {
			_, err := whoAmI(ctx, c)
			t.Errorf("%s still authenticates after join with RevokeTokens: %v", what, err)
		}
	}
	// The new kubeconfig works, and lists the cluster's Works.
	agent := agentClient(t, rotated.HubKubeconfig)
	if err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		return agent.List(ctx, &fleetv1alpha1.WorkList{}, client.InNamespace(ns)) == nil, nil
	}); err != nil {
		t.Errorf("the new kubeconfig cannot list the cluster's Works: %v", agent.List(ctx, &fleetv1alpha1.WorkList{}, client.InNamespace(ns)))
	}
}

// tokenClient is kubeconfig's client with token instead of its own.
func tokenClient(t *testing.T, kubeconfig []byte, token string) client.Client {
	t.Helper()
	cfg, err := clientcmd.RESTConfigFromKubeConfig(kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cfg = rest.CopyConfig(cfg)
	cfg.BearerToken, cfg.BearerTokenFile = token, ""
	c, err := client.New(cfg, client.Options{Scheme: kube.NewScheme()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}
