package dashboard

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/controller/promise/promisetest"
	"github.com/flotilla-dev/flotilla/internal/testenv"
)

// fixtureHub is the hub control plane the package's tests share. No hub
// manager runs on it: fixtureFleet writes the statuses the hub and the
// agents would, so the numbers the dashboard shows are known. Tests that
// need the controllers (the click test) start a hub of their own.
var fixtureHub *testenv.ControlPlane

func TestMain(m *testing.M) { os.Exit(promisetest.Main(m, &fixtureHub)) }

// Users of the fixture hub, impersonated by the admin (system:masters):
//   - alice operates: reads everything Flotilla and patches Rollouts;
//   - bob only reads;
//   - carol may only list Clusters.
const (
	alice = "alice"
	bob   = "bob"
	carol = "carol"
)

// grantRoles creates the ClusterRoles of alice, bob and carol on the hub at
// cfg (idempotent, so every hub of the package can have them).
func grantRoles(t testing.TB, c client.Client) {
	t.Helper()
	ctx := promisetest.TestContext(t)
	read := rbacv1.PolicyRule{APIGroups: []string{fleetv1alpha1.GroupVersion.Group}, Resources: []string{"*"}, Verbs: []string{"get", "list", "watch"}}
	roles := map[string][]rbacv1.PolicyRule{
		alice: {read, {APIGroups: []string{fleetv1alpha1.GroupVersion.Group}, Resources: []string{"rollouts"}, Verbs: []string{"patch", "update"}}},
		bob:   {read},
		carol: {{APIGroups: []string{fleetv1alpha1.GroupVersion.Group}, Resources: []string{"clusters"}, Verbs: []string{"get", "list"}}},
	}
	for user, rules := range roles {
		name := "dashboard-test-" + user
		objs := []client.Object{
			&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: rules},
			&rbacv1.ClusterRoleBinding{
				ObjectMeta: metav1.ObjectMeta{Name: name},
				RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: name},
				Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}},
			},
		}
		for _, o := range objs {
			if err := c.Create(ctx, o); err != nil && !apierrors.IsAlreadyExists(err) {
				t.Fatalf("creating %T %s: %v", o, name, err)
			}
		}
	}
	// The authorizer reads RBAC from a cache: wait until it knows the grants.
	for user, attrs := range map[string]authorizationv1.ResourceAttributes{
		alice: {Group: fleetv1alpha1.GroupVersion.Group, Resource: "rollouts", Verb: "patch", Namespace: fleetv1alpha1.PlatformNamespace},
		bob:   {Group: fleetv1alpha1.GroupVersion.Group, Resource: "works", Verb: "list"},
		carol: {Group: fleetv1alpha1.GroupVersion.Group, Resource: "clusters", Verb: "list"},
	} {
		promisetest.Eventually(t, 30*time.Second, "the grants of "+user+" in force", func() (bool, string) {
			review := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{User: user, ResourceAttributes: &attrs}}
			if err := c.Create(ctx, review); err != nil {
				return false, err.Error()
			}
			return review.Status.Allowed, review.Status.Reason
		})
	}
}

// as is cfg impersonating user.
func as(cfg *rest.Config, user string) *rest.Config {
	c := rest.CopyConfig(cfg)
	c.Impersonate = rest.ImpersonationConfig{UserName: user}
	return c
}

// dashboardFor serves the dashboard as user on the hub at cfg, on a real
// loopback port, until the test ends.
func dashboardFor(t testing.TB, cfg *rest.Config, user string) (*Server, *httptest.Server) {
	t.Helper()
	s, err := New(as(cfg, user), Options{Warn: func(msg string) { t.Log("warning:", msg) }})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	return s, ts
}

// call makes a request to the dashboard and returns the status and body.
// The token is sent when token is not empty; tweak changes the request.
func call(t testing.TB, ts *httptest.Server, method, path, token, body string, tweak ...func(*http.Request)) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(promisetest.TestContext(t), method, ts.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set(TokenHeader, token)
	}
	for _, f := range tweak {
		f(req)
	}
	res, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = res.Body.Close() }()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, b
}

