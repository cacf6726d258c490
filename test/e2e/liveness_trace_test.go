package e2e

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// livenessTrace records, from the hub's API, every change of the members'
// Lease renewTime and Cluster availability, with the time since it started;
// a story logs it when it fails (or always, with E2E_TRACE set), to tell a late heartbeat from a hub that
// saw it late.
type livenessTrace struct {
	start time.Time
	stop  context.CancelFunc
	done  chan struct{}

	mu    sync.Mutex
	lines []string
}

// traceLiveness polls the hub every 100 ms until the test ends.
func (f *fleet) traceLiveness(members ...string) *livenessTrace {
	f.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	tr := &livenessTrace{start: time.Now(), stop: cancel, done: make(chan struct{})}
	f.t.Cleanup(func() {
		tr.stop()
		<-tr.done
		if f.t.Failed() || os.Getenv("E2E_TRACE") != "" {
			f.t.Logf("liveness trace (since %s):\n%s", tr.start.Format(time.RFC3339Nano), tr.String())
		}
	})
	go func() {
		defer close(tr.done)
		last := map[string]string{}
		for ctx.Err() == nil {
			// A read must not hang the trace (a request sent while the hub's
			// API server stops can wait until it is gone).
			pollCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
			for _, m := range members {
				var lease coordinationv1.Lease
				key := client.ObjectKey{Namespace: fleetv1alpha1.ClusterNamespace(m), Name: fleetv1alpha1.AgentLease}
				if err := f.hub.Get(pollCtx, key, &lease); err == nil && lease.Spec.RenewTime != nil {
					tr.note(last, m+" lease", "renewTime "+lease.Spec.RenewTime.UTC().Format("15:04:05.000000"))
				}
				var cluster fleetv1alpha1.Cluster
				if err := f.hub.Get(pollCtx, client.ObjectKey{Name: m}, &cluster); err == nil {
					state := string(cluster.Status.Availability)
					if c := meta.FindStatusCondition(cluster.Status.Conditions, fleetv1alpha1.ConditionAvailable); c != nil {
						state += fmt.Sprintf(" (%s: %s, since %s)", c.Reason, c.Message, c.LastTransitionTime.UTC().Format("15:04:05"))
					}
					tr.note(last, m+" cluster", state)
				}
			}
			cancel()
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	return tr
}

// mark records an event of the story itself.
func (tr *livenessTrace) mark(what string) {
	tr.add(what)
}

func (tr *livenessTrace) note(last map[string]string, key, value string) {
	if last[key] == value {
		return
	}
	last[key] = value
	tr.add(key + ": " + value)
}

func (tr *livenessTrace) add(line string) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	now := time.Now()
	tr.lines = append(tr.lines, fmt.Sprintf("%8.3fs %s %s", now.Sub(tr.start).Seconds(), now.UTC().Format("15:04:05.000"), line))
}

func (tr *livenessTrace) String() string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return strings.Join(tr.lines, "\n")
}
