package membership

import (
	"context"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// The agent's credentials can mint tokens for its own ServiceAccount (to
// rotate), but never one longer-lived than the lifetime join set: the API
// server's admission policy refuses it, whoever calls with the token.
func TestAgentTokensAreBoundedByTheJoinLifetime(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	const name = "token-bound"
	ns := fleetv1alpha1.ClusterNamespace(name)
	ttl := 20 * time.Minute
	joined, err := Join(ctx, hub.RESTConfig, JoinOptions{Name: name, TokenTTL: ttl})
	if err != nil {
		t.Fatal(err)
	}
	agent := agentClient(t, joined.HubKubeconfig)
	mint := func(seconds *int64) (*authenticationv1.TokenRequest, error) {
		sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fleetv1alpha1.AgentServiceAccount}}
		req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: seconds}}
		return req, agent.SubResource("token").Create(ctx, sa, req)
	}
	seconds := func(d time.Duration) *int64 { return ptr.To(int64(d / time.Second)) }

	// The policy and its parameter take a moment to reach the admission plugin.
	waitRefused(ctx, t, func() error { _, err := mint(seconds(10 * 365 * 24 * time.Hour)); return err }, "at most 1200 seconds")
	for _, s := range []*int64{seconds(ttl + time.Second), seconds(2 * ttl), nil} {
		if _, err := mint(s); !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "flotilla join --token-ttl") {
			t.Errorf("the agent minting a token of %v seconds: %v, want Forbidden by the lifetime policy", ptrValue(s), err)
		}
	}
	for _, d := range []time.Duration{ttl, MinTokenTTL} {
		req, err := mint(seconds(d))
		if err != nil {
			t.Errorf("the agent renewing for %s: %v", d, err)
			continue
		}
		if got := time.Until(req.Status.ExpirationTimestamp.Time); got > d || got < d-time.Minute {
			t.Errorf("a token requested for %s expires in %s", d, got)
		}
	}

	// Only ServiceAccounts are bound: join (an admin) issues what it is asked for.
	longer, err := Join(ctx, hub.RESTConfig, JoinOptions{Name: name, TokenTTL: time.Hour})
	if err != nil {
		t.Fatalf("re-join with a longer lifetime: %v", err)
	}
	if d := time.Until(longer.TokenExpiry); d < time.Hour-time.Minute {
		t.Errorf("re-join's token expires in %s, want about 1h", d)
	}
	// And the re-join's lifetime is the agent's new bound.
	cm := &corev1.ConfigMap{}
	if err := adminClient(t).Get(ctx, client.ObjectKey{Namespace: ns, Name: AgentTokenConfigMap}, cm); err != nil || cm.Data[AgentTokenMaxSecondsKey] != "3600" {
		t.Errorf("ConfigMap %s = %v (%v), want %s 3600", AgentTokenConfigMap, cm.Data, err, AgentTokenMaxSecondsKey)
	}
	var lastErr error
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if _, lastErr = mint(seconds(time.Hour)); lastErr == nil {
			break
		}
	}
	if lastErr != nil {
		t.Errorf("the agent renewing for the new lifetime 1h: %v", lastErr)
	}

	// The agent cannot move its bound: it has no right on ConfigMaps.
	cm.Data[AgentTokenMaxSecondsKey] = "315360000"
	if err := agent.Update(ctx, cm); !apierrors.IsForbidden(err) {
		t.Errorf("the agent raising its own bound: %v, want Forbidden", err)
	}
}

