package install

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/agent"
	"github.com/flotilla-dev/flotilla/internal/controller/promise/promisetest"
	"github.com/flotilla-dev/flotilla/internal/hub"
	"github.com/flotilla-dev/flotilla/internal/hub/hubtest"
	"github.com/flotilla-dev/flotilla/internal/membership"
	"github.com/flotilla-dev/flotilla/internal/render/charttest"
	"github.com/flotilla-dev/flotilla/internal/testenv"
)

// The hub's identity, as config/hub creates it.
const (
	hubServiceAccount = "flotilla-hub"
	instanceGroup     = "platform.example.com" // the group config/hub grants
	member            = "edge-1"
	team              = "team-a"
)

// forbiddenLog records every request the API server refused with 403.
type forbiddenLog struct {
	mu       sync.Mutex
	requests []string
	total    int
}

func (f *forbiddenLog) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripper(func(req *http.Request) (*http.Response, error) {
		resp, err := rt.RoundTrip(req)
		f.mu.Lock()
		defer f.mu.Unlock()
		f.total++
		if err == nil && resp.StatusCode == http.StatusForbidden {
			f.requests = append(f.requests, req.Method+" "+req.URL.RequestURI())
		}
		return resp, err
	})
}

func (f *forbiddenLog) snapshot() (refused []string, total int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.requests), f.total
}

type roundTripper func(*http.Request) (*http.Response, error)

func (r roundTripper) RoundTrip(req *http.Request) (*http.Response, error) { return r(req) }

// asHub is admin impersonating the hub's ServiceAccount: exactly its RBAC.
func asHub(admin *rest.Config) *rest.Config {
	cfg := rest.CopyConfig(admin)
	cfg.Impersonate = rest.ImpersonationConfig{
		UserName: "system:serviceaccount:" + platformNamespace + ":" + hubServiceAccount,
		Groups:   []string{"system:serviceaccounts", "system:serviceaccounts:" + platformNamespace, "system:authenticated"},
	}
	return cfg
}

