//go:build !agent

package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/controller/promise/promisetest"
	"github.com/flotilla-dev/flotilla/internal/fleetview"
	"github.com/flotilla-dev/flotilla/internal/testenv"
)

func TestPrintDrift(t *testing.T) {
	in := func(d time.Duration) *time.Time { v := now.Add(d); return &v }
	report := driftReport{
		GeneratedAt: now,
		Drift: fleetview.Drift{
			Resources: fleetview.DriftCounts{Unexplained: 2, Accepted: 3, Total: 5},
			Clusters:  fleetview.DriftCounts{Unexplained: 1, Accepted: 2, Total: 2},
			Items: []fleetview.DriftedResource{
				{Cluster: "eu-1", Promise: "db", Kind: "ClusterRole", Group: "rbac.authorization.k8s.io", Name: "db-reader",
					State: fleetv1alpha1.DriftUnexplained, Fields: []string{"rules"}, AcceptedFields: []string{"metadata.labels"},
					Exception: &fleetview.DriftExceptionView{Namespace: "flotilla-system", Name: "labels", Owner: "platform", DeclaredBy: "pat", ExpiresAt: in(72*time.Hour + time.Minute)}},
				{Cluster: "eu-1", Promise: "web", Instance: "team-a/shop", Kind: "Deployment", Group: "apps", Namespace: "team-a", Name: "shop",
					State: fleetv1alpha1.DriftUnexplained, By: "kubectl\x1b[31m", Since: in(-5 * time.Hour),
					Fields: []string{"spec.replicas", "spec.template.spec.containers[name=app].image", "metadata.labels.app", "spec.paused"}},
				{Cluster: "eu-1", Promise: "web", Instance: "team-a/shop", Kind: "ConfigMap", Namespace: "team-a", Name: "shop",
					State: fleetv1alpha1.DriftAccepted, By: "kubectl-edit", Since: in(-26 * time.Hour), Fields: []string{"data.color"},
					Exception: &fleetview.DriftExceptionView{Namespace: "team-a", Name: "hotfix", Owner: "alice", DeclaredBy: "alice", ExpiresAt: in(72*time.Hour + time.Minute)}},
				{Cluster: "eu-2", Promise: "web", Instance: "team-a/shop", Kind: "ConfigMap", Namespace: "team-a", Name: "shop",
					State: fleetv1alpha1.DriftAccepted, Since: in(-time.Hour), Fields: []string{"data.color"},
					Exception: &fleetview.DriftExceptionView{Namespace: "team-a", Name: "old", Owner: "bob", ExpiresAt: in(-10 * time.Minute)}},
				{Cluster: "eu-2", Promise: "web", Instance: "team-b/blog", Kind: "ConfigMap", Namespace: "team-b", Name: "blog",
					State: fleetv1alpha1.DriftAccepted, Since: in(-90 * time.Second),
					Exception: &fleetview.DriftExceptionView{Namespace: "team-b", Name: "legacy"}},
			},
		},
		Hidden: []string{"driftexceptions outside namespace team-a"},
	}
	var b bytes.Buffer
	printDrift(&b, &report)
	want := `5 resources drifted on 2 clusters: 2 unexplained, 3 accepted
CLUSTER  PROMISE  INSTANCE     RESOURCE                                         STATE        FIELDS                                                                                BY            AGE  EXCEPTION
eu-1     db       -            ClusterRole.rbac.authorization.k8s.io/db-reader  Unexplained  rules [accepted: metadata.labels]                                                     -             -    flotilla-system/labels (platform, declared by pat, 3d left)
eu-1     web      team-a/shop  Deployment.apps/team-a/shop                      Unexplained  spec.replicas,spec.template.spec.containers[name=app].image,metadata.labels.app (+1)  kubectl?[31m  5h   -
eu-1     web      team-a/shop  ConfigMap/team-a/shop                            Accepted     data.color                                                                            kubectl-edit  26h  team-a/hotfix (alice, 3d left)
eu-2     web      team-a/shop  ConfigMap/team-a/shop                            Accepted     data.color                                                                            -             60m  team-a/old (bob, expired 10m ago)
eu-2     web      team-b/blog  ConfigMap/team-b/blog                            Accepted     -                                                                                     -             90s  team-b/legacy
Not shown (your credentials may not list them): driftexceptions outside namespace team-a
`
	if got := b.String(); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}

	b.Reset()
	printDrift(&b, &driftReport{GeneratedAt: now, Drift: fleetview.Drift{Clusters: fleetview.DriftCounts{}}})
	if got, want := b.String(), "0 resources drifted on 0 clusters: 0 unexplained, 0 accepted\n"; got != want {
		t.Errorf("no drift: got %q, want %q", got, want)
	}
}