// decode unmarshals a JSON answer or fails the test.
func decode[T any](t testing.TB, b []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decoding %s: %v", b, err)
	}
	return v
}

// The fixture fleet: six clusters, two Promises, a Rollout of web waiting
// for the approval of its general wave, one failing Work, one offline
// cluster, one freeze.
//
//	cluster  ring     web              db      state
//	eu-1     canary   web-r2 healthy   db-r1   Available
//	eu-2     canary   web-r2 healthy           Available
//	us-1     general  web-r1 healthy   db-r1   Available
//	us-2     general  web-r2 failing           Available
//	ap-1     general  web-r1 healthy           Offline
//	idle-1   -                                 Available, no Work
const (
	fixtureRollout = "web-2"
	// otherRollout waits for approval too; the approve test uses it, so the
	// fixture Rollout stays unapproved for the tests that need it so.
	otherRollout = "db-2"
)

var (
	fixtureOnce sync.Once
	fixtureOK   bool
)

// fixtureFleet creates the fixture fleet on the shared hub, once, and
// returns the hub's admin config.
func fixtureFleet(t *testing.T) *rest.Config {
	t.Helper()
	fixtureOnce.Do(func() {
		createFixtureFleet(t)
		fixtureOK = true
	})
	if !fixtureOK {
		t.Fatal("the fixture fleet could not be created (see the first test that failed)")
	}
	return fixtureHub.RESTConfig
}