// TestHubLeastPrivilege installs config/hub for real and runs the hub as its
// ServiceAccount. With a member joined and its real agent running, the hub
// serves Promises of all three template sources, rolls a change out, applies
// an Override, honours a FleetFreeze and deletes an instance and a Promise —
// and the API server refuses it nothing. Then it shows what the hub cannot do.
func TestHubLeastPrivilege(t *testing.T) {
	hubCP := testenv.NewHub(t)
	memberCP, err := testenv.Start(context.Background(), testenv.Options{Name: "member", Role: testenv.RoleHub})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = memberCP.Stop() })
	ctx := testContext(t)
	admin := adminClient(t, hubCP.RESTConfig, &warnings{})
	memberClient := adminClient(t, memberCP.RESTConfig, &warnings{})

	// Given the hub installed from config/hub (the Deployment cannot run
	// here: no kubelet; the hub runs in the test with the same identity).
	objs := kustomize(t, hubDir)
	installFoundation(ctx, t, admin, objs)
	if err := apply(ctx, admin, objs, false); err != nil {
		t.Fatal(err)
	}
	// The authorizer reads RBAC from a cache that trails what was just
	// applied: start the hub once its Role and both ClusterRoles are in force.
	for _, attrs := range []authorizationv1.ResourceAttributes{
		{Group: "coordination.k8s.io", Resource: "leases", Verb: "create", Namespace: platformNamespace},
		{Group: fleetv1alpha1.Group, Resource: "clusters", Verb: "list"},
		{Group: "platform.example.com", Resource: "databases", Verb: "list"},
	} {
		testenv.WaitAllowed(t, asHub(hubCP.RESTConfig), attrs)
	}
	refused := &forbiddenLog{}
	hubCfg := asHub(hubCP.RESTConfig)
	hubCfg.Wrap(refused.wrap)
	// Whatever happens to the story, the hub must not have been refused anything.
	t.Cleanup(func() {
		if list, total := refused.snapshot(); len(list) > 0 {
			t.Errorf("the API server refused %d of the hub's %d requests:\n%s", len(list), total, strings.Join(list, "\n"))
		} else {
			t.Logf("the hub sent %d requests; none was refused", total)
		}
	})
	hubtest.Start(t, hubCfg, hub.Options{
		LeaderElect:             true,
		LeaderElectionNamespace: platformNamespace, // in a pod, its own namespace
		InstallCRDs:             true,
	})

	// And a member joined by the operator, its agent running.
	joined, err := membership.Join(ctx, hubCP.RESTConfig, membership.JoinOptions{Name: member, Labels: map[string]string{"env": "prod"}})
	if err != nil {
		t.Fatal(err)
	}
	startAgent(t, joined, memberCP.RESTConfig)

	e := promisetest.NewEnv(t, hubCP.RESTConfig)
	// in gives a step its own Env, so a failing step fails itself.
	in := func(t *testing.T) *promisetest.Env { return &promisetest.Env{TB: t, Ctx: ctx, C: e.C} }
	e.Namespace(team, nil)
	e.Fleet("prod", map[string]string{"env": "prod"}, team)
	if err := memberClient.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: team}}); err != nil {
		t.Fatal(err)
	}
	promisetest.Eventually(t, time.Minute, "cluster "+member+" available", func() (bool, string) {
		c := &fleetv1alpha1.Cluster{}
		if err := admin.Get(ctx, client.ObjectKey{Name: member}, c); err != nil {
			return false, err.Error()
		}
		return c.Status.Availability == fleetv1alpha1.ClusterAvailabilityAvailable, fmt.Sprintf("%+v", c.Status)
	})

	step := func(name string, f func(t *testing.T, e *promisetest.Env)) {
		if !t.Run(name, func(t *testing.T) { f(t, in(t)) }) {
			t.FailNow()
		}
	}

	step("a Go-template Promise and its instance", func(t *testing.T, e *promisetest.Env) {
		e.Create(promisetest.ConfigMapPromise("cache", instanceGroup, "Cache", "prod"))
		e.PromiseReady("cache")
		e.Create(promisetest.Instance(instanceGroup, "Cache", team, "orders", map[string]any{"size": "small"}))
		waitInstanceReady(e, "Cache", "orders")
		waitMemberConfigMap(t, memberClient, "orders", "size", "small")
	})

	step("a Helm Promise whose chart is in a ConfigMap", func(t *testing.T, e *promisetest.Env) {
		e.Namespace("charts", nil)
		e.Create(&corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Namespace: "charts", Name: "web-chart"},
			BinaryData: map[string][]byte{"chart.tgz": greetingChart(t, "web")},
		})
		p := helmPromise("web", "Web")
		p.Spec.Templates.Helm.ConfigMapRef = &fleetv1alpha1.ConfigMapKeyReference{Name: "web-chart", Namespace: "charts", Key: "chart.tgz"}
		e.Create(p)
		e.PromiseReady("web")
		e.Create(promisetest.Instance(instanceGroup, "Web", team, "site", map[string]any{"greeting": "hello"}))
		waitInstanceReady(e, "Web", "site")
		waitMemberConfigMap(t, memberClient, "site", "greeting", "hello")
		// The revision froze the chart in a snapshot in the platform namespace.
		snapshots := &corev1.ConfigMapList{}
		if err := admin.List(ctx, snapshots, client.InNamespace(platformNamespace)); err != nil {
			t.Fatal(err)
		}
		if !slices.ContainsFunc(snapshots.Items, func(cm corev1.ConfigMap) bool { return strings.HasPrefix(cm.Name, "flotilla-chart-") }) {
			t.Error("no chart snapshot in flotilla-system")
		}
	})

	step("a Helm Promise from a repository with credentials", func(t *testing.T, e *promisetest.Env) {
		// The hub reads the Secret a Promise names with its own rights, and
		// sends nothing unless the Secret is marked for that repository's
		// host. (Credentials go over https only; the fetch itself is covered
		// by internal/render's fetch tests, which serve https.) The
		// repository is a closed https port: the fetch, once allowed, fails.
		e.Create(&corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: platformNamespace, Name: "repo-creds"},
			StringData: map[string]string{"username": "flotilla", "password": "secret"},
		})
		p := helmPromise("kv", "KV")
		p.Spec.Templates.Helm.Repository = &fleetv1alpha1.HelmRepository{
			URL: "https://127.0.0.1:1/charts", Chart: "kv", Version: "1.0.0", SecretRef: &fleetv1alpha1.SecretReference{Name: "repo-creds"},
		}
		e.Create(p)
		promiseSays := func(what, want string) {
			promisetest.Eventually(t, time.Minute, what, func() (bool, string) {
				got := &fleetv1alpha1.Promise{}
				if err := admin.Get(ctx, client.ObjectKey{Name: "kv"}, got); err != nil {
					return false, err.Error()
				}
				c := meta.FindStatusCondition(got.Status.Conditions, fleetv1alpha1.ConditionReady)
				return c != nil && strings.Contains(c.Message, want), fmt.Sprintf("%+v", got.Status.Conditions)
			})
		}
		promiseSays("the hub reads the Secret and refuses it unmarked", "not marked for chart repositories")
		secret := &corev1.Secret{}
		if err := admin.Get(ctx, client.ObjectKey{Namespace: platformNamespace, Name: "repo-creds"}, secret); err != nil {
			t.Fatal(err)
		}
		secret.Labels = map[string]string{fleetv1alpha1.LabelChartCredentials: "true"}
		secret.Annotations = map[string]string{fleetv1alpha1.AnnotationChartCredentialsHosts: "127.0.0.1"}
		if err := admin.Update(ctx, secret); err != nil {
			t.Fatal(err)
		}
		// A spec change makes the hub look again (a Secret change does not).
		e.UpdatePromise("kv", func(p *fleetv1alpha1.Promise) { p.Spec.RevisionHistoryLimit = ptr.To[int32](11) })
		promiseSays("the marked Secret is used and the fetch is tried", "127.0.0.1:1")
	})

	step("a Promise change rolls out", func(t *testing.T, e *promisetest.Env) {
		var before string
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			p := &fleetv1alpha1.Promise{}
			if err := admin.Get(ctx, client.ObjectKey{Name: "cache"}, p); err != nil {
				return err
			}
			before = p.Status.LatestRevision
			p.Spec.Templates.GoTemplates[0].Template += "  release: two\n"
			return admin.Update(ctx, p)
		})
		if err != nil {
			t.Fatal(err)
		}
		var target string
		promisetest.Eventually(t, time.Minute, "a new revision of cache", func() (bool, string) {
			target = e.PromiseReady("cache")
			return target != before, target
		})
		promisetest.Eventually(t, 2*time.Minute, "the rollout of "+target, func() (bool, string) {
			list := &fleetv1alpha1.RolloutList{}
			if err := admin.List(ctx, list, client.InNamespace(platformNamespace)); err != nil {
				return false, err.Error()
			}
			for _, ro := range list.Items {
				if ro.Spec.Subject.Promise == "cache" && ro.Spec.TargetRevision == target {
					return ro.Status.Phase == fleetv1alpha1.RolloutPhaseSucceeded, fmt.Sprintf("%s: %+v", ro.Name, ro.Status.Conditions)
				}
			}
			return false, fmt.Sprintf("%d rollouts, none to %s", len(list.Items), target)
		})
		waitMemberConfigMap(t, memberClient, "orders", "release", "two")
	})

	step("an Override reshapes the member", func(t *testing.T, e *promisetest.Env) {
		e.Create(&fleetv1alpha1.Override{
			ObjectMeta: metav1.ObjectMeta{Namespace: team, Name: "gold"},
			Spec: fleetv1alpha1.OverrideSpec{
				Promise:   "cache",
				Resources: []fleetv1alpha1.ResourceSelector{{Kind: "ConfigMap"}},
				Type:      fleetv1alpha1.PatchStrategicMerge,
				Patch:     runtime.RawExtension{Raw: []byte(`{"data":{"tier":"gold"}}`)},
			},
		})
		waitMemberConfigMap(t, memberClient, "orders", "tier", "gold")
		promisetest.Eventually(t, time.Minute, "the Override's status", func() (bool, string) {
			o := &fleetv1alpha1.Override{}
			if err := admin.Get(ctx, client.ObjectKey{Namespace: team, Name: "gold"}, o); err != nil {
				return false, err.Error()
			}
			return o.Status.AffectedClusters == 1, fmt.Sprintf("%+v", o.Status)
		})
	})

	step("a Fleet's member counts", func(t *testing.T, e *promisetest.Env) {
		e.Create(&fleetv1alpha1.Fleet{ObjectMeta: metav1.ObjectMeta{Name: "everything"}})
		promisetest.Eventually(t, time.Minute, "the Fleet's status", func() (bool, string) {
			f := &fleetv1alpha1.Fleet{}
			if err := admin.Get(ctx, client.ObjectKey{Name: "everything"}, f); err != nil {
				return false, err.Error()
			}
			return f.Status.ObservedGeneration == f.Generation && f.Status.Clusters == 1, fmt.Sprintf("%+v", f.Status)
		})
	})

	step("a FleetFreeze", func(t *testing.T, e *promisetest.Env) {
		e.Create(&fleetv1alpha1.FleetFreeze{
			ObjectMeta: metav1.ObjectMeta{Name: "maintenance"},
			Spec:       fleetv1alpha1.FleetFreezeSpec{Reason: "install test"},
		})
		promisetest.Eventually(t, time.Minute, "the FleetFreeze's status", func() (bool, string) {
			f := &fleetv1alpha1.FleetFreeze{}
			if err := admin.Get(ctx, client.ObjectKey{Name: "maintenance"}, f); err != nil {
				return false, err.Error()
			}
			return f.Status.ObservedGeneration == f.Generation && len(f.Status.Conditions) > 0, fmt.Sprintf("%+v", f.Status)
		})
		if err := admin.Delete(ctx, &fleetv1alpha1.FleetFreeze{ObjectMeta: metav1.ObjectMeta{Name: "maintenance"}}); err != nil {
			t.Fatal(err)
		}
	})

	step("deleting an instance and a Promise", func(t *testing.T, e *promisetest.Env) {
		if err := admin.Delete(ctx, promisetest.Instance(instanceGroup, "Cache", team, "orders", nil)); err != nil {
			t.Fatal(err)
		}
		waitGone(t, memberClient, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: team, Name: "orders"}})
		waitGone(t, admin, promisetest.Instance(instanceGroup, "Cache", team, "orders", nil))
		// flotilla-promise-deletion refuses it until the hub counts no instance.
		promisetest.Eventually(t, 30*time.Second, "the Promise deleted", func() (bool, string) {
			err := admin.Delete(ctx, &fleetv1alpha1.Promise{ObjectMeta: metav1.ObjectMeta{Name: "kv"}})
			return err == nil, fmt.Sprint(err)
		})
		waitGone(t, admin, &fleetv1alpha1.Promise{ObjectMeta: metav1.ObjectMeta{Name: "kv"}})
		waitGone(t, admin, &apiextensionsv1.CustomResourceDefinition{ObjectMeta: metav1.ObjectMeta{Name: "kvs." + instanceGroup}})
	})

	step("a Promise in a group the hub is not granted is refused", func(t *testing.T, _ *promisetest.Env) {
		// The API server loads a new policy within a moment (dry runs leave nothing behind).
		promisetest.Eventually(t, 30*time.Second, "the admission policy to refuse the Promise", func() (bool, string) {
			err := admin.Create(ctx, promisetest.ConfigMapPromise("ledger", "finance.example.com", "Ledger", "prod"), client.DryRunAll)
			return err != nil && strings.Contains(err.Error(), "may not manage ledgers.finance.example.com"), fmt.Sprint(err)
		})
		// A granted group passes the same policy.
		if err := admin.Create(ctx, promisetest.ConfigMapPromise("ledger", instanceGroup, "Ledger", "prod"), client.DryRunAll); err != nil {
			t.Errorf("a Promise in %s: %v", instanceGroup, err)
		}
	})

	step("what the hub cannot do", func(t *testing.T, _ *promisetest.Env) {
		checkAccess(t, ctx, asHub(hubCP.RESTConfig))
	})
}

