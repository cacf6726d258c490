package membership

import (
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// The agent of cluster A, with the credentials join gave it, can do its job
// on the hub and nothing else: every check runs against the real API server's
// RBAC authorizer.
func TestAgentCredentialsAreIsolated(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	admin := adminClient(t)
	a, b := "iso-a", "iso-b"
	nsA, nsB := fleetv1alpha1.ClusterNamespace(a), fleetv1alpha1.ClusterNamespace(b)
	start := time.Now()
	joinedA, err := Join(ctx, hub.RESTConfig, JoinOptions{Name: a})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Join(ctx, hub.RESTConfig, JoinOptions{Name: b}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{a, b} {
		if err := admin.Create(ctx, testWork(c)); err != nil {
			t.Fatal(err)
		}
	}
	agent := agentClient(t, joinedA.HubKubeconfig)
	t.Logf("joined A and B, created their Works in %s", time.Since(start).Round(time.Millisecond))

	// What it needs first: this also proves its RBAC reached the authorizer, so
	// the refusals below are RBAC's verdicts.
	t.Run("allowed", func(t *testing.T) {
		works := &fleetv1alpha1.WorkList{}
		if err := agent.List(ctx, works, client.InNamespace(nsA)); err != nil || len(works.Items) != 1 {
			t.Errorf("list own Works: %d, %v", len(works.Items), err)
		}
		w := &fleetv1alpha1.Work{}
		if err := agent.Get(ctx, types.NamespacedName{Namespace: nsA, Name: "web"}, w); err != nil {
			t.Fatalf("get own Work: %v", err)
		}
		if err := agent.Status().Patch(ctx, w, client.RawPatch(types.MergePatchType, []byte(`{"status":{"appliedRevision":"web-1"}}`))); err != nil {
			t.Errorf("patch own Work status: %v", err)
		}
		w.Status.ObservedGeneration = w.Generation
		if err := agent.Status().Update(ctx, w); err != nil {
			t.Errorf("update own Work status: %v", err)
		}
		// The agent's status write carries no spec; one that carries a
		// forged spec, or none, leaves the hub's spec as it is, and so with
		// the labels and annotations the hub reads (cluster, revision,
		// admission time) and the finalizers.
		want, wantLabels, wantAnnotations := w.Spec.DeepCopy(), w.Labels, w.Annotations
		for _, spec := range []fleetv1alpha1.WorkSpec{{Revision: "forged"}, {}} {
			current := &fleetv1alpha1.Work{}
			if err := agent.Get(ctx, types.NamespacedName{Namespace: nsA, Name: "web"}, current); err != nil {
				t.Fatal(err)
			}
			forged := &fleetv1alpha1.Work{ObjectMeta: *current.ObjectMeta.DeepCopy(), Spec: spec, Status: current.Status}
			forged.Labels = map[string]string{fleetv1alpha1.LabelCluster: b, fleetv1alpha1.LabelRevision: "forged"}
			forged.Annotations = map[string]string{fleetv1alpha1.AnnotationAdmittedAt: "2099-01-01T00:00:00Z"}
			forged.Finalizers = []string{"example.com/hold"}
			if err := agent.Status().Update(ctx, forged); err != nil {
				t.Errorf("update own Work status with spec %+v: %v", spec, err)
			}
			after := &fleetv1alpha1.Work{}
			if err := agent.Get(ctx, types.NamespacedName{Namespace: nsA, Name: "web"}, after); err != nil {
				t.Fatal(err)
			}
			if !equality.Semantic.DeepEqual(after.Spec, *want) {
				t.Errorf("a status write with spec %+v changed the Work's spec to %+v", spec, after.Spec)
			}
			if !equality.Semantic.DeepEqual(after.Labels, wantLabels) || !equality.Semantic.DeepEqual(after.Annotations, wantAnnotations) ||
				len(after.Finalizers) != 0 {
				t.Errorf("a status write changed the Work's metadata: labels %v, annotations %v, finalizers %v",
					after.Labels, after.Annotations, after.Finalizers)
			}
		}
		watch, err := agent.Watch(ctx, &fleetv1alpha1.WorkList{}, client.InNamespace(nsA))
		if err != nil {
			t.Errorf("watch own Works: %v", err)
		} else {
			watch.Stop()
		}

		lease := &coordinationv1.Lease{}
		if err := agent.Get(ctx, types.NamespacedName{Namespace: nsA, Name: fleetv1alpha1.AgentLease}, lease); err != nil {
			t.Fatalf("get own Lease: %v", err)
		}
		lease.Spec.HolderIdentity = ptr.To("agent-a")
		lease.Spec.LeaseDurationSeconds = ptr.To[int32](180)
		lease.Spec.RenewTime = ptr.To(metav1.NewMicroTime(time.Now()))
		if err := agent.Update(ctx, lease); err != nil {
			t.Errorf("renew own Lease: %v", err)
		}

		// Its facts ride on the Lease renewal, as annotations.
		facts := []byte(`{"metadata":{"annotations":{"` + fleetv1alpha1.AnnotationKubernetesVersion + `":"v1.36.3","` +
			fleetv1alpha1.AnnotationNodeCount + `":"3","` + fleetv1alpha1.AnnotationAgentVersion + `":"test"}},"spec":{"holderIdentity":"agent-a"}}`)
		if err := agent.Patch(ctx, lease, client.RawPatch(types.MergePatchType, facts)); err != nil {
			t.Errorf("patch own Lease with facts: %v", err)
		}
		if err := agent.SubResource("token").Create(ctx,
			&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: nsA, Name: fleetv1alpha1.AgentServiceAccount}},
			&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)}}); err != nil {
			t.Errorf("renew own token: %v", err)
		}
		if err := agent.Create(ctx, testEvent(nsA)); err != nil {
			t.Errorf("create an Event in its own namespace: %v", err)
		}
	})
	t.Run("forbidden", func(t *testing.T) {
		forbidden := map[string]func() error{
			"get a Work of B": func() error {
				return agent.Get(ctx, types.NamespacedName{Namespace: nsB, Name: "web"}, &fleetv1alpha1.Work{})
			},
			"list the Works of B":           func() error { return agent.List(ctx, &fleetv1alpha1.WorkList{}, client.InNamespace(nsB)) },
			"list Works in every namespace": func() error { return agent.List(ctx, &fleetv1alpha1.WorkList{}) },
			"patch the status of B's Work": func() error {
				return agent.Status().Patch(ctx, testWork(b), client.RawPatch(types.MergePatchType, []byte(`{"status":{"appliedRevision":"x"}}`)))
			},
			"create a Work": func() error {
				w := testWork(a)
				w.Name = "new"
				return agent.Create(ctx, w)
			},
			"change the spec of its own Work": func() error {
				return agent.Patch(ctx, testWork(a), client.RawPatch(types.MergePatchType, []byte(`{"spec":{"revision":"x"}}`)))
			},
			"delete its own Work": func() error { return agent.Delete(ctx, testWork(a)) },
			"list Clusters":       func() error { return agent.List(ctx, &fleetv1alpha1.ClusterList{}) },
			"get B's Cluster":     func() error { return agent.Get(ctx, client.ObjectKey{Name: b}, &fleetv1alpha1.Cluster{}) },
			"get its own Cluster": func() error { return agent.Get(ctx, client.ObjectKey{Name: a}, &fleetv1alpha1.Cluster{}) },
			"patch its own Cluster status": func() error {
				return agent.Status().Patch(ctx, &fleetv1alpha1.Cluster{ObjectMeta: metav1.ObjectMeta{Name: a}},
					client.RawPatch(types.MergePatchType, []byte(`{"status":{"nodeCount":7}}`)))
			},
			"patch B's Cluster status": func() error {
				return agent.Status().Patch(ctx, &fleetv1alpha1.Cluster{ObjectMeta: metav1.ObjectMeta{Name: b}},
					client.RawPatch(types.MergePatchType, []byte(`{"status":{"nodeCount":7}}`)))
			},
			"change its own Cluster's labels": func() error {
				return agent.Patch(ctx, &fleetv1alpha1.Cluster{ObjectMeta: metav1.ObjectMeta{Name: a}},
					client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"labels":{"env":"prod"}}}`)))
			},
			"create a Lease": func() error {
				return agent.Create(ctx, &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: nsA, Name: "other"}})
			},
			"update B's Lease": func() error {
				return agent.Patch(ctx, &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: nsB, Name: fleetv1alpha1.AgentLease}},
					client.RawPatch(types.MergePatchType, []byte(`{"spec":{"holderIdentity":"a"}}`)))
			},
			"delete its own Lease": func() error {
				return agent.Delete(ctx, &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: nsA, Name: fleetv1alpha1.AgentLease}})
			},
			"request a token for B's agent": func() error {
				return agent.SubResource("token").Create(ctx,
					&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: nsB, Name: fleetv1alpha1.AgentServiceAccount}},
					&authenticationv1.TokenRequest{})
			},
			"read Secrets in its own namespace": func() error { return agent.List(ctx, &corev1.SecretList{}, client.InNamespace(nsA)) },
			"create an Event in B's namespace":  func() error { return agent.Create(ctx, testEvent(nsB)) },
		}
		for name, do := range forbidden {
			if err := do(); !apierrors.IsForbidden(err) {
				t.Errorf("%s: got %v, want 403 Forbidden", name, err)
			}
		}
	})
	// An Event it may create, in its own namespace, regards only objects of
	// that namespace: the API server refuses one about the platform's Rollout
	// or about a Cluster (cluster-scoped), so `kubectl describe` of those never
	// shows an agent's forged Event.
	t.Run("events about others", func(t *testing.T) {
		aboutRollout := testEvent(nsA)
		aboutRollout.Regarding = corev1.ObjectReference{Kind: "Rollout", APIVersion: fleetv1alpha1.GroupVersion.String(),
			Namespace: fleetv1alpha1.PlatformNamespace, Name: "web-r2"}
		aboutCluster := testEvent(nsA)
		aboutCluster.Regarding = corev1.ObjectReference{Kind: "Cluster", APIVersion: fleetv1alpha1.GroupVersion.String(), Name: b}
		legacy := func(about corev1.ObjectReference) *corev1.Event {
			return &corev1.Event{ObjectMeta: metav1.ObjectMeta{Namespace: nsA, GenerateName: "agent-"},
				InvolvedObject: about, Reason: "Approved", Message: "wave general approved by cto@example.com",
				Type: corev1.EventTypeNormal, Source: corev1.EventSource{Component: "flotilla-hub"}}
		}
		relatedRollout := testEvent(nsA)
		relatedRollout.Related = &aboutRollout.Regarding
		newLegacy := legacy(aboutRollout.Regarding)
		newLegacy.EventTime = metav1.NewMicroTime(time.Now())
		newLegacy.ReportingController, newLegacy.ReportingInstance, newLegacy.Action = "flotilla.dev/hub", "hub", "Approve"
		refused := map[string]client.Object{
			"events.k8s.io, regarding the platform's Rollout":           aboutRollout,
			"events.k8s.io, related to the platform's Rollout":          relatedRollout,
			"core with an event time, regarding the platform's Rollout": newLegacy,
			"events.k8s.io, regarding B's Cluster":                      aboutCluster,
			"core, regarding the platform's Rollout":                    legacy(aboutRollout.Regarding),
			"core, regarding B's Cluster":                               legacy(aboutCluster.Regarding),
		}
		for name, ev := range refused {
			if err := agent.Create(ctx, ev); !apierrors.IsInvalid(err) && !apierrors.IsForbidden(err) {
				t.Errorf("%s: got %v, want it refused", name, err)
			}
		}
	})

}

func testWork(cluster string) *fleetv1alpha1.Work {
	return &fleetv1alpha1.Work{
		ObjectMeta: metav1.ObjectMeta{Namespace: fleetv1alpha1.ClusterNamespace(cluster), Name: "web"},
		Spec: fleetv1alpha1.WorkSpec{
			Cluster:  cluster,
			Subject:  fleetv1alpha1.WorkSubject{Promise: "web"},
			Revision: "web-1",
		},
	}
}

func testEvent(ns string) *eventsv1.Event {
	return &eventsv1.Event{
		ObjectMeta:          metav1.ObjectMeta{Namespace: ns, GenerateName: "agent-"},
		EventTime:           metav1.NewMicroTime(time.Now()),
		ReportingController: fleetv1alpha1.AgentEventSource, ReportingInstance: "agent-a",
		Action: "Apply", Reason: "Applied", Type: corev1.EventTypeNormal,
		Regarding: corev1.ObjectReference{Kind: "Work", APIVersion: fleetv1alpha1.GroupVersion.String(), Namespace: ns, Name: "web"},
	}
}