func createFixtureFleet(t testing.TB) {
	e := promisetest.NewEnv(t, fixtureHub.RESTConfig)
	grantRoles(t, e.C)
	now := metav1.NewTime(time.Now().Truncate(time.Second))
	type cluster struct {
		name, ring   string
		availability fleetv1alpha1.ClusterAvailability
	}
	clusters := []cluster{
		{"eu-1", "canary", fleetv1alpha1.ClusterAvailabilityAvailable},
		{"eu-2", "canary", fleetv1alpha1.ClusterAvailabilityAvailable},
		{"us-1", "general", fleetv1alpha1.ClusterAvailabilityAvailable},
		{"us-2", "general", fleetv1alpha1.ClusterAvailabilityAvailable},
		{"ap-1", "general", fleetv1alpha1.ClusterAvailabilityOffline},
		{"idle-1", "", fleetv1alpha1.ClusterAvailabilityAvailable},
	}
	for _, c := range clusters {
		labels := map[string]string{"region": c.name[:2]}
		if c.ring != "" {
			labels["ring"] = c.ring
		}
		e.Cluster(c.name, labels)
		cl := &fleetv1alpha1.Cluster{}
		if err := e.C.Get(e.Ctx, client.ObjectKey{Name: c.name}, cl); err != nil {
			t.Fatal(err)
		}
		cl.Status.Availability = c.availability
		heartbeat := now
		if c.availability == fleetv1alpha1.ClusterAvailabilityOffline {
			heartbeat = metav1.NewTime(now.Add(-10 * time.Minute))
			cl.Status.Conditions = []metav1.Condition{{Type: fleetv1alpha1.ConditionOffline, Status: metav1.ConditionTrue,
				Reason: "HeartbeatMissed", Message: "no heartbeat for 10m", LastTransitionTime: now}}
		}
		cl.Status.LastHeartbeatTime = &heartbeat
		if err := e.C.Status().Update(e.Ctx, cl); err != nil {
			t.Fatalf("writing the status of cluster %s: %v", c.name, err)
		}
	}

	for name, latest := range map[string]string{"web": "web-r2", "db": "db-r2"} {
		p := promisetest.ConfigMapPromise(name, name+".fixture.example.com", strings.ToUpper(name[:1])+name[1:])
		e.Create(p)
		p.Status.LatestRevision = latest
		p.Status.Instances = 2
		if err := e.C.Status().Update(e.Ctx, p); err != nil {
			t.Fatalf("writing the status of promise %s: %v", name, err)
		}
	}

	works := []struct {
		cluster, promise, revision string
		failing                    bool
		drift                      fleetv1alpha1.DriftState
	}{
		{"eu-1", "web", "web-r2", false, fleetv1alpha1.DriftUnexplained},
		{"eu-2", "web", "web-r2", false, ""},
		{"us-1", "web", "web-r1", false, ""},
		{"us-2", "web", "web-r2", true, ""},
		{"ap-1", "web", "web-r1", false, ""},
		{"eu-1", "db", "db-r1", false, ""},
		{"us-1", "db", "db-r1", false, fleetv1alpha1.DriftAccepted},
	}
	for _, w := range works {
		work := &fleetv1alpha1.Work{
			ObjectMeta: metav1.ObjectMeta{Namespace: fleetv1alpha1.ClusterNamespace(w.cluster), Name: fleetv1alpha1.WorkName(w.promise, "shop", "cart")},
			Spec: fleetv1alpha1.WorkSpec{
				Cluster:  w.cluster,
				Subject:  fleetv1alpha1.WorkSubject{Promise: w.promise, Instance: &fleetv1alpha1.InstanceReference{Namespace: "shop", Name: "cart"}},
				Scope:    &fleetv1alpha1.WorkScope{Namespaces: []string{"shop"}, Kinds: []fleetv1alpha1.OutputKind{{Kind: "ConfigMap"}}},
				Revision: w.revision,
				// As the hub gives it the exception below.
				DriftExceptions: []fleetv1alpha1.WorkDriftException{{Name: "shop/tolerated",
					Resources: []fleetv1alpha1.ResourceSelector{{Kind: "ConfigMap"}}, ExpiresAt: metav1.NewTime(now.Add(72 * time.Hour))}},
			},
		}
		e.Create(work)
		if w.failing {
			work.Status = fleetv1alpha1.WorkStatus{
				ObservedGeneration: work.Generation, AppliedRevision: w.revision,
				Conditions: []metav1.Condition{
					{Type: fleetv1alpha1.ConditionApplied, Status: metav1.ConditionTrue, Reason: fleetv1alpha1.ReasonApplied, LastTransitionTime: now},
					{Type: fleetv1alpha1.ConditionStalled, Status: metav1.ConditionTrue, Reason: "ProgressDeadlineExceeded",
						Message: "Deployment cart: 0/3 replicas available (ImagePullBackOff)", LastTransitionTime: now},
				},
			}
			if err := e.C.Status().Update(e.Ctx, work); err != nil {
				t.Fatal(err)
			}
			continue
		}
		e.ReportReady(work)
		if w.drift != "" {
			reportDrift(t, e, work, w.drift, now)
		}
	}
	e.Namespace("shop", nil)
	e.Create(&fleetv1alpha1.DriftException{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "tolerated"},
		Spec: fleetv1alpha1.DriftExceptionSpec{Owner: "db-team", DeclaredBy: "dana", Reason: "tuning by hand", ExpiresAt: metav1.NewTime(now.Add(72 * time.Hour)),
			Resources: []fleetv1alpha1.ResourceSelector{{Kind: "ConfigMap"}}},
	})

	e.Create(&fleetv1alpha1.FleetFreeze{
		ObjectMeta: metav1.ObjectMeta{Name: "holidays"},
		Spec: fleetv1alpha1.FleetFreezeSpec{Reason: "end-of-year change freeze", FrozenBy: "platform-team",
			Until: &metav1.Time{Time: now.Add(72 * time.Hour)}},
	})

	createRollout(t, e, fixtureRollout, "web", "web-r1", "web-r2", now)
	createRollout(t, e, otherRollout, "db", "db-r1", "db-r2", now)
}