// checkAccess asks the API server what the hub's identity may do.
func checkAccess(t *testing.T, ctx context.Context, cfg *rest.Config) {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	memberNS := fleetv1alpha1.ClusterNamespace(member)
	for _, c := range []struct {
		attrs authorizationv1.ResourceAttributes
		want  bool
	}{
		// What it needs.
		{authorizationv1.ResourceAttributes{Namespace: memberNS, Verb: "create", Group: fleetv1alpha1.Group, Resource: "works"}, true},
		{authorizationv1.ResourceAttributes{Namespace: platformNamespace, Verb: "get", Resource: "secrets"}, true},
		{authorizationv1.ResourceAttributes{Namespace: team, Verb: "delete", Group: instanceGroup, Resource: "caches"}, true},
		// Secrets outside the platform namespace: not one, not a list.
		{authorizationv1.ResourceAttributes{Namespace: team, Verb: "get", Resource: "secrets"}, false},
		{authorizationv1.ResourceAttributes{Namespace: memberNS, Verb: "get", Resource: "secrets"}, false},
		{authorizationv1.ResourceAttributes{Verb: "list", Resource: "secrets"}, false},
		{authorizationv1.ResourceAttributes{Namespace: platformNamespace, Verb: "list", Resource: "secrets"}, false},
		{authorizationv1.ResourceAttributes{Namespace: platformNamespace, Verb: "update", Resource: "secrets"}, false},
		// No workloads, no tokens, no RBAC, no new namespaces.
		{authorizationv1.ResourceAttributes{Namespace: team, Verb: "create", Resource: "pods"}, false},
		{authorizationv1.ResourceAttributes{Namespace: team, Verb: "create", Group: "apps", Resource: "deployments"}, false},
		{authorizationv1.ResourceAttributes{Namespace: memberNS, Verb: "create", Resource: "serviceaccounts", Subresource: "token"}, false},
		{authorizationv1.ResourceAttributes{Verb: "create", Group: rbacv1.GroupName, Resource: "clusterroles"}, false},
		{authorizationv1.ResourceAttributes{Namespace: team, Verb: "create", Group: rbacv1.GroupName, Resource: "rolebindings"}, false},
		{authorizationv1.ResourceAttributes{Verb: "escalate", Group: rbacv1.GroupName, Resource: "clusterroles"}, false},
		{authorizationv1.ResourceAttributes{Verb: "create", Resource: "namespaces"}, false},
		{authorizationv1.ResourceAttributes{Verb: "delete", Resource: "namespaces"}, false},
		// ConfigMaps: read anywhere (Helm charts), written only in the platform namespace.
		{authorizationv1.ResourceAttributes{Namespace: team, Verb: "create", Resource: "configmaps"}, false},
		// Leases: agents renew their own; the hub only reads them, and owns its election Lease.
		{authorizationv1.ResourceAttributes{Namespace: memberNS, Verb: "update", Group: "coordination.k8s.io", Resource: "leases", Name: fleetv1alpha1.AgentLease}, false},
		{authorizationv1.ResourceAttributes{Namespace: platformNamespace, Verb: "update", Group: "coordination.k8s.io", Resource: "leases", Name: "someone-else"}, false},
		// Works: written, but their status is the agent's.
		{authorizationv1.ResourceAttributes{Namespace: memberNS, Verb: "update", Group: fleetv1alpha1.Group, Resource: "works", Subresource: "status"}, false},
		// Clusters are the operator's: the hub reports status only.
		{authorizationv1.ResourceAttributes{Verb: "delete", Group: fleetv1alpha1.Group, Resource: "clusters"}, false},
		// Instances of a group it was not granted.
		{authorizationv1.ResourceAttributes{Namespace: team, Verb: "get", Group: "finance.example.com", Resource: "ledgers"}, false},
	} {
		review, err := cs.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authorizationv1.SelfSubjectAccessReview{
			Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &c.attrs},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if review.Status.Allowed != c.want {
			t.Errorf("%+v: allowed %t, want %t", c.attrs, review.Status.Allowed, c.want)
		}
	}
	// And for real: a team's Secret is out of reach.
	_, err = cs.CoreV1().Secrets(team).Get(ctx, "anything", metav1.GetOptions{})
	if !apierrors.IsForbidden(err) {
		t.Errorf("reading a Secret in %s: %v, want forbidden", team, err)
	}
}

