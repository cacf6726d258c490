package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// Helpers for the Promise stories, on top of fleet_test.go's fixture.

// in returns the fleet as seen from a subtest, so its helpers fail that subtest.
func (f *fleet) in(t *testing.T) *fleet {
	c := *f
	c.t = t
	return &c
}

// givenTenantFleet makes a Fleet holding one member, with one tenant namespace.
func (f *fleet) givenTenantFleet(name, member, tenant string) {
	f.t.Helper()
	f.create(f.hub, &fleetv1alpha1.Fleet{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: fleetv1alpha1.FleetSpec{
			Selector: metav1.LabelSelector{MatchLabels: map[string]string{"member": member}},
			Tenants:  &fleetv1alpha1.Tenants{Namespaces: []string{tenant}},
		},
	})
}

// givenPlatformNamespace waits for the hub to have created flotilla-system,
// where the platform team's Overrides live.
func (f *fleet) givenPlatformNamespace() {
	f.t.Helper()
	f.eventually(30*time.Second, "the hub creates "+fleetv1alpha1.PlatformNamespace, func() (bool, string) {
		err := f.hub.Get(context.Background(), client.ObjectKey{Name: fleetv1alpha1.PlatformNamespace}, &corev1.Namespace{})
		return err == nil, fmt.Sprint(err)
	})
}

// givenTeamNamespaces creates the teams' namespaces on the hub (where they
// request instances) and on every member (where their workloads run).
func (f *fleet) givenTeamNamespaces(names ...string) {
	f.t.Helper()
	for _, ns := range names {
		f.create(f.hub, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
		for _, m := range f.members {
			f.create(m, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
		}
	}
}

func (f *fleet) create(c client.Client, obj client.Object) {
	f.t.Helper()
	if err := c.Create(context.Background(), obj); err != nil {
		f.t.Fatalf("creating %T %s: %v", obj, obj.GetName(), err)
	}
}

// givenPromise publishes a Promise and waits until it serves its API.
func (f *fleet) givenPromise(p *fleetv1alpha1.Promise) string {
	f.t.Helper()
	f.create(f.hub, p)
	return f.thenPromiseReady(p.Name)
}

// thenPromiseReady waits until the Promise is Ready and returns its latest revision.
func (f *fleet) thenPromiseReady(name string) string {
	f.t.Helper()
	var latest string
	f.eventually(time.Minute, "promise "+name+" ready", func() (bool, string) {
		p := f.promise(name)
		latest = p.Status.LatestRevision
		return p.Status.ObservedGeneration == p.Generation && meta.IsStatusConditionTrue(p.Status.Conditions, fleetv1alpha1.ConditionReady),
			fmt.Sprintf("%+v", p.Status.Conditions)
	})
	return latest
}

func (f *fleet) promise(name string) *fleetv1alpha1.Promise {
	f.t.Helper()
	p := &fleetv1alpha1.Promise{}
	if err := f.hub.Get(context.Background(), client.ObjectKey{Name: name}, p); err != nil {
		f.t.Fatalf("reading promise %s: %v", name, err)
	}
	return p
}

// whenPromiseIsChanged edits a Promise, retrying on conflicts.
func (f *fleet) whenPromiseIsChanged(name string, change func(*fleetv1alpha1.Promise)) {
	f.t.Helper()
	f.eventually(30*time.Second, "update promise "+name, func() (bool, string) {
		p := f.promise(name)
		change(p)
		err := f.hub.Update(context.Background(), p)
		return err == nil, fmt.Sprint(err)
	})
}

// newInstance returns an instance of gvk.
func newInstance(gvk schema.GroupVersionKind, ns, name string, spec map[string]any) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{}}
	if spec != nil {
		u.Object["spec"] = spec
	}
	u.SetGroupVersionKind(gvk)
	u.SetNamespace(ns)
	u.SetName(name)
	return u
}

// whenInstanceIsRequested is a team applying an instance on the hub.
func (f *fleet) whenInstanceIsRequested(gvk schema.GroupVersionKind, ns, name string, spec map[string]any) {
	f.t.Helper()
	f.create(f.hub, newInstance(gvk, ns, name, spec))
}

// instanceStatus reads an instance's status.
func (f *fleet) instanceStatus(gvk schema.GroupVersionKind, ns, name string) (fleetv1alpha1.InstanceStatus, error) {
	u := newInstance(gvk, ns, name, nil)
	if err := f.hub.Get(context.Background(), client.ObjectKeyFromObject(u), u); err != nil {
		return fleetv1alpha1.InstanceStatus{}, err
	}
	st := fleetv1alpha1.InstanceStatus{}
	if m, ok := u.Object["status"].(map[string]any); ok {
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(m, &st); err != nil {
			return st, err
		}
	}
	return st, nil
}

