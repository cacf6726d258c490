package e2e

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/devenv"
	"github.com/flotilla-dev/flotilla/internal/kube"
	"github.com/flotilla-dev/flotilla/internal/testenv"
)

// fleet is a running hub with joined members and in-process agents, plus the
// clients a story needs.
type fleet struct {
	t       *testing.T
	env     *devenv.Env
	hub     client.Client
	members map[string]client.Client
}

// givenFleet starts a hub and n members, with the hub controller running and
// each member joined and served by its agent. Its directory (logs included)
// is kept when the test fails, or always with E2E_KEEP_FLEET set.
func givenFleet(t *testing.T, n int) *fleet {
	t.Helper()
	return givenFleetWith(t, devenv.Options{Members: n})
}

// givenFleetWith is givenFleet with more options (e.g. member labels); Dir,
// Nodes and the agents' intervals are the fixture's own. Every fleet has its
// own control planes on ports the kernel picks, so the stories that start one
// run in parallel (t.Parallel): the e2e package is the last to finish in
// make test, and its stories mostly wait on timers, not on the CPU.
func givenFleetWith(t *testing.T, opts devenv.Options) *fleet {
	t.Helper()
	dir, err := os.MkdirTemp("", testenv.DirPrefix+"fleet-")
	if err != nil {
		t.Fatal(err)
	}
	opts.Dir, opts.Nodes = dir, 1
	opts.HeartbeatInterval, opts.ResyncInterval = time.Second, 5*time.Second
	env, err := devenv.Up(context.Background(), opts)
	if err != nil {
		_ = os.RemoveAll(dir)
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() || os.Getenv("E2E_KEEP_FLEET") != "" {
			t.Logf("fleet logs kept in %s", dir)
			env.Stop()
			return
		}
		env.Stop()
		_ = os.RemoveAll(dir)
	})
	f := &fleet{t: t, env: env, hub: newClient(t, env.Hub), members: map[string]client.Client{}}
	for _, m := range env.Members {
		f.members[m.Name] = newClient(t, m)
	}
	return f
}

