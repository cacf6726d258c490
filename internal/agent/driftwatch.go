package agent

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// Drift watch: between resyncs the agent learns of changes to the objects it
// applied from one metadata-only watch per resource kind on the member,
// selected by the LabelWork label. It keeps no cache of the member: a watch
// starts at a current resourceVersion (a list with limit 1), and each event
// only names a Work to check, through the Work's normal sync. The resync
// stays the safety net for anything a watch misses.

// metadataWatcher is a member that can watch objects' metadata. The API
// server can; the fleet simulator's in-memory member cannot: its agents run
// no watch, and the member tells them itself when a workload's status
// changes (statusNotifier), as a watch event would.
type metadataWatcher interface {
	// resourceOf maps a kind to the resource to watch.
	resourceOf(gvk schema.GroupVersionKind) (schema.GroupVersionResource, error)
	// currentVersion returns a resourceVersion to start watching objects
	// matching selector from.
	currentVersion(ctx context.Context, gvr schema.GroupVersionResource, selector string) (string, error)
	// watchMetadata watches the metadata of objects matching selector,
	// cluster-wide, from resourceVersion rv on.
	watchMetadata(ctx context.Context, gvr schema.GroupVersionResource, selector, rv string) (watch.Interface, error)
}

var _ metadataWatcher = (*apiMember)(nil)

// statusNotifier is a member that tells, by an object's LabelWork value,
// when a workload controller changed that object's status (a Deployment
// became available): what a drift watch sees on a real member as an event
// the agent did not cause. The fleet simulator's in-memory member is one.
type statusNotifier interface {
	// notifyStatus registers f; it is called outside the member's locks.
	notifyStatus(f func(labelValue string))
}

// driftWatchDebounce is how long events on one Work's objects are coalesced
// into one check: an edit that takes several writes is judged once.
const driftWatchDebounce = time.Second

// driftWatchRetry is how often kinds that could not be mapped to a resource
// (a CRD not installed yet) are tried again.
const driftWatchRetry = 30 * time.Second

// driftWatchSelector selects every object the agent applied.
const driftWatchSelector = fleetv1alpha1.LabelWork

// driftWatch runs the watches and turns their events into checks.
type driftWatch struct {
	member metadataWatcher
	// check asks for a look at a Work after a delay (the agent's queue).
	check   func(work string, after time.Duration)
	backoff wait.Backoff

	open     prometheus.Gauge
	requests prometheus.Counter

	mu sync.Mutex
	// kinds are the kinds of each Work's inventory, sorted.
	kinds map[string][]schema.GroupVersionKind
	// works maps a LabelWork value to its Work.
	works map[string]string
	// due are Works an event asked to check.
	due map[string]bool
	// users are the Works holding objects of each watched resource.
	users map[schema.GroupVersionResource][]string
	// changed wakes run when the kinds changed.
	changed chan struct{}
	// since is when the unbroken stream of events of each watched resource
	// began: changes after it are seen (a watch that reconnects resumes
	// where it was; only a new list starts a new stream).
	since map[schema.GroupVersionResource]time.Time
	// last is the resourceVersion of the last event seen for each object.
	last map[watchedObject]string
	// converging are Works waiting for their objects to become healthy: a
	// status update of one of their objects asks for a look (healthDebounce).
	converging map[string]bool
}

// watchedObject identifies an object of a watched resource.
type watchedObject struct {
	gvr             schema.GroupVersionResource
	namespace, name string
}

// maxWatchedObjects bounds the versions remembered (objects deleted while
// a watch lasts are remembered as deleted until it restarts).
const maxWatchedObjects = 100000

// healthDebounce is how long status updates of a converging Work's objects
// are coalesced into one look: a Deployment becoming available writes its
// status a few times within milliseconds.
const healthDebounce = 100 * time.Millisecond

func newDriftWatch(m metadataWatcher, check func(string, time.Duration), registry prometheus.Registerer) (*driftWatch, error) {
	d := &driftWatch{
		member:  m,
		check:   check,
		backoff: wait.Backoff{Duration: time.Second, Factor: 2, Jitter: 0.2, Steps: 1 << 30, Cap: time.Minute},
		open: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "flotilla_agent_drift_watches",
			Help: "Metadata watches open on the member, one per kind of object in the applied Works.",
		}),
		requests: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "flotilla_agent_drift_watch_checks_total",
			Help: "Checks of a Work asked for by a watch event on one of its objects (changed or deleted by someone else).",
		}),
		kinds:   map[string][]schema.GroupVersionKind{},
		works:   map[string]string{},
		due:     map[string]bool{},
		users:   map[schema.GroupVersionResource][]string{},
		changed: make(chan struct{}, 1),
		since:   map[schema.GroupVersionResource]time.Time{},
		last:    map[watchedObject]string{},

		converging: map[string]bool{},
	}
	if err := registry.Register(d.open); err != nil {
		return nil, fmt.Errorf("registering drift watch metrics: %w", err)
	}
	if err := registry.Register(d.requests); err != nil {
		return nil, fmt.Errorf("registering drift watch metrics: %w", err)
	}
	return d, nil
}