// reportDrift writes what an agent reports of a Work with one drifted
// ConfigMap (first seen two hours before now), in state.
func reportDrift(t testing.TB, e *promisetest.Env, w *fleetv1alpha1.Work, state fleetv1alpha1.DriftState, now metav1.Time) {
	t.Helper()
	drift := &fleetv1alpha1.ResourceDrift{State: state, Fields: []string{"data.size"}, By: "kubectl-edit",
		Since: &metav1.Time{Time: now.Add(-2 * time.Hour)}}
	w.Status.Drift = &fleetv1alpha1.DriftSummary{Unexplained: 1, Corrections: 2}
	// Unexplained drift comes with a field the exception accepts.
	drift.AcceptedFields, drift.Exception = []string{"data.color"}, "shop/tolerated"
	if state == fleetv1alpha1.DriftAccepted {
		drift.AcceptedFields = nil
		drift.Exception = "shop/tolerated"
		w.Status.Drift = &fleetv1alpha1.DriftSummary{Accepted: 1}
	}
	w.Status.Resources = []fleetv1alpha1.ResourceStatus{{Version: "v1", Kind: "ConfigMap", Namespace: "shop", Name: "cart",
		Result: fleetv1alpha1.ApplyResultApplied, Health: fleetv1alpha1.HealthCurrent, Drift: drift}}
	if err := e.C.Status().Update(e.Ctx, w); err != nil {
		t.Fatalf("reporting drift on Work %s/%s: %v", w.Namespace, w.Name, err)
	}
}

// createRollout creates a Rollout of promise from one revision to another
// whose canary wave (eu-1, eu-2) succeeded and whose general wave (us-1,
// us-2, ap-1) waits for an approval.
func createRollout(t testing.TB, e *promisetest.Env, name, promise, from, to string, now metav1.Time) {
	t.Helper()
	ro := &fleetv1alpha1.Rollout{
		ObjectMeta: metav1.ObjectMeta{Namespace: fleetv1alpha1.PlatformNamespace, Name: name},
		Spec: fleetv1alpha1.RolloutSpec{
			Subject:      fleetv1alpha1.RolloutSubject{Promise: promise},
			FromRevision: from, TargetRevision: to,
		},
	}
	e.Create(ro)
	started := metav1.NewTime(now.Add(-5 * time.Minute))
	ro.Status = fleetv1alpha1.RolloutStatus{
		Phase: fleetv1alpha1.RolloutPhaseWaitingForApproval, CurrentWave: "general",
		Counts:          fleetv1alpha1.RolloutCounts{Total: 5, Admitted: 2, Healthy: 2, Pending: 3},
		PercentOnTarget: 40,
		Waves: []fleetv1alpha1.WaveStatus{
			{Name: "canary", Phase: fleetv1alpha1.WavePhaseSucceeded, Clusters: []string{"eu-1", "eu-2"},
				Counts: fleetv1alpha1.RolloutCounts{Total: 2, Admitted: 2, Healthy: 2}},
			{Name: "general", Phase: fleetv1alpha1.WavePhaseWaitingForApproval, Clusters: []string{"us-1", "us-2", "ap-1"},
				Counts: fleetv1alpha1.RolloutCounts{Total: 3, Pending: 3}},
		},
		History: []fleetv1alpha1.HistoryEntry{
			{Time: started, To: fleetv1alpha1.RolloutPhaseProgressing, Wave: "canary", Actor: "hub", Message: "started"},
			{Time: now, From: fleetv1alpha1.RolloutPhaseProgressing, To: fleetv1alpha1.RolloutPhaseWaitingForApproval,
				Wave: "general", Actor: "hub", Message: "wave general needs an approval"},
		},
		Conditions: []metav1.Condition{{Type: fleetv1alpha1.ConditionReady, Status: metav1.ConditionFalse,
			Reason: "WaitingForApproval", Message: "wave general waits for an approval", LastTransitionTime: now}},
		StartedAt: &started,
	}
	if err := e.C.Status().Update(e.Ctx, ro); err != nil {
		t.Fatalf("writing the status of rollout %s: %v", name, err)
	}
}