// startAgent runs the member's agent with the credentials join issued, until the test ends.
func startAgent(t *testing.T, joined *membership.Joined, memberCfg *rest.Config) {
	t.Helper()
	hubCfg, err := clientcmd.RESTConfigFromKubeConfig(joined.HubKubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(ctrl.LoggerInto(context.Background(), hubtest.Logger(t).WithName("agent")))
	done := make(chan error, 1)
	go func() {
		done <- agent.Run(ctx, hubCfg, memberCfg, agent.Options{
			ClusterName:       member,
			StateDir:          t.TempDir(),
			HeartbeatInterval: 2 * time.Second,
			MetricsAddr:       "0",
			ProbeAddr:         "0",
		})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("agent stopped with: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("agent did not stop within 30s")
		}
	})
}

// helmPromise is a Promise of kind in instanceGroup rendered by a Helm chart
// whose source the caller sets; instances give it a greeting.
func helmPromise(name, kind string) *fleetv1alpha1.Promise {
	return &fleetv1alpha1.Promise{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: fleetv1alpha1.PromiseSpec{
			PromiseContent: fleetv1alpha1.PromiseContent{
				API: fleetv1alpha1.PromiseAPI{
					Group: instanceGroup, Kind: kind,
					Schema: promisetest.Raw(map[string]any{
						"type":       "object",
						"properties": map[string]any{"greeting": map[string]any{"type": "string"}},
					}),
				},
				Templates: &fleetv1alpha1.Templates{Engine: fleetv1alpha1.TemplateEngineHelm, Helm: &fleetv1alpha1.HelmTemplate{}},
				Output:    &fleetv1alpha1.PromiseOutput{Kinds: []fleetv1alpha1.OutputKind{{Kind: "ConfigMap"}}},
				Examples:  []fleetv1alpha1.PromiseExample{{Name: "hi", Spec: promisetest.Raw(map[string]any{"greeting": "hi"})}},
			},
			Placement: &fleetv1alpha1.ClusterSelector{Fleets: []string{"prod"}},
		},
	}
}

