package gitdelivery_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"
	authenticationv1 "k8s.io/api/authentication/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/agent"
	"github.com/flotilla-dev/flotilla/internal/controller/promise/promisetest"
	"github.com/flotilla-dev/flotilla/internal/gitdelivery/stamp"
	"github.com/flotilla-dev/flotilla/internal/kube"
	"github.com/flotilla-dev/flotilla/internal/membership"
	"github.com/flotilla-dev/flotilla/internal/testenv"
)

// gitopsManager is the field manager the test's stand-in for Flux applies with.
const gitopsManager = "gitops-test"

// A git cluster with healthSource Agent, its member a real API server, its
// agent in report-only mode with the read-only identity join renders. The
// test plays the GitOps tool. The Work is admitted (pushed) but not healthy
// until the test syncs the commit; an object someone created with the same
// name is not taken for the rendered one; a rollout over the cluster waits
// for the sync of the new revision and then succeeds; and the agent never
// writes to the member.
func TestReportOnlyAgentWaitsForTheGitOpsSync(t *testing.T) {
	startHub(t)
	e := promisetest.NewEnv(t, hubCP.RESTConfig)
	const cluster, group, team = "gdro-1", "gdro.example.com", "gdro-team"
	memberAdmin, repo, joined := givenReportOnlyCluster(t, e, cluster, "gdro")

	// The agent says it only reports, which fits the git delivery: Ready.
	promisetest.Eventually(t, time.Minute, cluster+" Ready, its agent reporting mode "+fleetv1alpha1.AgentModeReportOnly, func() (bool, string) {
		lease := &coordinationv1.Lease{}
		if err := e.C.Get(e.Ctx, client.ObjectKey{Namespace: joined.Namespace, Name: fleetv1alpha1.AgentLease}, lease); err != nil {
			return false, err.Error()
		}
		cl := &fleetv1alpha1.Cluster{}
		if err := e.C.Get(e.Ctx, client.ObjectKey{Name: cluster}, cl); err != nil {
			return false, err.Error()
		}
		ready := meta.FindStatusCondition(cl.Status.Conditions, fleetv1alpha1.ConditionReady)
		return lease.Annotations[fleetv1alpha1.AnnotationAgentMode] == fleetv1alpha1.AgentModeReportOnly &&
			ready != nil && ready.Status == metav1.ConditionTrue && ready.Reason == fleetv1alpha1.ReasonHeartbeating, strFmt(cl.Status)
	})

	// Someone created an object of the rendered name by hand, before any sync
	// (in the instance's namespace, where the Promise renders it).
	if err := memberAdmin.Create(e.Ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: team}}); err != nil {
		t.Fatal(err)
	}
	byHand := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: team, Name: "shop"},
		Data: map[string]string{"size": "small", "release": "1"}}
	if err := memberAdmin.Create(e.Ctx, byHand); err != nil {
		t.Fatal(err)
	}

	r1, file := givenReleaseOneOfShop(t, e, repo, cluster, "gdro", group, team)

	// Pushed, so admitted; not healthy: the live object is not the rendered one.
	e.WaitWork("gdro", team, "shop", cluster, func(w *fleetv1alpha1.Work) (bool, string) {
		h := meta.FindStatusCondition(w.Status.Conditions, fleetv1alpha1.ConditionHealthy)
		return w.Status.AppliedRevision == r1 && promisetest.ConditionIs(w.Status.Conditions, fleetv1alpha1.ConditionApplied, metav1.ConditionTrue) &&
			h != nil && h.Status == metav1.ConditionFalse && h.Reason == fleetv1alpha1.ReasonInProgress &&
			strings.Contains(h.Message, "waiting for the GitOps tool to sync revision "+r1) &&
			strings.Contains(h.Message, "not written from Flotilla's files") &&
			len(w.Status.Resources) == 1 && w.Status.Resources[0].Result == fleetv1alpha1.ApplyResultNotSynced, strFmt(w.Status)
	})

	gitopsSync(t, e.Ctx, repo, "clusters/"+cluster, memberAdmin)
	e.WaitWork("gdro", team, "shop", cluster, func(w *fleetv1alpha1.Work) (bool, string) {
		return promisetest.ConditionIs(w.Status.Conditions, fleetv1alpha1.ConditionHealthy, metav1.ConditionTrue) &&
			promisetest.ConditionIs(w.Status.Conditions, fleetv1alpha1.ConditionReady, metav1.ConditionTrue) &&
			promisetest.ConditionIs(w.Status.Conditions, fleetv1alpha1.ConditionApplied, metav1.ConditionTrue) &&
			len(w.Status.Resources) == 1 && w.Status.Resources[0].Health == fleetv1alpha1.HealthCurrent &&
			w.Status.Resources[0].Result == fleetv1alpha1.ApplyResultApplied, strFmt(w.Status)
	})

	// A new release rolls out over the cluster: pushed, then healthy only
	// once the GitOps tool synced it.
	cur := e.UpdatePromise("gdro", func(p *fleetv1alpha1.Promise) { p.Spec.Templates.GoTemplates[0].Template = release("2") })
	rolloutName := "gdro-" + strconv.FormatInt(cur.Generation, 10)
	waitFile(t, repo, file, `release: "2"`)
	w := e.WaitWork("gdro", team, "shop", cluster, func(w *fleetv1alpha1.Work) (bool, string) {
		h := meta.FindStatusCondition(w.Status.Conditions, fleetv1alpha1.ConditionHealthy)
		return w.Status.ObservedGeneration == w.Generation && w.Status.AppliedRevision != r1 &&
			promisetest.ConditionIs(w.Status.Conditions, fleetv1alpha1.ConditionApplied, metav1.ConditionTrue) &&
			h != nil && h.Status == metav1.ConditionFalse && h.ObservedGeneration == w.Generation &&
			strings.Contains(h.Message, "waiting for the GitOps tool to sync revision "+w.Spec.Revision) &&
			strings.Contains(h.Message, "the live object is rendering"), strFmt(w.Status)
	})
	r2 := w.Spec.Revision
	ro := &fleetv1alpha1.Rollout{}
	if err := e.C.Get(e.Ctx, client.ObjectKey{Namespace: fleetv1alpha1.PlatformNamespace, Name: rolloutName}, ro); err != nil {
		t.Fatal(err)
	}
	if ro.Status.Phase == fleetv1alpha1.RolloutPhaseSucceeded {
		t.Fatalf("rollout %s succeeded before the GitOps tool synced revision %s: %s", rolloutName, r2, strFmt(ro.Status))
	}

	gitopsSync(t, e.Ctx, repo, "clusters/"+cluster, memberAdmin)
	promisetest.Eventually(t, 2*time.Minute, "rollout "+rolloutName+" Succeeded", func() (bool, string) {
		if err := e.C.Get(e.Ctx, client.ObjectKey{Namespace: fleetv1alpha1.PlatformNamespace, Name: rolloutName}, ro); err != nil {
			return false, err.Error()
		}
		return ro.Status.Phase == fleetv1alpha1.RolloutPhaseSucceeded, strFmt(ro.Status)
	})
	e.WaitWork("gdro", team, "shop", cluster, func(w *fleetv1alpha1.Work) (bool, string) {
		return w.Status.AppliedRevision == r2 && promisetest.ConditionIs(w.Status.Conditions, fleetv1alpha1.ConditionReady, metav1.ConditionTrue), strFmt(w.Status)
	})

	// The agent never wrote to the member: no field of the object is Flotilla's.
	live := &corev1.ConfigMap{}
	if err := memberAdmin.Get(e.Ctx, client.ObjectKeyFromObject(byHand), live); err != nil {
		t.Fatal(err)
	}
	for _, mf := range live.ManagedFields {
		if mf.Manager == fleetv1alpha1.FieldManager {
			t.Errorf("the member's object has fields managed by %s: %+v", fleetv1alpha1.FieldManager, live.ManagedFields)
		}
	}
	if live.Data["release"] != "2" {
		t.Errorf("live data %v, want release 2 from the GitOps sync", live.Data)
	}
	// It heartbeats and reports facts with its read-only identity.
	c := &fleetv1alpha1.Cluster{}
	if err := e.C.Get(e.Ctx, client.ObjectKey{Name: cluster}, c); err != nil {
		t.Fatal(err)
	}
	if c.Status.KubernetesVersion == "" {
		t.Errorf("cluster facts not reported: %s", strFmt(c.Status))
	}
}