// driftFixture writes, on a hub without controllers, the Works' statuses an
// agent reports with drift, and DriftExceptions:
//
//	eu-1  web  team-a/shop  Deployment.apps/team-a/shop       Unexplained  5h
//	eu-1  web  team-a/shop  ConfigMap/team-a/shop-settings    Accepted     26h  team-a/hotfix
//	eu-2  web  team-b/blog  ConfigMap/team-b/blog             Accepted     5h   team-b/legacy
//	us-1  db   (fleet)      ClusterRole.rbac.../db-reader     Unexplained  26h
//	us-1  web  team-a/shop  no drift, 3 corrections made
func driftFixture(ctx context.Context, t *testing.T, c client.Client, now time.Time) {
	t.Helper()
	create := func(obj client.Object) {
		t.Helper()
		if err := c.Create(ctx, obj); err != nil {
			t.Fatalf("creating %T %s: %v", obj, obj.GetName(), err)
		}
	}
	for _, ns := range []string{fleetv1alpha1.PlatformNamespace, "team-a", "team-b"} {
		create(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	}
	// --cluster and --promise must name objects that exist.
	for _, name := range []string{"eu-1", "eu-2", "us-1"} {
		create(&fleetv1alpha1.Cluster{ObjectMeta: metav1.ObjectMeta{Name: name}})
	}
	create(promisetest.ConfigMapPromise("web", "example.com", "Web", "prod"))
	create(promisetest.ConfigMapPromise("db", "example.com", "DB", "prod"))
	ago := func(d time.Duration) *metav1.Time { return &metav1.Time{Time: now.Add(-d).Truncate(time.Second)} }
	resource := func(group, kind, ns, name string, drift *fleetv1alpha1.ResourceDrift) fleetv1alpha1.ResourceStatus {
		return fleetv1alpha1.ResourceStatus{Group: group, Version: "v1", Kind: kind, Namespace: ns, Name: name,
			Result: fleetv1alpha1.ApplyResultApplied, Health: fleetv1alpha1.HealthCurrent, Drift: drift}
	}
	works := []struct {
		cluster, promise string
		instance         *fleetv1alpha1.InstanceReference
		corrections      int64
		resources        []fleetv1alpha1.ResourceStatus
	}{{
		cluster: "eu-1", promise: "web", instance: &fleetv1alpha1.InstanceReference{Namespace: "team-a", Name: "shop"}, corrections: 1,
		resources: []fleetv1alpha1.ResourceStatus{
			resource("apps", "Deployment", "team-a", "shop", &fleetv1alpha1.ResourceDrift{State: fleetv1alpha1.DriftUnexplained,
				Fields: []string{"spec.replicas"}, By: "kubectl", Since: ago(5 * time.Hour)}),
			resource("", "ConfigMap", "team-a", "shop-settings", &fleetv1alpha1.ResourceDrift{State: fleetv1alpha1.DriftAccepted,
				Fields: []string{"data.color"}, By: "kubectl-edit", Since: ago(26 * time.Hour), Exception: "team-a/hotfix"}),
			resource("", "Service", "team-a", "shop", nil),
		},
	}, {
		cluster: "eu-2", promise: "web", instance: &fleetv1alpha1.InstanceReference{Namespace: "team-b", Name: "blog"},
		resources: []fleetv1alpha1.ResourceStatus{
			resource("", "ConfigMap", "team-b", "blog", &fleetv1alpha1.ResourceDrift{State: fleetv1alpha1.DriftAccepted,
				Fields: []string{"data.mode"}, Since: ago(5 * time.Hour), Exception: "team-b/legacy"}),
		},
	}, {
		cluster: "us-1", promise: "db",
		resources: []fleetv1alpha1.ResourceStatus{
			resource("rbac.authorization.k8s.io", "ClusterRole", "", "db-reader", &fleetv1alpha1.ResourceDrift{State: fleetv1alpha1.DriftUnexplained,
				Fields: []string{"rules"}, Since: ago(26 * time.Hour)}),
		},
	}, {
		cluster: "us-1", promise: "web", instance: &fleetv1alpha1.InstanceReference{Namespace: "team-a", Name: "shop"}, corrections: 3,
		resources: []fleetv1alpha1.ResourceStatus{resource("", "ConfigMap", "team-a", "shop-settings", nil)},
	}}
	for _, w := range works {
		ns := fleetv1alpha1.ClusterNamespace(w.cluster)
		if err := c.Get(ctx, client.ObjectKey{Name: ns}, &corev1.Namespace{}); err != nil {
			create(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
		}
		name := w.promise + "-fleet"
		if w.instance != nil {
			name = w.promise + "-" + w.instance.Name
		}
		work := &fleetv1alpha1.Work{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Spec: fleetv1alpha1.WorkSpec{Cluster: w.cluster, Revision: w.promise + "-1",
				Subject: fleetv1alpha1.WorkSubject{Promise: w.promise, Instance: w.instance}},
		}
		if w.instance != nil {
			work.Spec.Scope = &fleetv1alpha1.WorkScope{Namespaces: []string{w.instance.Namespace},
				Kinds: []fleetv1alpha1.OutputKind{{Kind: "ConfigMap"}, {Group: "apps", Kind: "Deployment"}}}
		}
		for _, r := range w.resources {
			// As the hub gives a Work the exceptions that may excuse its drift.
			if r.Drift != nil && r.Drift.Exception != "" {
				work.Spec.DriftExceptions = append(work.Spec.DriftExceptions, fleetv1alpha1.WorkDriftException{Name: r.Drift.Exception,
					Resources: []fleetv1alpha1.ResourceSelector{{Kind: "ConfigMap"}}, ExpiresAt: metav1.NewTime(now.Add(50 * time.Hour))})
			}
		}
		create(work)
		// As the agent reports it: through the status subresource.
		work.Status = fleetv1alpha1.WorkStatus{ObservedGeneration: work.Generation, AppliedRevision: w.promise + "-1",
			Resources: w.resources, Drift: &fleetv1alpha1.DriftSummary{Corrections: w.corrections}}
		for _, r := range w.resources {
			switch {
			case r.Drift == nil:
			case r.Drift.State == fleetv1alpha1.DriftAccepted:
				work.Status.Drift.Accepted++
			default:
				work.Status.Drift.Unexplained++
			}
		}
		if err := c.Status().Update(ctx, work); err != nil {
			t.Fatalf("reporting the status of Work %s/%s: %v", ns, name, err)
		}
	}
	exception := func(ns, name, owner string, expires time.Duration) {
		create(&fleetv1alpha1.DriftException{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Spec: fleetv1alpha1.DriftExceptionSpec{Owner: owner, Reason: "accepted for now", ExpiresAt: metav1.NewTime(now.Add(expires).Truncate(time.Second)),
				Resources: []fleetv1alpha1.ResourceSelector{{Kind: "ConfigMap"}}},
		})
	}
	// Half an hour beyond whole units, so the time left prints the same
	// however long the test takes.
	exception("team-a", "hotfix", "alice", 72*time.Hour+30*time.Minute)
	exception("team-b", "legacy", "bob", 50*time.Hour+30*time.Minute)
}

// `flotilla drift` and the drift line of `flotilla status` against a real
// hub holding driftFixture, as the admin and as a team member.
func TestDriftAgainstAHub(t *testing.T) {
	hub := testenv.NewHub(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c := installCRDs(ctx, t, hub)
	driftFixture(ctx, t, c, time.Now())

	// carol may list Works everywhere, and DriftExceptions in team-a only.
	for _, obj := range []client.Object{
		&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "work-reader"},
			Rules: []rbacv1.PolicyRule{{APIGroups: []string{fleetv1alpha1.GroupVersion.Group}, Resources: []string{"works"}, Verbs: []string{"list"}}}},
		&rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "carol"},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "work-reader"},
			Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "carol"}}},
		&rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "exception-reader"},
			Rules: []rbacv1.PolicyRule{{APIGroups: []string{fleetv1alpha1.GroupVersion.Group}, Resources: []string{"driftexceptions"}, Verbs: []string{"list"}}}},
		&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "carol"},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "exception-reader"},
			Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "carol"}}},
	} {
		if err := c.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}
	// The admin kubeconfig, impersonating a user: what kubectl --as does.
	as := func(user string) string {
		cfg, err := clientcmd.LoadFromFile(hub.KubeconfigPath)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range cfg.AuthInfos {
			a.Impersonate = user
		}
		path := filepath.Join(t.TempDir(), user+".kubeconfig")
		if err := clientcmd.WriteToFile(*cfg, path); err != nil {
			t.Fatal(err)
		}
		return path
	}
	carol, dave := as("carol"), as("dave")

	run := func(args ...string) (string, error) {
		root := newRootCommand()
		var out bytes.Buffer
		root.SetOut(&out)
		root.SetErr(&out)
		if !strings.Contains(strings.Join(args, " "), "--kubeconfig") {
			args = append(args, "--kubeconfig", hub.KubeconfigPath)
		}
		root.SetArgs(args)
		err := root.ExecuteContext(ctx)
		return out.String(), err
	}

	const header = "CLUSTER  PROMISE  INSTANCE     RESOURCE                                         STATE        FIELDS         BY            AGE  EXCEPTION\n"
	rows := map[string]string{
		"role":     "us-1     db       -            ClusterRole.rbac.authorization.k8s.io/db-reader  Unexplained  rules          -             26h  -\n",
		"deploy":   "eu-1     web      team-a/shop  Deployment.apps/team-a/shop                      Unexplained  spec.replicas  kubectl       5h   -\n",
		"settings": "eu-1     web      team-a/shop  ConfigMap/team-a/shop-settings                   Accepted     data.color     kubectl-edit  26h  team-a/hotfix (alice, 3d left)\n",
		"blog":     "eu-2     web      team-b/blog  ConfigMap/team-b/blog                            Accepted     data.mode      -             5h   team-b/legacy (bob, 2d2h left)\n",
	}
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{{
		name: "the whole fleet: unexplained first, oldest first",
		args: []string{"drift"},
		want: "4 resources drifted on 3 clusters: 2 unexplained, 2 accepted\n" + header + rows["role"] + rows["deploy"] + rows["settings"] + rows["blog"],
	}, {
		name: "one cluster",
		args: []string{"drift", "--cluster", "eu-1"},
		want: "2 resources drifted on 1 cluster: 1 unexplained, 1 accepted\n" +
			"CLUSTER  PROMISE  INSTANCE     RESOURCE                        STATE        FIELDS         BY            AGE  EXCEPTION\n" +
			"eu-1     web      team-a/shop  Deployment.apps/team-a/shop     Unexplained  spec.replicas  kubectl       5h   -\n" +
			"eu-1     web      team-a/shop  ConfigMap/team-a/shop-settings  Accepted     data.color     kubectl-edit  26h  team-a/hotfix (alice, 3d left)\n",
	}, {
		name: "one Promise on a cluster without its drift",
		args: []string{"drift", "--promise", "db", "--cluster", "eu-1"},
		want: "0 resources drifted on 0 clusters: 0 unexplained, 0 accepted\n",
	}, {
		name: "one namespace, -A is every namespace",
		args: []string{"drift", "-n", "team-b"},
		want: "1 resource drifted on 1 cluster: 0 unexplained, 1 accepted\n" +
			"CLUSTER  PROMISE  INSTANCE     RESOURCE               STATE     FIELDS     BY  AGE  EXCEPTION\n" +
			"eu-2     web      team-b/blog  ConfigMap/team-b/blog  Accepted  data.mode  -   5h   team-b/legacy (bob, 2d2h left)\n",
	}, {
		name: "a team member in their namespace: their DriftExceptions are shown",
		args: []string{"drift", "-n", "team-a", "--kubeconfig", carol},
		want: "2 resources drifted on 1 cluster: 1 unexplained, 1 accepted\n" +
			"CLUSTER  PROMISE  INSTANCE     RESOURCE                        STATE        FIELDS         BY            AGE  EXCEPTION\n" +
			"eu-1     web      team-a/shop  Deployment.apps/team-a/shop     Unexplained  spec.replicas  kubectl       5h   -\n" +
			"eu-1     web      team-a/shop  ConfigMap/team-a/shop-settings  Accepted     data.color     kubectl-edit  26h  team-a/hotfix (alice, 3d left)\n" +
			"Not shown (your credentials may not list them): driftexceptions outside namespace team-a\n",
	}, {
		name: "a team member across the fleet: other teams' DriftExceptions by name only",
		args: []string{"drift", "-A", "--kubeconfig", carol},
		want: "4 resources drifted on 3 clusters: 2 unexplained, 2 accepted\n" +
			"CLUSTER  PROMISE  INSTANCE     RESOURCE                                         STATE        FIELDS         BY            AGE  EXCEPTION\n" +
			rows["role"] + rows["deploy"] +
			"eu-1     web      team-a/shop  ConfigMap/team-a/shop-settings                   Accepted     data.color     kubectl-edit  26h  team-a/hotfix\n" +
			"eu-2     web      team-b/blog  ConfigMap/team-b/blog                            Accepted     data.mode      -             5h   team-b/legacy\n" +
			"Not shown (your credentials may not list them): driftexceptions\n",
	}, {
		name: "someone who may list nothing",
		args: []string{"drift", "--kubeconfig", dave},
		want: "Drift: unknown (hidden: your credentials may not list Works)\n" +
			"Not shown (your credentials may not list them): driftexceptions, works\n",
	}} {
		t.Run(tt.name, func(t *testing.T) {
			out, err := run(tt.args...)
			if err != nil {
				t.Fatalf("flotilla %s: %v\n%s", strings.Join(tt.args, " "), err, out)
			}
			if out != tt.want {
				t.Errorf("flotilla %s:\n%s\nwant:\n%s", strings.Join(tt.args, " "), out, tt.want)
			}
		})
	}

	t.Run("-o json", func(t *testing.T) {
		out, err := run("drift", "--promise", "web", "-o", "json")
		if err != nil {
			t.Fatal(err)
		}
		var got driftReport
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("%v in:\n%s", err, out)
		}
		want := fleetview.DriftCounts{Unexplained: 1, Accepted: 2, Total: 3}
		if got.Resources != want || got.Clusters.Total != 2 || got.Corrections != 4 || len(got.Items) != 3 ||
			got.Items[2].Exception == nil || got.Items[2].Exception.Owner != "bob" || got.Items[2].Exception.ExpiresAt == nil {
			t.Errorf("unexpected drift:\n%s", out)
		}
	})

	t.Run("a name that matches nothing is an error, not an empty result", func(t *testing.T) {
		for _, tt := range []struct{ args, want string }{
			{"drift --cluster nosuch", `cluster "nosuch" not found`},
			{"drift --promise nosuch", `promise "nosuch" not found`},
			{"drift --promise web --cluster nosuch", `cluster "nosuch" not found`},
		} {
			if out, err := run(strings.Fields(tt.args)...); err == nil || err.Error() != tt.want {
				t.Errorf("flotilla %s: error %v, want %q\n%s", tt.args, err, tt.want, out)
			}
		}
	})

	t.Run("-n and -A", func(t *testing.T) {
		if _, err := run("drift", "-n", "team-a", "-A"); err == nil || !strings.Contains(err.Error(), "-n and -A") {
			t.Errorf("error %v, want one about -n and -A", err)
		}
	})

	t.Run("status has a drift line", func(t *testing.T) {
		out, err := run("status")
		if err != nil {
			t.Fatal(err)
		}
		if want := "\nDrift: 4 resources drifted on 3 clusters: 2 unexplained, 2 accepted (flotilla drift lists them)\n"; !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	})
}
