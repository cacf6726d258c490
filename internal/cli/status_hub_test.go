//go:build !agent

package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/config/crd"
	"github.com/flotilla-dev/flotilla/internal/controller/promise/promisetest"
	"github.com/flotilla-dev/flotilla/internal/fleetview"
	"github.com/flotilla-dev/flotilla/internal/kube"
	"github.com/flotilla-dev/flotilla/internal/testenv"
)

// fleetFixture writes, on a hub without controllers (so that nothing
// rewrites the statuses), a fleet in the middle of a release:
//
//	pilot-1    Available  web-2 applied, healthy      wave pilot
//	canary-1   Available  web-2 applied, failing      wave canary
//	canary-2   Available  web-1 applied, healthy      wave canary
//	general-1  Offline    web-1 applied, healthy      (heartbeat 10m ago)
//	general-2  Unknown    no Work
//
// with the Promise web (latest web-2), its Rollout web-2 waiting for the
// approval of wave canary, a Fleet and a FleetFreeze.
func fleetFixture(ctx context.Context, t *testing.T, c client.Client) {
	t.Helper()
	create := func(obj client.Object) {
		t.Helper()
		if err := c.Create(ctx, obj); err != nil {
			t.Fatalf("creating %T %s: %v", obj, obj.GetName(), err)
		}
	}
	// setStatus writes obj's status as set by edit, after a fresh read.
	setStatus := func(obj client.Object, edit func()) {
		t.Helper()
		if err := c.Get(ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
			t.Fatal(err)
		}
		edit()
		if err := c.Status().Update(ctx, obj); err != nil {
			t.Fatalf("updating the status of %T %s: %v", obj, obj.GetName(), err)
		}
	}
	create(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: fleetv1alpha1.PlatformNamespace}})
	create(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a"}})

	rings := map[string]string{"pilot-1": "pilot", "canary-1": "canary", "canary-2": "canary", "general-1": "general", "general-2": "general"}
	for name, ring := range rings {
		create(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: fleetv1alpha1.ClusterNamespace(name)}})
		cl := &fleetv1alpha1.Cluster{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"ring": ring}}}
		create(cl)
		switch name {
		case "general-2": // never connected: no status
		case "general-1":
			setStatus(cl, func() {
				cl.Status.Availability = fleetv1alpha1.ClusterAvailabilityOffline
				cl.Status.LastHeartbeatTime = &metav1.Time{Time: time.Now().Add(-10*time.Minute - 20*time.Second)}
				cl.Status.Conditions = []metav1.Condition{{Type: fleetv1alpha1.ConditionOffline, Status: metav1.ConditionTrue,
					Reason: fleetv1alpha1.ReasonHeartbeatMissed, Message: "no heartbeat for 10m", LastTransitionTime: metav1.Now()}}
			})
		default:
			setStatus(cl, func() {
				cl.Status.Availability = fleetv1alpha1.ClusterAvailabilityAvailable
				cl.Status.LastHeartbeatTime = &metav1.Time{Time: time.Now()}
				cl.Status.KubernetesVersion, cl.Status.NodeCount = "v1.36.3", 3
			})
		}
	}

	works := []struct {
		cluster, revision string
		failing           bool
	}{{"pilot-1", "web-2", false}, {"canary-1", "web-2", true}, {"canary-2", "web-1", false}, {"general-1", "web-1", false}}
	for _, w := range works {
		work := &fleetv1alpha1.Work{
			ObjectMeta: metav1.ObjectMeta{Namespace: fleetv1alpha1.ClusterNamespace(w.cluster), Name: "web-shop",
				Labels: map[string]string{fleetv1alpha1.LabelCluster: w.cluster, fleetv1alpha1.LabelPromise: "web"}},
			Spec: fleetv1alpha1.WorkSpec{Cluster: w.cluster, Revision: w.revision,
				Subject: fleetv1alpha1.WorkSubject{Promise: "web", Instance: &fleetv1alpha1.InstanceReference{Namespace: "team-a", Name: "shop"}},
				Scope:   &fleetv1alpha1.WorkScope{Namespaces: []string{"team-a"}, Kinds: []fleetv1alpha1.OutputKind{{Group: "apps", Kind: "Deployment"}}}},
		}
		create(work)
		setStatus(work, func() {
			ready := metav1.Condition{Type: fleetv1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: "Healthy", LastTransitionTime: metav1.Now()}
			if w.failing {
				ready.Status, ready.Reason = metav1.ConditionFalse, "ImagePullBackOff"
			}
			work.Status.ObservedGeneration = work.Generation
			work.Status.AppliedRevision = w.revision
			work.Status.Conditions = []metav1.Condition{ready,
				{Type: fleetv1alpha1.ConditionApplied, Status: metav1.ConditionTrue, Reason: "Applied", LastTransitionTime: metav1.Now()}}
			if w.failing {
				work.Status.Conditions = append(work.Status.Conditions, metav1.Condition{Type: fleetv1alpha1.ConditionStalled,
					Status: metav1.ConditionTrue, Reason: "ImagePullBackOff", Message: "Deployment team-a/shop: image not found", LastTransitionTime: metav1.Now()})
			}
		})
	}

	web := promisetest.ConfigMapPromise("web", "example.com", "Web", "prod")
	create(web)
	setStatus(web, func() { web.Status.LatestRevision, web.Status.Instances = "web-2", 1 })
	create(&fleetv1alpha1.Fleet{ObjectMeta: metav1.ObjectMeta{Name: "prod"}, Spec: fleetv1alpha1.FleetSpec{
		Selector: metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
			{Key: "ring", Operator: metav1.LabelSelectorOpIn, Values: []string{"canary", "general"}}}}}})

	r := &fleetv1alpha1.Rollout{
		ObjectMeta: metav1.ObjectMeta{Namespace: fleetv1alpha1.PlatformNamespace, Name: "web-2"},
		Spec:       fleetv1alpha1.RolloutSpec{Subject: fleetv1alpha1.RolloutSubject{Promise: "web"}, FromRevision: "web-1", TargetRevision: "web-2"},
	}
	create(r)
	setStatus(r, func() {
		r.Status = fleetv1alpha1.RolloutStatus{
			Phase: fleetv1alpha1.RolloutPhaseWaitingForApproval, CurrentWave: "canary", PercentOnTarget: 33,
			Counts: fleetv1alpha1.RolloutCounts{Total: 3, Admitted: 3, Healthy: 1, Failed: 1, Pending: 1},
			Waves: []fleetv1alpha1.WaveStatus{
				{Name: "pilot", Phase: fleetv1alpha1.WavePhaseSucceeded, Clusters: []string{"pilot-1"},
					Counts: fleetv1alpha1.RolloutCounts{Total: 1, Admitted: 1, Healthy: 1}},
				{Name: "canary", Phase: fleetv1alpha1.WavePhaseWaitingForApproval, Clusters: []string{"canary-1", "canary-2"},
					Counts: fleetv1alpha1.RolloutCounts{Total: 2, Admitted: 2, Failed: 1, Pending: 1}},
			},
		}
	})
	create(&fleetv1alpha1.FleetFreeze{ObjectMeta: metav1.ObjectMeta{Name: "cve"},
		Spec: fleetv1alpha1.FleetFreezeSpec{Action: fleetv1alpha1.FreezeHalt, Reason: "incident 42", FrozenBy: "alice"}})
}