// givenReportOnlyCluster joins cluster (labelled suite) with git delivery to
// a new bare repository whose health its report-only agent reports, and
// runs that agent against a member of its own (etcd and kube-apiserver:
// ConfigMaps need no controllers). It returns the member's admin client (the
// GitOps tool's), the repository and the join.
func givenReportOnlyCluster(t *testing.T, e *promisetest.Env, cluster, suite string) (client.Client, string, *membership.Joined) {
	t.Helper()
	member := testenv.NewHub(t)
	memberAdmin, err := client.New(member.RESTConfig, client.Options{Scheme: kube.NewScheme()})
	if err != nil {
		t.Fatal(err)
	}
	repo := bareRepo(t, t.TempDir())
	joined, err := membership.Join(e.Ctx, hubCP.RESTConfig, membership.JoinOptions{
		Name: cluster, Labels: map[string]string{"suite": suite}, Delivery: fleetv1alpha1.DeliveryGit,
		Git: &fleetv1alpha1.GitDelivery{URL: "file://" + repo, Branch: "main", HealthSource: fleetv1alpha1.GitHealthAgent},
	})
	if err != nil {
		t.Fatal(err)
	}
	runReportOnlyAgent(t, joined, installReportOnlyIdentity(t, e.Ctx, member, memberAdmin, joined), cluster)
	return memberAdmin, repo, joined
}