// track records the kinds of a Work's inventory; a nil inventory forgets the
// Work. Safe on a nil driftWatch (watches off).
func (d *driftWatch) track(work string, inv inventory) {
	if d == nil {
		return
	}
	kinds := kindsOf(inv)
	d.mu.Lock()
	defer d.mu.Unlock()
	if sameKinds(d.kinds[work], kinds) {
		return
	}
	if len(kinds) == 0 {
		delete(d.kinds, work)
		delete(d.works, fleetv1alpha1.WorkLabelValue(work))
		delete(d.due, work)
		delete(d.converging, work)
	} else {
		d.kinds[work] = kinds
		d.works[fleetv1alpha1.WorkLabelValue(work)] = work
	}
	select {
	case d.changed <- struct{}{}:
	default:
	}
}

// takeDue reports whether an event asked to check work since the last call.
// Safe on a nil driftWatch.
func (d *driftWatch) takeDue(work string) bool {
	if d == nil {
		return false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	due := d.due[work]
	delete(d.due, work)
	return due
}

// setConverging records whether a Work waits for its objects to become
// healthy. Safe on a nil driftWatch.
func (d *driftWatch) setConverging(work string, converging bool) {
	if d == nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if converging {
		d.converging[work] = true
	} else {
		delete(d.converging, work)
	}
}

// unchanged reports whether the object of gvr named namespace/name is known
// to be as it was at resourceVersion rv, read at or after readAt: its
// resource has been watched without a break since before readAt and no event
// since showed it at another version. False when not known (no watch, a
// watch started after the read). Safe on a nil driftWatch.
func (d *driftWatch) unchanged(gvr schema.GroupVersionResource, namespace, name, rv string, readAt time.Time) bool {
	if d == nil || rv == "" || readAt.IsZero() {
		return false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	since, ok := d.since[gvr]
	if !ok || !since.Before(readAt) {
		return false
	}
	last, seen := d.last[watchedObject{gvr, namespace, name}]
	return !seen || last == rv
}

// streamStarted records that gvr's events are seen from now on; a nil
// time forgets the resource (its watch stopped).
func (d *driftWatch) streamStarted(gvr schema.GroupVersionResource, at time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if at.IsZero() {
		delete(d.since, gvr)
		for k := range d.last {
			if k.gvr == gvr {
				delete(d.last, k)
			}
		}
		return
	}
	d.since[gvr] = at
}

// observe records an event's object version, and asks for a look at a
// converging Work whose object's status changed.
func (d *driftWatch) observe(gvr schema.GroupVersionResource, t watch.EventType, obj *metav1.PartialObjectMetadata) {
	key := watchedObject{gvr, obj.Namespace, obj.Name}
	d.mu.Lock()
	if len(d.last) >= maxWatchedObjects {
		// Bounded memory: forget every version, and so know nothing
		// unchanged that was read before now.
		clear(d.last)
		for r := range d.since {
			d.since[r] = time.Now()
		}
	}
	if t == watch.Deleted {
		d.last[key] = "deleted"
	} else {
		d.last[key] = obj.ResourceVersion
	}
	d.mu.Unlock()
	if t == watch.Modified && !ownWrite(obj.ManagedFields) {
		d.statusChanged(obj.Labels[fleetv1alpha1.LabelWork])
	}
}

// statusChanged asks for a look at the Work a LabelWork value names, if it
// is converging: someone else (a workload controller) changed one of its
// objects. observe calls it for a watch event; a member that tells of its
// objects' status changes itself (the fleet simulator's, which cannot be
// watched) calls it directly.
func (d *driftWatch) statusChanged(labelValue string) {
	d.mu.Lock()
	work, known := d.works[labelValue]
	health := known && d.converging[work]
	if health {
		d.due[work] = true
	}
	d.mu.Unlock()
	if health {
		d.check(work, healthDebounce)
	}
}

// request asks for a check of the Work a LabelWork value names, after the
// debounce. Values of Works the agent does not know are ignored.
func (d *driftWatch) request(labelValue string) {
	d.mu.Lock()
	work, ok := d.works[labelValue]
	if ok {
		d.due[work] = true
	}
	d.mu.Unlock()
	if ok {
		d.requests.Inc()
		d.check(work, driftWatchDebounce)
	}
}

// requestAll asks for a check of every Work holding objects of gvr: after a
// gap in its watch, events may have been missed.
func (d *driftWatch) requestAll(gvr schema.GroupVersionResource) {
	d.mu.Lock()
	works := append([]string(nil), d.users[gvr]...)
	for _, w := range works {
		d.due[w] = true
	}
	d.mu.Unlock()
	for _, w := range works {
		d.check(w, driftWatchDebounce)
	}
}

// run starts and stops watches as the kinds in the Works change, until ctx
// is done.
func (d *driftWatch) run(ctx context.Context) {
	log := logr.FromContextOrDiscard(ctx).WithName("driftwatch")
	type running struct {
		cancel context.CancelFunc
		done   chan struct{}
	}
	watches := map[schema.GroupVersionResource]running{}
	defer func() {
		for _, w := range watches {
			w.cancel()
			<-w.done
		}
		d.open.Set(0)
	}()
	retry := time.NewTimer(driftWatchRetry)
	defer retry.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-d.changed:
		case <-retry.C:
		}
		want, unmapped := d.resources(log)
		for gvr, w := range watches {
			if !want[gvr] {
				w.cancel()
				<-w.done
				delete(watches, gvr)
				log.V(1).Info("stopped drift watch", "resource", gvr.String())
			}
		}
		for gvr := range want {
			if _, ok := watches[gvr]; ok {
				continue
			}
			wctx, cancel := context.WithCancel(ctx)
			w := running{cancel: cancel, done: make(chan struct{})}
			watches[gvr] = w
			go func() {
				defer close(w.done)
				d.watch(logr.NewContext(wctx, log.WithValues("resource", gvr.String())), gvr)
			}()
			log.V(1).Info("started drift watch", "resource", gvr.String())
		}
		d.open.Set(float64(len(watches)))
		if unmapped {
			retry.Reset(driftWatchRetry)
		}
	}
}