// `flotilla status`, `flotilla get` and the kubectl plugin against a real
// hub holding fleetFixture.
func TestFleetCommandsAgainstAHub(t *testing.T) {
	hub := testenv.NewHub(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c := installCRDs(ctx, t, hub)
	fleetFixture(ctx, t, c)

	// run runs flotilla with args against the hub (as the admin, unless
	// args name another kubeconfig) and returns stdout and stderr.
	run := func(args ...string) (string, string, error) {
		root := newRootCommand()
		var out, stderr bytes.Buffer
		root.SetOut(&out)
		root.SetErr(&stderr)
		if !strings.Contains(strings.Join(args, " "), "--kubeconfig") {
			args = append(args, "--kubeconfig", hub.KubeconfigPath)
		}
		root.SetArgs(args)
		err := root.ExecuteContext(ctx)
		return out.String(), stderr.String(), err
	}

	t.Run("status", func(t *testing.T) {
		out, _, err := run("status")
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{
			"Clusters: 5 total, 3 available, 1 offline, 1 unknown\n",
			// Healthy where healthy: web-1 is applied on the offline
			// general-1 and web-2 on the failing canary-1.
			"  web               latest web-2, 1 instance, on 4 clusters\n" +
				"    web-1           1 healthy   25.0%  █████▒▒▒▒▒░░░░░░░░░░  +1 applied, not healthy (25.0%)\n" + // a tie: by name
				"    web-2 (latest)  1 healthy   25.0%  █████▒▒▒▒▒░░░░░░░░░░  +1 applied, not healthy (25.0%)\n",
			"Rollouts in flight (1):\n  flotilla-system/web-2  web  web-1 → web-2\n    WaitingForApproval, wave canary: 33% on target (1 of 3 clusters healthy)\n" +
				"    pilot   Succeeded           ████████████████████  1/1 healthy\n" +
				"    canary  WaitingForApproval  ░░░░░░░░░░░░░░░░░░░░  0/2 healthy  1 failed, 1 pending\n" +
				"    wave canary waits for approval: flotilla rollout approve web-2 --wave canary\n",
			"Failing: 1 Work on 1 cluster\n",
			"  canary-1  web      team-a/shop  web-2     ImagePullBackOff  Deployment team-a/shop: image not found\n",
			"  general-1  10m ago         no heartbeat for 10m\n",
			"  cve: Halt, by alice, until unfrozen, holding 0 rollouts: incident 42\n",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("status lacks\n%s\nin:\n%s", want, out)
			}
		}
		if strings.Contains(out, "Not shown") {
			t.Errorf("the admin is shown everything:\n%s", out)
		}
	})

	t.Run("status -o json", func(t *testing.T) {
		out, _, err := run("status", "-o", "json")
		if err != nil {
			t.Fatal(err)
		}
		var v fleetview.View
		if err := json.Unmarshal([]byte(out), &v); err != nil {
			t.Fatalf("%v in:\n%s", err, out)
		}
		if v.Clusters != (fleetview.ClusterCounts{Total: 5, Available: 3, Offline: 1, Unknown: 1}) || len(v.Tiles) != 5 ||
			len(v.Promises) != 1 || len(v.Promises[0].Revisions) != 2 || v.Promises[0].Revisions[0].Percent != 25 || v.Promises[0].Revisions[0].NotHealthy != 1 ||
			len(v.Rollouts) != 1 || v.Rollouts[0].AwaitingApproval != "canary" || len(v.Rollouts[0].Waves) != 2 ||
			v.FailureCount != 1 || len(v.Offline) != 1 || len(v.Freezes) != 1 {
			t.Errorf("unexpected view:\n%s", out)
		}
	})

	t.Run("status as a team member", func(t *testing.T) {
		for _, obj := range []client.Object{
			&rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "rollout-reader"},
				Rules: []rbacv1.PolicyRule{{APIGroups: []string{fleetv1alpha1.GroupVersion.Group}, Resources: []string{"rollouts"}, Verbs: []string{"list"}}}},
			&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "bob"},
				RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "rollout-reader"},
				Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "bob"}}},
		} {
			if err := c.Create(ctx, obj); err != nil {
				t.Fatal(err)
			}
		}
		// The admin kubeconfig, impersonating bob: what kubectl --as does.
		cfg, err := clientcmd.LoadFromFile(hub.KubeconfigPath)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range cfg.AuthInfos {
			a.Impersonate = "bob"
		}
		// The authorizer's RBAC cache trails the binding just created.
		bob := rest.CopyConfig(hub.RESTConfig)
		bob.Impersonate = rest.ImpersonationConfig{UserName: "bob"}
		testenv.WaitAllowed(t, bob, authorizationv1.ResourceAttributes{Group: fleetv1alpha1.Group, Resource: "rollouts", Verb: "list", Namespace: "team-a"})
		bobConfig := filepath.Join(t.TempDir(), "bob.kubeconfig")
		if err := clientcmd.WriteToFile(*cfg, bobConfig); err != nil {
			t.Fatal(err)
		}
		out, _, err := run("status", "-n", "team-a", "--kubeconfig", bobConfig)
		if err != nil {
			t.Fatal(err)
		}
		// What bob may not list is unknown, not zero or none.
		if !strings.Contains(out, "Clusters: unknown (hidden: your credentials may not list Clusters)") ||
			!strings.Contains(out, "Rollouts in flight: none in namespace team-a; others hidden") ||
			!strings.Contains(out, "Failing: unknown (hidden: your credentials may not list Works)") || strings.Contains(out, "0 total") ||
			!strings.Contains(out, "Not shown (your credentials may not list them): clusters, driftexceptions, fleetfreezes, promises, rollouts outside namespace team-a, works\n") {
			t.Errorf("unexpected status for bob:\n%s", out)
		}
	})

	t.Run("get", func(t *testing.T) {
		steps := []struct {
			args       []string
			want       string
			wantStderr string
			wantErr    string
		}{
			{args: []string{"get", "clusters"}, want: "NAME        DELIVERY   AVAILABLE   VERSION   HEARTBEAT   AGE\ncanary-1    Agent      Available   v1.36.3   "},
			{args: []string{"get", "fcl", "-l", "ring=canary", "-o", "wide"}, want: "canary-2   Agent      Available   v1.36.3   3               "},
			{args: []string{"get", "cluster", "general-2", "-o", "yaml"}, want: "apiVersion: fleet.flotilla.dev/v1alpha1\nkind: Cluster\nmetadata:\n"},
			{args: []string{"get", "cluster", "nope"}, wantErr: `cluster "nope" not found`},
			{args: []string{"get", "fleets", "-o", "wide"}, want: "prod   0          0                   "}, // no controller counts them here
			{args: []string{"get", "fleets", "-o", "wide"}, want: "ring in (canary,general)   <none>\n"},
			{args: []string{"get", "prm"}, want: "web    Web    web-2    1           "},
			{args: []string{"get", "ro"}, want: "web-2   web       web-2    WaitingForApproval   canary   33%        "},
			{args: []string{"get", "rollouts", "-n", "team-a"}, wantStderr: "No resources found in team-a namespace.\n"},
			{args: []string{"get", "works"}, want: "NAMESPACE                    NAME       CLUSTER     PROMISE   INSTANCE   REVISION   APPLIED   READY   AGE\n" +
				"flotilla-cluster-canary-1    web-shop   canary-1    web       shop       web-2      web-2     False   "},
			{args: []string{"get", "works", "-l", "fleet.flotilla.dev/cluster=canary-1", "-o", "name"}, want: "work.fleet.flotilla.dev/web-shop\n"},
			{args: []string{"get", "wk", "web-shop", "-o", "wide"}, want: "flotilla-cluster-canary-1    web-shop   canary-1    web       shop       web-2      web-2     False             "},
			{args: []string{"get", "work", "web-shop", "-n", "flotilla-cluster-pilot-1", "-o", "json"}, want: "{\n  \"kind\": \"Work\",\n  \"apiVersion\": \"fleet.flotilla.dev/v1alpha1\","},
			{args: []string{"get", "work", "web-shop", "-n", "team-a"}, wantErr: `work "web-shop" not found in namespace team-a`},
			{args: []string{"get", "work", "nope"}, wantErr: `work "nope" not found in any namespace`},
			{args: []string{"get", "pods"}, wantErr: "unknown resource \"pods\"\nflotilla get knows clusters (cluster, fcl), "},
			{args: []string{"get", "rolloutstrategy"}, wantStderr: "No resources found\n"},
			{args: []string{"get", "fleetfreezes", "-o", "wide"}, want: "NAME   ACTION   UNTIL   ACTIVE   HELD   ROLLED-BACK   REASON        AGE   BY\ncve    Halt                      0      0             incident 42   "},
		}
		for _, s := range steps {
			out, stderr, err := run(s.args...)
			switch {
			case s.wantErr != "" && (err == nil || !strings.Contains(err.Error(), s.wantErr)):
				t.Errorf("flotilla %s: error %v, want %q (output %q)", strings.Join(s.args, " "), err, s.wantErr, out)
			case s.wantErr == "" && (err != nil || !strings.Contains(out, s.want) || !strings.Contains(stderr, s.wantStderr)):
				t.Errorf("flotilla %s: %v, output:\n%s\nstderr: %q\nwant it to contain %q and %q on stderr", strings.Join(s.args, " "), err, out, stderr, s.want, s.wantStderr)
			}
		}
		// The list as yaml is a WorkList of the four, without managed fields.
		out, _, err := run("get", "works", "-o", "yaml")
		if err != nil || !strings.HasPrefix(out, "apiVersion: fleet.flotilla.dev/v1alpha1\nitems:\n") || !strings.Contains(out, "\nkind: WorkList\nmetadata:\n") ||
			strings.Count(out, "kind: Work\n") != 4 || strings.Contains(out, "managedFields") {
			t.Errorf("get works -o yaml: %v\n%s", err, out)
		}
	})

	t.Run("kubectl plugin", func(t *testing.T) {
		goBin, err := exec.LookPath("go")
		if err != nil {
			t.Fatalf("building the plugin needs the go tool: %v", err)
		}
		binDir, err := testenv.BinDir()
		if err != nil {
			t.Fatal(err)
		}
		pluginDir := t.TempDir()
		build := exec.CommandContext(ctx, goBin, "build", "-o", filepath.Join(pluginDir, kubectlPlugin), "../../cmd/flotilla")
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("go build: %v\n%s", err, out)
		}
		kubectl := func(args ...string) string {
			t.Helper()
			cmd := exec.CommandContext(ctx, filepath.Join(binDir, "kubectl"), args...)
			cmd.Env = append(os.Environ(), "PATH="+pluginDir+string(os.PathListSeparator)+os.Getenv("PATH"))
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
			}
			return string(out)
		}
		if out := kubectl("plugin", "list"); !strings.Contains(out, filepath.Join(pluginDir, kubectlPlugin)) {
			t.Errorf("kubectl plugin list does not find the plugin:\n%s", out)
		}
		if out := kubectl("flotilla", "version"); strings.TrimSpace(out) == "" {
			t.Error("kubectl flotilla version printed nothing")
		}
		if out := kubectl("flotilla", "--help"); !strings.Contains(out, "\n  kubectl flotilla [command]\n") {
			t.Errorf("the plugin's usage does not say kubectl flotilla:\n%s", out)
		}
		out := kubectl("flotilla", "get", "clusters", "--kubeconfig", hub.KubeconfigPath)
		if !strings.HasPrefix(out, "NAME        DELIVERY   AVAILABLE   VERSION   HEARTBEAT   AGE\n") || strings.Count(out, "\n") != 6 {
			t.Errorf("kubectl flotilla get clusters:\n%s", out)
		}
		out = kubectl("flotilla", "status", "--kubeconfig", hub.KubeconfigPath)
		if !strings.Contains(out, "wave canary waits for approval: kubectl flotilla rollout approve web-2 --wave canary\n") {
			t.Errorf("kubectl flotilla status does not suggest the plugin's command:\n%s", out)
		}
	})
}

// installCRDs installs Flotilla's CRDs on hub and returns a client for it.
func installCRDs(ctx context.Context, t *testing.T, hub *testenv.ControlPlane) client.Client {
	t.Helper()
	crds, err := crd.CRDs()
	if err != nil {
		t.Fatal(err)
	}
	if err := hub.InstallCRDs(ctx, crds); err != nil {
		t.Fatal(err)
	}
	c, err := client.New(hub.RESTConfig, client.Options{Scheme: kube.NewScheme()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}
