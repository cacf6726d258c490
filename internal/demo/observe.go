package demo

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// observe reads, on every member, what each of the teams' instances runs.
func (d *demo) observe(ctx context.Context) ([]memberState, error) {
	out := make([]memberState, 0, len(d.members))
	for _, m := range d.members {
		ms := memberState{Name: m.name, Wave: m.wave}
		for _, w := range d.webs {
			in, err := observeInstance(ctx, m.c, w.GetNamespace(), w.GetName())
			if err != nil {
				return nil, fmt.Errorf("reading %s/%s on %s: %w", w.GetNamespace(), w.GetName(), m.name, err)
			}
			ms.Instances = append(ms.Instances, in)
		}
		out = append(out, ms)
	}
	return out, nil
}

// observeInstance reads the Deployment an instance renders to on a member,
// and, while it is not ready, why its new Pods do not start.
func observeInstance(ctx context.Context, c client.Client, ns, name string) (instanceState, error) {
	in := instanceState{Instance: ns + "/" + name}
	dep := &appsv1.Deployment{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, dep); err != nil {
		if apierrors.IsNotFound(err) {
			return in, nil
		}
		return in, err
	}
	if cs := dep.Spec.Template.Spec.Containers; len(cs) > 0 {
		in.Image = cs[0].Image
	}
	if in.Ready = deploymentReady(dep); in.Ready || dep.Spec.Selector == nil {
		return in, nil
	}
	var pods corev1.PodList
	if err := c.List(ctx, &pods, client.InNamespace(ns), client.MatchingLabels(dep.Spec.Selector.MatchLabels)); err != nil {
		return in, err
	}
	in.Problem = podProblem(pods.Items, in.Image)
	return in, nil
}

// deploymentReady: the Deployment's current spec is rolled out, every
// replica is available, and no old replica is left.
func deploymentReady(d *appsv1.Deployment) bool {
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	st := d.Status
	return st.ObservedGeneration == d.Generation && st.UpdatedReplicas == want && st.AvailableReplicas == want && st.Replicas == want
}

// podProblem is why a Pod running image is stuck: the first waiting reason
// of its containers (ImagePullBackOff, CrashLoopBackOff…), or empty.
func podProblem(pods []corev1.Pod, image string) string {
	for _, p := range pods {
		for _, cs := range p.Status.ContainerStatuses {
			if cs.Image == image && cs.State.Waiting != nil && cs.State.Waiting.Reason != "" {
				return cs.State.Waiting.Reason
			}
		}
	}
	return ""
}