// thenInstanceIsReady waits until the hub reports the instance Ready on
// exactly the clusters it should be placed on.
func (f *fleet) thenInstanceIsReady(gvk schema.GroupVersionKind, ns, name string, placed int32, within time.Duration) fleetv1alpha1.InstanceStatus {
	f.t.Helper()
	var st fleetv1alpha1.InstanceStatus
	f.eventually(within, fmt.Sprintf("%s %s/%s ready on %d clusters", gvk.Kind, ns, name, placed), func() (bool, string) {
		var err error
		st, err = f.instanceStatus(gvk, ns, name)
		if err != nil {
			return false, err.Error()
		}
		return meta.IsStatusConditionTrue(st.Conditions, fleetv1alpha1.ConditionReady) && st.Clusters.Placed == placed && st.Clusters.Ready == placed,
			fmt.Sprintf("%+v", st)
	})
	return st
}

// thenWorkloadReady waits until a member runs obj (a StatefulSet or
// Deployment) with every replica ready.
func (f *fleet) thenWorkloadReady(member string, obj client.Object, within time.Duration) {
	f.t.Helper()
	f.eventually(within, fmt.Sprintf("%T %s ready on %s", obj, client.ObjectKeyFromObject(obj), member), func() (bool, string) {
		err := f.members[member].Get(context.Background(), client.ObjectKeyFromObject(obj), obj)
		if err != nil {
			return false, err.Error()
		}
		switch o := obj.(type) {
		case *appsv1.StatefulSet:
			return o.Status.ReadyReplicas == *o.Spec.Replicas && o.Status.ObservedGeneration == o.Generation, fmt.Sprintf("%+v", o.Status)
		case *appsv1.Deployment:
			return o.Status.AvailableReplicas == *o.Spec.Replicas && o.Status.ObservedGeneration == o.Generation, fmt.Sprintf("%+v", o.Status)
		}
		return true, ""
	})
}

// thenAbsent waits until none of objs exists on member.
func (f *fleet) thenAbsent(member string, within time.Duration, objs ...client.Object) {
	f.t.Helper()
	f.eventually(within, "objects gone from "+member, func() (bool, string) {
		var left []string
		for _, obj := range objs {
			err := f.members[member].Get(context.Background(), client.ObjectKeyFromObject(obj), obj.DeepCopyObject().(client.Object))
			if !apierrors.IsNotFound(err) {
				left = append(left, fmt.Sprintf("%T %s (%v)", obj, client.ObjectKeyFromObject(obj), err))
			}
		}
		return len(left) == 0, strings.Join(left, ", ")
	})
}

// workOf returns the Work of an instance on a member, or nil.
func (f *fleet) workOf(promise, ns, name, member string) *fleetv1alpha1.Work {
	f.t.Helper()
	w := &fleetv1alpha1.Work{}
	err := f.hub.Get(context.Background(), client.ObjectKey{Namespace: fleetv1alpha1.ClusterNamespace(member), Name: fleetv1alpha1.WorkName(promise, ns, name)}, w)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		f.t.Fatal(err)
	}
	return w
}

// memberState records the identity and generation (resourceVersion for kinds
// without one) of the objects in a member namespace, so a story can prove
// nothing was changed, deleted or recreated.
func (f *fleet) memberState(member, namespace string) map[string]string {
	f.t.Helper()
	out := map[string]string{}
	lists := []client.ObjectList{&appsv1.StatefulSetList{}, &appsv1.DeploymentList{}, &corev1.ConfigMapList{},
		&corev1.SecretList{}, &corev1.ServiceList{}, &corev1.PodList{}}
	for _, l := range lists {
		if err := f.members[member].List(context.Background(), l, client.InNamespace(namespace)); err != nil {
			f.t.Fatal(err)
		}
		items, err := meta.ExtractList(l)
		if err != nil {
			f.t.Fatal(err)
		}
		for _, item := range items {
			o := item.(client.Object)
			if o.GetName() == "kube-root-ca.crt" {
				continue
			}
			state := fmt.Sprintf("uid=%s generation=%d", o.GetUID(), o.GetGeneration())
			switch o.(type) {
			case *corev1.ConfigMap, *corev1.Secret, *corev1.Service:
				// No generation, and no status that moves on its own.
				state += " resourceVersion=" + o.GetResourceVersion()
			}
			out[fmt.Sprintf("%T %s", o, o.GetName())] = state
		}
	}
	return out
}

// workGenerations records every Work's generation on the hub.
func (f *fleet) workGenerations() map[string]int64 {
	f.t.Helper()
	list := &fleetv1alpha1.WorkList{}
	if err := f.hub.List(context.Background(), list); err != nil {
		f.t.Fatal(err)
	}
	out := map[string]int64{}
	for _, w := range list.Items {
		out[w.Namespace+"/"+w.Name] = w.Generation
	}
	return out
}

func sameState(t *testing.T, what string, before, after map[string]string) {
	t.Helper()
	keys := make([]string, 0, len(before)+len(after))
	for k := range before {
		keys = append(keys, k)
	}
	for k := range after {
		if _, ok := before[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		if before[k] != after[k] {
			t.Errorf("%s: %s changed: %q -> %q", what, k, before[k], after[k])
		}
	}
}