// resources maps the tracked kinds to the resources to watch, and records
// which Works use each. It reports whether some kind could not be mapped.
func (d *driftWatch) resources(log logr.Logger) (map[schema.GroupVersionResource]bool, bool) {
	d.mu.Lock()
	byKind := map[schema.GroupVersionKind][]string{}
	for work, kinds := range d.kinds {
		for _, k := range kinds {
			byKind[k] = append(byKind[k], work)
		}
	}
	d.mu.Unlock()

	want := map[schema.GroupVersionResource]bool{}
	users := map[schema.GroupVersionResource][]string{}
	unmapped := false
	for gvk, works := range byKind {
		gvr, err := d.member.resourceOf(gvk)
		if err != nil {
			log.V(1).Info("not watching a kind the member does not serve", "kind", gvk.String(), "error", err.Error())
			unmapped = true
			continue
		}
		want[gvr] = true
		users[gvr] = append(users[gvr], works...)
	}
	d.mu.Lock()
	d.users = users
	d.mu.Unlock()
	return want, unmapped
}

// watch keeps one resource watched until ctx is done, reconnecting with
// backoff. A watch the server closes resumes where it was. A resourceVersion
// too old to resume from (410 Gone) starts over at a current one and checks
// every Work holding objects of the resource: changes made in the gap were
// not seen.
func (d *driftWatch) watch(ctx context.Context, gvr schema.GroupVersionResource) {
	log := logr.FromContextOrDiscard(ctx)
	defer d.streamStarted(gvr, time.Time{})
	backoff := d.backoff
	rv, listed := "", false
	for ctx.Err() == nil {
		var err error
		if rv == "" {
			// A new stream: what changed before it is not seen. Stamped
			// before the list, so a read after this time is covered.
			d.streamStarted(gvr, time.Time{})
			listedAt := time.Now()
			rv, err = d.member.currentVersion(ctx, gvr, driftWatchSelector)
			if err == nil {
				d.streamStarted(gvr, listedAt)
			}
			if err == nil && listed {
				d.requestAll(gvr)
			}
			listed = listed || err == nil
		}
		opened := time.Now()
		if err == nil {
			rv, err = d.follow(ctx, gvr, rv)
		}
		switch {
		case ctx.Err() != nil:
			return
		case err == nil && time.Since(opened) >= minHealthyWatch:
			backoff = d.backoff // the server closed a healthy watch: resume at once
			continue
		case apierrors.IsResourceExpired(err) || apierrors.IsGone(err):
			log.V(1).Info("drift watch expired; starting over at the current version")
			rv = ""
			continue
		case err != nil:
			log.V(1).Info("drift watch failed; retrying", "error", err.Error())
		}
		// Failed, or closed at once (a proxy cutting watches): wait.
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff.Step()):
		}
	}
}

// minHealthyWatch is how long a watch must have lasted for its closing to
// be the server's routine timeout rather than a failure.
const minHealthyWatch = 10 * time.Second