// greetingChart renders one ConfigMap named after the release, with the greeting.
func greetingChart(t *testing.T, name string) []byte {
	return charttest.Package(t, name, "1.0.0", "greeting: hi\n", map[string]string{"configmap.yaml": `apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name | quote }}
data:
  greeting: {{ .Values.greeting | quote }}
`})
}

func waitInstanceReady(e *promisetest.Env, kind, name string) {
	e.TB.Helper()
	e.WaitInstance(instanceGroup, kind, team, name, "ready on the member", func(st fleetv1alpha1.InstanceStatus) bool {
		return st.Clusters.Ready == 1
	})
}

// waitMemberConfigMap waits until the member has the team's ConfigMap with data[key] = value.
func waitMemberConfigMap(t *testing.T, c client.Client, name, key, value string) {
	t.Helper()
	promisetest.Eventually(t, time.Minute, fmt.Sprintf("ConfigMap %s/%s with %s=%s on the member", team, name, key, value), func() (bool, string) {
		cm := &corev1.ConfigMap{}
		if err := c.Get(context.Background(), client.ObjectKey{Namespace: team, Name: name}, cm); err != nil {
			return false, err.Error()
		}
		return cm.Data[key] == value, fmt.Sprintf("%v", cm.Data)
	})
}

// waitGone waits until obj no longer exists.
func waitGone(t *testing.T, c client.Client, obj client.Object) {
	t.Helper()
	promisetest.Eventually(t, time.Minute, fmt.Sprintf("%T %s gone", obj, obj.GetName()), func() (bool, string) {
		err := c.Get(context.Background(), client.ObjectKeyFromObject(obj), obj)
		return apierrors.IsNotFound(err), fmt.Sprint(err)
	})
}