// givenReleaseOneOfShop places team's instance shop of a new Promise
// (named suite, its Fleet selecting the clusters labelled suite) that
// renders a ConfigMap of release "1", and waits until the hub committed its
// file to repo. It returns the Promise's revision and the file's path.
func givenReleaseOneOfShop(t *testing.T, e *promisetest.Env, repo, cluster, suite, group, team string) (string, string) {
	t.Helper()
	e.Fleet(suite, map[string]string{"suite": suite}, team)
	e.Namespace(team, nil)
	p := promisetest.ConfigMapPromise(suite, group, "Site", suite)
	p.Spec.Templates.GoTemplates[0].Template = release("1")
	e.Create(p)
	r1 := e.PromiseReady(suite)
	e.Create(promisetest.Instance(group, "Site", team, "shop", map[string]any{"size": "small"}))
	file := "clusters/" + cluster + "/" + suite + "/" + team + "/shop.yaml"
	waitFile(t, repo, file, stamp.Annotation)
	return r1, file
}

// installReportOnlyIdentity creates on the member what join renders for a
// git cluster's agent, but the Deployment (there is no kubelet), and returns
// a config with that ServiceAccount's token: the agent's own identity, which
// the member refuses every write.
func installReportOnlyIdentity(t *testing.T, ctx context.Context, member *testenv.ControlPlane, admin client.Client, joined *membership.Joined) *rest.Config {
	t.Helper()
	manifests, err := membership.InstallManifests(joined, membership.InstallOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(manifests, []byte("--report-only")) {
		t.Fatalf("join's manifests for a git cluster do not run the agent --report-only:\n%s", manifests)
	}
	dec := yaml.NewYAMLOrJSONDecoder(bytes.NewReader(manifests), 4096)
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			t.Fatal(err)
		}
		if len(u.Object) == 0 || u.GetKind() == "Deployment" {
			continue
		}
		if err := admin.Create(ctx, u); err != nil {
			t.Fatalf("creating %s %s: %v", u.GetKind(), u.GetName(), err)
		}
	}
	kc := kubernetes.NewForConfigOrDie(member.RESTConfig)
	tr, err := kc.CoreV1().ServiceAccounts(membership.DefaultMemberNamespace).CreateToken(ctx, membership.AgentName,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := &rest.Config{Host: member.RESTConfig.Host, BearerToken: tr.Status.Token,
		TLSClientConfig: rest.TLSClientConfig{CAData: member.RESTConfig.CAData}}
	// The identity cannot write: the proof the agent could not have.
	probe, err := client.New(cfg, client.Options{Scheme: kube.NewScheme()})
	if err != nil {
		t.Fatal(err)
	}
	err = probe.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "probe"}})
	if err == nil || !strings.Contains(err.Error(), "forbidden") {
		t.Fatalf("the report-only identity may create objects: %v", err)
	}
	return cfg
}

// runReportOnlyAgent runs the cluster's agent in report-only mode until the test ends.
func runReportOnlyAgent(t *testing.T, joined *membership.Joined, member *rest.Config, cluster string) {
	t.Helper()
	hub, err := clientcmd.RESTConfigFromKubeConfig(joined.HubKubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	log := funcr.New(func(prefix, args string) { t.Log("agent:", prefix, args) }, funcr.Options{})
	ctx, cancel := context.WithCancel(ctrl.LoggerInto(context.Background(), log))
	done := make(chan error, 1)
	go func() {
		done <- agent.Run(ctx, hub, member, agent.Options{ClusterName: cluster, StateDir: t.TempDir(),
			HeartbeatInterval: 2 * time.Second, ResyncInterval: 10 * time.Second, MetricsAddr: "0", ProbeAddr: "0", ReportOnly: true})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("agent stopped with: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("agent did not stop within 30s")
		}
	})
}

// gitopsSync does what Flux's kustomize-controller would: check out the
// branch and server-side apply every manifest under dir to the member.
func gitopsSync(t *testing.T, ctx context.Context, repo, dir string, member client.Client) {
	t.Helper()
	checkout := filepath.Join(t.TempDir(), "checkout")
	git(t, filepath.Dir(checkout), "clone", "-q", "--branch", "main", "file://"+repo, checkout)
	applied := 0
	err := filepath.WalkDir(filepath.Join(checkout, dir), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".yaml") {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		dec := yaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
		for {
			u := &unstructured.Unstructured{}
			if err := dec.Decode(&u.Object); err != nil {
				if errors.Is(err, io.EOF) {
					return nil
				}
				return err
			}
			if len(u.Object) == 0 {
				continue
			}
			if u.GetNamespace() == "" {
				u.SetNamespace("default") // the test's manifests are all namespaced
			}
			if err := member.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner(gitopsManager), client.ForceOwnership); err != nil {
				return err
			}
			applied++
		}
	})
	if err != nil {
		t.Fatalf("syncing %s: %v", dir, err)
	}
	t.Logf("gitops sync: applied %d objects at %s", applied, git(t, checkout, "rev-parse", "--short", "HEAD"))
}
