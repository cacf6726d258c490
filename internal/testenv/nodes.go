package testenv

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// kwokNodeAnnotation marks the nodes kwok plays; kwok is started to manage only these.
const kwokNodeAnnotation = "kwok.x-k8s.io/node"

// NodeName names the i-th fake node of a member.
func NodeName(i int) string { return fmt.Sprintf("kwok-node-%d", i) }

func createFakeNodes(ctx context.Context, client kubernetes.Interface, n int) error {
	for i := range n {
		name := NodeName(i)
		node := &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{
				Name:        name,
				Annotations: map[string]string{kwokNodeAnnotation: "fake"},
				Labels: map[string]string{
					"kubernetes.io/hostname": name,
					"kubernetes.io/os":       "linux",
					"kubernetes.io/arch":     "amd64",
					"type":                   "kwok",
				},
			},
		}
		if _, err := client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating node %s: %w", name, err)
		}
	}
	return nil
}

// waitNodesSchedulable waits until n nodes are Ready and the node lifecycle
// controller has lifted their not-ready taint, so Pods can be scheduled.
func (c *ControlPlane) waitNodesSchedulable(ctx context.Context, client kubernetes.Interface, n int) error {
	var last string
	for {
		for _, p := range c.processes() {
			if done, why := p.exited(); done {
				return fmt.Errorf("%s %w; last log lines:\n%s", p.name, why, p.tailLog(20))
			}
		}
		nodes, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err == nil {
			ready := 0
			for i := range nodes.Items {
				if nodeSchedulable(&nodes.Items[i]) {
					ready++
				}
			}
			if ready >= n {
				return nil
			}
			last = fmt.Sprintf("%d of %d nodes ready and untainted", ready, n)
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for kwok nodes: %w (%s)", ctx.Err(), last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func nodeSchedulable(node *corev1.Node) bool {
	for _, t := range node.Spec.Taints {
		if t.Effect == corev1.TaintEffectNoSchedule || t.Effect == corev1.TaintEffectNoExecute {
			return false
		}
	}
	for _, cond := range node.Status.Conditions {
		if cond.Type == corev1.NodeReady {
			return cond.Status == corev1.ConditionTrue
		}
	}
	return false
}