func newClient(t *testing.T, cp *testenv.ControlPlane) client.Client {
	t.Helper()
	c, err := client.New(cp.RESTConfig, client.Options{Scheme: kube.NewScheme()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// whenWorkIsCreated puts manifests on member as a Work named name.
func (f *fleet) whenWorkIsCreated(member, name, revision string, manifests ...runtime.Object) {
	f.t.Helper()
	work := &fleetv1alpha1.Work{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: fleetv1alpha1.ClusterNamespace(member)},
		Spec: fleetv1alpha1.WorkSpec{
			Cluster:   member,
			Subject:   fleetv1alpha1.WorkSubject{Promise: "e2e"},
			Revision:  revision,
			Manifests: toManifests(f.t, manifests),
		},
	}
	if err := f.hub.Create(context.Background(), work); err != nil {
		f.t.Fatalf("creating work %s: %v", name, err)
	}
}

// whenWorkIsUpdated replaces the manifests and revision of an existing Work.
func (f *fleet) whenWorkIsUpdated(member, name, revision string, manifests ...runtime.Object) {
	f.t.Helper()
	key := types.NamespacedName{Namespace: fleetv1alpha1.ClusterNamespace(member), Name: name}
	f.eventually(time.Minute, "update work "+name, func() (bool, string) {
		var work fleetv1alpha1.Work
		if err := f.hub.Get(context.Background(), key, &work); err != nil {
			return false, err.Error()
		}
		work.Spec.Revision = revision
		work.Spec.Manifests = toManifests(f.t, manifests)
		if err := f.hub.Update(context.Background(), &work); err != nil {
			return false, err.Error()
		}
		return true, ""
	})
}

// thenWorkIsReady waits until the agent reports the Work's current generation
// applied at revision and Ready.
func (f *fleet) thenWorkIsReady(member, name, revision string, within time.Duration) {
	f.t.Helper()
	key := types.NamespacedName{Namespace: fleetv1alpha1.ClusterNamespace(member), Name: name}
	f.eventually(within, fmt.Sprintf("work %s on %s ready at %s", name, member, revision), func() (bool, string) {
		var work fleetv1alpha1.Work
		if err := f.hub.Get(context.Background(), key, &work); err != nil {
			return false, err.Error()
		}
		ready := conditionTrue(work.Status.Conditions, fleetv1alpha1.ConditionReady)
		return ready && work.Status.ObservedGeneration == work.Generation && work.Status.AppliedRevision == revision,
			fmt.Sprintf("generation=%d observed=%d applied=%q conditions=%v",
				work.Generation, work.Status.ObservedGeneration, work.Status.AppliedRevision, work.Status.Conditions)
	})
}

// thenClusterIs waits until the hub reports the member's availability.
func (f *fleet) thenClusterIs(member string, want fleetv1alpha1.ClusterAvailability, within time.Duration) {
	f.t.Helper()
	f.eventually(within, fmt.Sprintf("cluster %s %s", member, want), func() (bool, string) {
		var cluster fleetv1alpha1.Cluster
		if err := f.hub.Get(context.Background(), client.ObjectKey{Name: member}, &cluster); err != nil {
			return false, err.Error()
		}
		return cluster.Status.Availability == want, fmt.Sprintf("availability=%s", cluster.Status.Availability)
	})
}

// snapshot records the identity and generation of live objects on a member,
// so a story can prove nothing was deleted, recreated or rolled.
type snapshot map[string]string

func (f *fleet) snapshot(member string, objs ...client.Object) snapshot {
	f.t.Helper()
	s := snapshot{}
	for _, obj := range objs {
		live := obj.DeepCopyObject().(client.Object)
		if err := f.members[member].Get(context.Background(), client.ObjectKeyFromObject(obj), live); err != nil {
			f.t.Fatalf("reading %s on %s: %v", client.ObjectKeyFromObject(obj), member, err)
		}
		s[fmt.Sprintf("%T %s", obj, client.ObjectKeyFromObject(obj))] = fmt.Sprintf("uid=%s generation=%d", live.GetUID(), live.GetGeneration())
	}
	var pods corev1.PodList
	if err := f.members[member].List(context.Background(), &pods, client.InNamespace("shop")); err != nil {
		f.t.Fatal(err)
	}
	for _, p := range pods.Items {
		s["pod "+p.Name] = fmt.Sprintf("uid=%s restarts=%d", p.UID, restarts(&p))
	}
	return s
}

func (f *fleet) thenUnchanged(member string, before snapshot, objs ...client.Object) {
	f.t.Helper()
	after := f.snapshot(member, objs...)
	for k, v := range before {
		if after[k] != v {
			f.t.Errorf("%s on %s changed: before %s, after %q", k, member, v, after[k])
		}
	}
	for k := range after {
		if _, ok := before[k]; !ok {
			f.t.Errorf("%s on %s appeared: something was recreated", k, member)
		}
	}
}

func (f *fleet) thenConfigMapHas(member, namespace, name, key, value string, within time.Duration) {
	f.t.Helper()
	f.eventually(within, fmt.Sprintf("configmap %s/%s on %s has %s=%s", namespace, name, member, key, value), func() (bool, string) {
		var cm corev1.ConfigMap
		err := f.members[member].Get(context.Background(), client.ObjectKey{Namespace: namespace, Name: name}, &cm)
		if apierrors.IsNotFound(err) {
			return false, "not found"
		}
		if err != nil {
			return false, err.Error()
		}
		return cm.Data[key] == value, fmt.Sprintf("data=%v", cm.Data)
	})
}

func (f *fleet) eventually(within time.Duration, what string, check func() (bool, string)) {
	f.t.Helper()
	deadline := time.Now().Add(within)
	var last string
	for {
		ok, state := check()
		if ok {
			return
		}
		last = state
		if time.Now().After(deadline) {
			f.t.Fatalf("timed out after %s waiting for %s; last: %s", within, what, last)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func toManifests(t *testing.T, objs []runtime.Object) []fleetv1alpha1.Manifest {
	t.Helper()
	out := make([]fleetv1alpha1.Manifest, 0, len(objs))
	for _, obj := range objs {
		u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := (&unstructured.Unstructured{Object: u}).MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, fleetv1alpha1.Manifest{RawExtension: runtime.RawExtension{Raw: raw}})
	}
	return out
}

func conditionTrue(conds []metav1.Condition, kind string) bool {
	for _, c := range conds {
		if c.Type == kind {
			return c.Status == metav1.ConditionTrue
		}
	}
	return false
}

func restarts(p *corev1.Pod) int32 {
	var n int32
	for _, c := range p.Status.ContainerStatuses {
		n += c.RestartCount
	}
	return n
}