// With the agent's credentials one could mint a token of its ServiceAccount
// for another service that trusts the hub's issuer (Vault, a cloud's
// workload identity). Join records the hub's own audiences, as the API server
// filled them in on the token join issued, and the policy refuses any other.
func TestAgentTokensAreOnlyForTheHub(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	const name = "token-audience"
	ns := fleetv1alpha1.ClusterNamespace(name)
	joined, err := Join(ctx, hub.RESTConfig, JoinOptions{Name: name, TokenTTL: 20 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	cm := &corev1.ConfigMap{}
	if err := adminClient(t).Get(ctx, client.ObjectKey{Namespace: ns, Name: AgentTokenConfigMap}, cm); err != nil {
		t.Fatal(err)
	}
	hubAudiences := strings.Split(cm.Data[AgentTokenAudiencesKey], "\n")
	if hubAudiences[0] == "" {
		t.Fatalf("join recorded no audiences: %v", cm.Data)
	}
	agent := agentClient(t, joined.HubKubeconfig)
	mint := func(audiences ...string) error {
		sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fleetv1alpha1.AgentServiceAccount}}
		req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
			ExpirationSeconds: ptr.To(int64(20 * 60)), Audiences: audiences}}
		return agent.SubResource("token").Create(ctx, sa, req)
	}
	waitRefused(ctx, t, func() error { return mint("vault") }, "only for the hub")
	if err := mint(append([]string{"sts.amazonaws.com"}, hubAudiences...)...); !apierrors.IsForbidden(err) {
		t.Errorf("a token for the hub and another audience: %v, want Forbidden", err)
	}
	// What the agent asks for: no audience (the hub's filled in), or the hub's.
	if err := mint(); err != nil {
		t.Errorf("the agent renewing its token: %v", err)
	}
	if err := mint(hubAudiences...); err != nil {
		t.Errorf("a token for the hub's audiences %v: %v", hubAudiences, err)
	}
	// A re-join keeps the bound: join's apply of the lifetime leaves the key.
	if _, err := Join(ctx, hub.RESTConfig, JoinOptions{Name: name, TokenTTL: time.Hour}); err != nil {
		t.Fatal(err)
	}
	if err := mint("vault"); !apierrors.IsForbidden(err) {
		t.Errorf("after a re-join, a token for vault: %v, want Forbidden", err)
	}
}

// waitRefused calls try until it is refused as Forbidden with a message
// containing want, or fails the test after 30 s.
// The API server looks up the token policy's parameter in its cache before
// it evaluates the policy's match conditions, so while the ConfigMap is not in
// that cache even an admin's TokenRequest in a cluster namespace is refused.
// Join applies the ConfigMap and asks for a token at once, so on a busy API
// server a join failed now and then ("no params found", once in about 250
// joins of `flotilla sim bench`); it waits for the parameter instead, within
// a bound.
func TestJoinWaitsForTheTokenPolicysParameter(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	const name = "token-param"
	ns := fleetv1alpha1.ClusterNamespace(name)
	if _, err := Join(ctx, hub.RESTConfig, JoinOptions{Name: name}); err != nil {
		t.Fatal(err)
	}
	admin := adminClient(t)
	param := func() *corev1.ConfigMap {
		return tokenConfigMap(metav1.ObjectMeta{Namespace: ns, Name: AgentTokenConfigMap}, time.Hour)
	}
	request := func(wait time.Duration) error {
		_, _, _, err := requestToken(ctx, admin, ns, time.Hour, wait)
		return err
	}
	waitParamGone := func() {
		t.Helper()
		var err error
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline) && !paramNotYetSeen(err); time.Sleep(100 * time.Millisecond) {
			err = request(0)
		}
		if !paramNotYetSeen(err) {
			t.Fatalf("a token request without the parameter: %v, want the API server's 'no params found'", err)
		}
	}

	// Without the parameter the admin is refused too (the cause).
	if err := admin.Delete(ctx, param()); err != nil {
		t.Fatal(err)
	}
	waitParamGone()

	// The parameter arrives a second later: the request waits for it.
	created := make(chan error, 1)
	go func() {
		time.Sleep(time.Second)
		created <- admin.Create(ctx, param())
	}()
	if err := request(20 * time.Second); err != nil {
		t.Errorf("a token request while the parameter is on its way: %v, want a token once it arrives", err)
	}
	if err := <-created; err != nil {
		t.Fatal(err)
	}

	// A parameter that never comes: refused once the wait is over.
	if err := admin.Delete(ctx, param()); err != nil {
		t.Fatal(err)
	}
	waitParamGone()
	start := time.Now()
	err := request(time.Second)
	if took := time.Since(start); !paramNotYetSeen(err) || took > 5*time.Second {
		t.Errorf("a token request without the parameter: %v after %s, want the API server's refusal after about 1s", err, took)
	}
}

func waitRefused(ctx context.Context, t *testing.T, try func() error, want string) {
	t.Helper()
	var err error
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline) && ctx.Err() == nil; time.Sleep(200 * time.Millisecond) {
		// Until the agent's RoleBinding reaches the authorizer (under load,
		// a moment after join) RBAC refuses it too: wait for the policy's word.
		if err = try(); err != nil && strings.Contains(err.Error(), want) {
			break
		}
	}
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), want) {
		t.Fatalf("got %v, want Forbidden containing %q", err, want)
	}
}

func ptrValue(p *int64) any {
	if p == nil {
		return "no"
	}
	return *p
}