// follow watches gvr from rv until the watch ends and returns the last
// resourceVersion seen. A watch that ends without error returns nil.
func (d *driftWatch) follow(ctx context.Context, gvr schema.GroupVersionResource, rv string) (string, error) {
	w, err := d.member.watchMetadata(ctx, gvr, driftWatchSelector, rv)
	if err != nil {
		return rv, err
	}
	defer w.Stop()
	for {
		select {
		case <-ctx.Done():
			return rv, ctx.Err()
		case ev, ok := <-w.ResultChan():
			if !ok {
				return rv, nil
			}
			if ev.Type == watch.Error {
				return rv, apierrors.FromObject(ev.Object)
			}
			obj, ok := ev.Object.(*metav1.PartialObjectMetadata)
			if !ok {
				return rv, fmt.Errorf("unexpected %T in a metadata watch", ev.Object)
			}
			if ev.Type == watch.Bookmark {
				rv = obj.ResourceVersion
				continue
			}
			rv = obj.ResourceVersion
			d.observe(gvr, ev.Type, obj)
			if wantsCheck(ev.Type, obj) {
				d.request(obj.Labels[fleetv1alpha1.LabelWork])
			}
		}
	}
}

// wantsCheck reports whether an event may show drift: an object deleted, or
// changed by someone other than the agent. Changes the agent applied itself
// (the newest managedFields entry is its apply) and status updates are not
// drift; watching them would only cost checks. Added objects are the agent's
// own creations.
func wantsCheck(t watch.EventType, obj *metav1.PartialObjectMetadata) bool {
	switch t {
	case watch.Deleted:
		return true
	case watch.Modified:
		return !ownOrStatusWrite(obj.ManagedFields)
	}
	return false
}

// ownOrStatusWrite reports whether every newest managedFields entry is the
// agent's apply or a status update. Times have a resolution of a second: a
// change by someone else within the second of the agent's apply counts as
// someone else's.
func ownOrStatusWrite(entries []metav1.ManagedFieldsEntry) bool {
	return newestAre(entries, func(e metav1.ManagedFieldsEntry) bool { return ownApply(e) || e.Subresource == "status" })
}

// ownWrite reports whether the newest managedFields entries are the
// agent's apply alone.
func ownWrite(entries []metav1.ManagedFieldsEntry) bool {
	return newestAre(entries, ownApply)
}

func ownApply(e metav1.ManagedFieldsEntry) bool {
	return e.Manager == fleetv1alpha1.FieldManager && e.Operation == metav1.ManagedFieldsOperationApply
}

// newestAre reports whether every entry of the newest time satisfies ok;
// false when no entry has a time.
func newestAre(entries []metav1.ManagedFieldsEntry, ok func(metav1.ManagedFieldsEntry) bool) bool {
	var newest time.Time
	for _, e := range entries {
		if e.Time != nil && e.Time.After(newest) {
			newest = e.Time.Time
		}
	}
	if newest.IsZero() {
		return false
	}
	for _, e := range entries {
		if e.Time != nil && e.Time.Time.Equal(newest) && !ok(e) {
			return false
		}
	}
	return true
}

// kindsOf returns the kinds of an inventory's objects, sorted, each once.
func kindsOf(inv inventory) []schema.GroupVersionKind {
	seen := map[schema.GroupVersionKind]bool{}
	var out []schema.GroupVersionKind
	for _, r := range inv {
		if k := r.gvk(); !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}

func sameKinds(a, b []schema.GroupVersionKind) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// resourceOf maps a kind to its resource, at the version applied or the
// preferred one.
func (m *apiMember) resourceOf(gvk schema.GroupVersionKind) (schema.GroupVersionResource, error) {
	mapping, err := m.mapping(gvk, true)
	if err != nil {
		return schema.GroupVersionResource{}, err
	}
	return mapping.Resource, nil
}

func (m *apiMember) currentVersion(ctx context.Context, gvr schema.GroupVersionResource, selector string) (string, error) {
	// Limit 1: only the list's resourceVersion is wanted, not its items.
	list, err := m.metadata.Resource(gvr).List(ctx, metav1.ListOptions{LabelSelector: selector, Limit: 1})
	if err != nil {
		return "", fmt.Errorf("listing %s: %w", gvr.GroupResource(), err)
	}
	return list.ResourceVersion, nil
}

func (m *apiMember) watchMetadata(ctx context.Context, gvr schema.GroupVersionResource, selector, rv string) (watch.Interface, error) {
	if m.watcher == nil {
		return nil, errors.New("member has no watch client")
	}
	w, err := m.watcher.Resource(gvr).Watch(ctx, metav1.ListOptions{LabelSelector: selector, ResourceVersion: rv, AllowWatchBookmarks: true})
	if err != nil {
		return nil, fmt.Errorf("watching %s: %w", gvr.GroupResource(), err)
	}
	return w, nil
}
