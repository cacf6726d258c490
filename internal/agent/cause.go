package agent

import (
	"context"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/health"
)

// explain looks for the cause of a resource that is not healthy (health.CauseOf)
// in the live object and, for a workload, in the Pods it owns, and folds it
// into the resource's health: a Failing cause (ImagePullBackOff,
// CrashLoopBackOff, Unschedulable, a failed Job…) makes it Failed now, with
// the cause as its message, rather than InProgress until a progress deadline;
// a Waiting one adds what it waits for to the message.
//
// It costs the member at most one request, a List of at most health.MaxPods
// Pods by the workload's selector, and only for a workload that is not
// Current and whose own status says nothing decisive (a Job's Failed
// condition does). The agent keeps no cache of the member's Pods: a List per
// look at an unsettled Work, backing off like the look itself, is cheaper
// than watching every Pod of the cluster.
func (a *applier) explain(ctx context.Context, r *resourceResult, live *unstructured.Unstructured) {
	r.cause = nil
	if live == nil || r.health.Status == fleetv1alpha1.HealthCurrent {
		return
	}
	c, ok := health.CauseOf(live, nil)
	if !ok || c.Severity != fleetv1alpha1.CauseFailing {
		if sel, owns := health.PodSelector(live); owns {
			pl, canList := a.member.(podLister)
			if !canList {
				return
			}
			a.metrics.podLists.Inc()
			pods, err := pl.listPods(ctx, live.GetNamespace(), sel, health.MaxPods)
			if err != nil {
				logr.FromContextOrDiscard(ctx).V(1).Info("listing pods for the cause of an unhealthy resource",
					"resource", r.ref.String(), "error", errorMessage(err))
				return
			}
			c, ok = health.CauseOf(live, pods)
		}
	}
	if !ok {
		return
	}
	r.cause = &c
	r.health = withCause(r.health, c)
}

// withCause folds a cause into a health judgement: Failed with the cause's
// detail for a Failing cause; for a Waiting one the judgement stands and
// says what it waits for.
func withCause(h health.Result, c health.Cause) health.Result {
	if c.Severity == fleetv1alpha1.CauseFailing {
		return health.Result{Status: fleetv1alpha1.HealthFailed, Message: c.Reason + ": " + c.Detail()}
	}
	if h.Message == "" {
		return health.Result{Status: h.Status, Message: c.String()}
	}
	return health.Result{Status: h.Status, Message: h.Message + "; " + c.String()}
}
