package cluster

import (
	"sync"
	"time"
)

// A member's Kubernetes version changes a few times a year, but its agent
// may write a new one on its Lease at every renewal, and each change the
// hub records places every instance of the hub again and renders each
// instance on that cluster again (templates may read the version): one
// agent's Lease writes would so hold the render workers every team shares.
// The hub therefore records a change of a cluster's version at most once
// per heartbeat status resolution; the version reported meanwhile waits
// for it. The first version of a cluster is recorded at once.

// versionToRecord returns the kubernetesVersion a Cluster's status should
// hold at now: recorded is the one it holds, reported the valid one on the
// agent's Lease, lastChange when this hub last changed it (zero: not since
// this hub started), every the resolution. wait is how long the reported
// version waits to be recorded; zero when it is recorded now.
func versionToRecord(recorded, reported string, lastChange, now time.Time, every time.Duration) (version string, wait time.Duration) {
	if reported == recorded || recorded == "" || lastChange.IsZero() {
		return reported, 0
	}
	if since := now.Sub(lastChange); since < every {
		return recorded, every - since
	}
	return reported, 0
}

// versionChanges is when this hub last changed each cluster's recorded
// kubernetesVersion, in memory (a new leader starts afresh). It is safe for
// concurrent use.
type versionChanges struct {
	mu sync.Mutex
	at map[string]time.Time
}

// last is when cluster's version was last changed; zero when not by this hub.
func (v *versionChanges) last(cluster string) time.Time {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.at[cluster]
}

// record notes that cluster's version changed at now.
func (v *versionChanges) record(cluster string, now time.Time) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.at == nil {
		v.at = map[string]time.Time{}
	}
	v.at[cluster] = now
}

// forget drops what was noted of a cluster that is gone.
func (v *versionChanges) forget(cluster string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	delete(v.at, cluster)
}
