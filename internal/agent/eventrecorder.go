package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/flowcontrol"
	kclock "k8s.io/utils/clock"
	"k8s.io/utils/lru"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// eventRecorder records core/v1 Events on Works, as client-go's
// tools/record broadcaster and recorder did for the agent: the same Event
// objects (named <work>.<hex nanoseconds>, source and reporting controller
// flotilla-agent, instance the cluster), correlated the same way, written
// the same way. It is a port of the parts of tools/record the agent used,
// without that package's dependency on strategicpatch (and through it
// kube-openapi and its OpenAPI and YAML libraries), which cost an idle agent
// more than 1 MiB of resident memory (docs/benchmarks.md).
//
// Correlation, per Work (client-go's defaults):
//   - the same Event again (type, reason and message) within the cache's
//     reach updates the Event written before: count+1 and lastTimestamp, in a
//     patch;
//   - the 10th distinct message of one reason within 10 minutes and those
//     after it are combined into one Event, "(combined from similar events): "
//     and the latest message, counted the same way;
//   - at most 25 Events in a burst, then one every 5 minutes, per Work and
//     type: a flapping object cannot flood the hub.
//
// Events are queued (at most 1000, the rest dropped and logged) and written
// one at a time; a write that fails for a reason other than the API
// server's refusal is retried up to 12 times, 10 s apart.
type eventRecorder struct {
	sink   eventWriter
	source corev1.EventSource
	clock  kclock.PassiveClock
	log    logr.Logger
	sleep  time.Duration

	queue      chan *corev1.Event
	correlator *eventCorrelator
	ctx        context.Context
	cancel     context.CancelFunc
	done       chan struct{}
}

// eventWriter writes Events: eventSink on the hub, a fake in tests.
type eventWriter interface {
	Create(event *corev1.Event) (*corev1.Event, error)
	Patch(event *corev1.Event, data []byte) (*corev1.Event, error)
}

const (
	maxQueuedEvents  = 1000
	maxTriesPerEvent = 12
	eventRetrySleep  = 10 * time.Second
	eventCacheSize   = 4096
	// Similar Events (one reason, several messages) are combined from the
	// aggregateMaxEvents-th within aggregateInterval.
	aggregateMaxEvents = 10
	aggregateInterval  = 600 * time.Second
	// The spam filter: a token bucket per Work and type.
	eventSpamBurst = 25
	eventSpamQPS   = 1. / 300.
)

// newEventRecorderFor starts a recorder writing to sink until ctx is done
// or stop is called.
func newEventRecorderFor(ctx context.Context, sink eventWriter, source corev1.EventSource, clk kclock.PassiveClock) *eventRecorder {
	ctx, cancel := context.WithCancel(ctx)
	r := &eventRecorder{
		sink: sink, source: source, clock: clk, log: logr.FromContextOrDiscard(ctx), sleep: eventRetrySleep,
		queue: make(chan *corev1.Event, maxQueuedEvents), correlator: newEventCorrelator(clk),
		ctx: ctx, cancel: cancel, done: make(chan struct{}),
	}
	go r.run()
	return r
}

// stop ends the recorder; queued Events not yet written are dropped.
func (r *eventRecorder) stop() {
	r.cancel()
	<-r.done
}

// Event records an Event on work.
func (r *eventRecorder) Event(work *fleetv1alpha1.Work, eventType, reason, message string) {
	if eventType != corev1.EventTypeNormal && eventType != corev1.EventTypeWarning {
		r.log.Error(nil, "Unsupported event type", "eventType", eventType)
		return
	}
	event := r.makeEvent(work, eventType, reason, message)
	select {
	case r.queue <- event:
	default:
		r.log.Error(nil, "Unable to record event: too many queued events, dropped event", "event", event)
	}
}

// Eventf records an Event on work with a formatted message.
func (r *eventRecorder) Eventf(work *fleetv1alpha1.Work, eventType, reason, format string, args ...any) {
	r.Event(work, eventType, reason, fmt.Sprintf(format, args...))
}

// makeEvent is the Event client-go's recorder makes for an object.
func (r *eventRecorder) makeEvent(work *fleetv1alpha1.Work, eventType, reason, message string) *corev1.Event {
	t := metav1.Time{Time: r.clock.Now()}
	namespace := work.Namespace
	if namespace == "" {
		namespace = metav1.NamespaceDefault
	}
	return &corev1.Event{
		ObjectMeta: metav1.ObjectMeta{Name: eventName(work.Name, t.UnixNano()), Namespace: namespace},
		InvolvedObject: corev1.ObjectReference{
			Kind: "Work", APIVersion: fleetv1alpha1.GroupVersion.String(),
			Name: work.Name, Namespace: work.Namespace, UID: work.UID, ResourceVersion: work.ResourceVersion,
		},
		Reason: reason, Message: message, Type: eventType,
		FirstTimestamp: t, LastTimestamp: t, Count: 1,
		Source: r.source, ReportingController: r.source.Component, ReportingInstance: r.source.Host,
	}
}

// eventName is <name>.<hex nanoseconds>, or a UUID when that is not a valid
// object name.
func eventName(name string, unixNano int64) string {
	n := fmt.Sprintf("%s.%x", name, unixNano)
	if len(validation.IsDNS1123Subdomain(n)) > 0 {
		return string(uuid.NewUUID())
	}
	return n
}

// run writes queued Events one at a time.
func (r *eventRecorder) run() {
	defer close(r.done)
	for {
		select {
		case <-r.ctx.Done():
			return
		case event := <-r.queue:
			r.write(event)
		}
	}
}

// write correlates an Event and writes it, retrying transient failures.
func (r *eventRecorder) write(event *corev1.Event) {
	result := r.correlator.correlate(event)
	if result.skip {
		return
	}
	for tries := 1; ; tries++ {
		if r.writeOnce(result.event, result.patch) {
			return
		}
		if tries >= maxTriesPerEvent {
			r.log.Error(nil, "Unable to write event (retry limit exceeded!)", "event", event)
			return
		}
		delay := r.sleep
		if tries == 1 {
			delay = time.Duration(float64(delay) * rand.Float64()) //nolint:gosec // jitter, not a secret
		}
		select {
		case <-r.ctx.Done():
			r.log.Error(nil, "Unable to write event (broadcaster is shut down)", "event", event)
			return
		case <-time.After(delay):
		}
	}
}

// writeOnce writes an Event (patching the one written before when it is
// counted again) and reports whether it is done with it: written, or
// refused by the API server (not retried).
func (r *eventRecorder) writeOnce(event *corev1.Event, patch []byte) bool {
	var (
		written *corev1.Event
		err     error
	)
	update := event.Count > 1
	if update {
		written, err = r.sink.Patch(event, patch)
	}
	if !update || apierrors.IsNotFound(err) {
		event.ResourceVersion = ""
		written, err = r.sink.Create(event)
	}
	if err == nil {
		r.correlator.updateState(written)
		return true
	}
	var construction *rest.RequestConstructionError
	var status *apierrors.StatusError
	switch {
	case errors.As(err, &construction):
		r.log.Error(err, "Unable to construct event (will not retry!)", "event", event)
		return true
	case errors.As(err, &status):
		if apierrors.IsAlreadyExists(err) || apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
			r.log.V(5).Info("Server rejected event (will not retry!)", "event", event, "err", err)
		} else {
			r.log.Error(err, "Server rejected event (will not retry!)", "event", event)
		}
		return true
	}
	r.log.Error(err, "Unable to write event (may retry after sleeping)", "event", event)
	return false
}

// eventCorrelator is client-go's EventCorrelator with its default options:
// aggregation of similar Events, counting of repeated ones, spam filter.
type eventCorrelator struct {
	clock kclock.PassiveClock

	mu         sync.Mutex
	aggregates *lru.Cache // aggregate key → aggregateRecord
	observed   *lru.Cache // event key → eventLog
	spam       *lru.Cache // spam key → flowcontrol.PassiveRateLimiter
}

type aggregateRecord struct {
	localKeys     sets.Set[string]
	lastTimestamp metav1.Time
}

type eventLog struct {
	count           int32
	firstTimestamp  metav1.Time
	name            string
	resourceVersion string
}

type correlation struct {
	event *corev1.Event
	patch []byte
	skip  bool
}

func newEventCorrelator(clk kclock.PassiveClock) *eventCorrelator {
	return &eventCorrelator{clock: clk, aggregates: lru.New(eventCacheSize), observed: lru.New(eventCacheSize), spam: lru.New(eventCacheSize)}
}

// correlate aggregates, counts and filters an Event; the result is the Event
// to write (with the patch that updates the one written before, when it is
// counted again), or skip.
func (c *eventCorrelator) correlate(event *corev1.Event) correlation {
	c.mu.Lock()
	defer c.mu.Unlock()
	aggregated, key := c.aggregate(event)
	observed, patch := c.observe(aggregated, key)
	if c.filtered(observed) {
		return correlation{skip: true}
	}
	return correlation{event: observed, patch: patch}
}

// aggregate returns the Event and its key, or, from the aggregateMaxEvents-th
// distinct message of one reason within aggregateInterval, an Event that
// stands for all of them, and the aggregate key.
func (c *eventCorrelator) aggregate(event *corev1.Event) (*corev1.Event, string) {
	now := metav1.NewTime(c.clock.Now())
	aggregateKey := strings.Join([]string{
		event.Source.Component, event.Source.Host, event.InvolvedObject.Kind, event.InvolvedObject.Namespace,
		event.InvolvedObject.Name, string(event.InvolvedObject.UID), event.InvolvedObject.APIVersion,
		event.Type, event.Reason, event.ReportingController, event.ReportingInstance,
	}, "")
	var record aggregateRecord
	if v, ok := c.aggregates.Get(aggregateKey); ok {
		record = v.(aggregateRecord)
	}
	if now.Sub(record.lastTimestamp.Time) > aggregateInterval {
		record = aggregateRecord{localKeys: sets.New[string]()}
	}
	record.localKeys.Insert(event.Message)
	record.lastTimestamp = now
	c.aggregates.Add(aggregateKey, record)
	if record.localKeys.Len() < aggregateMaxEvents {
		return event, eventKey(event)
	}
	record.localKeys.PopAny()
	return &corev1.Event{
		ObjectMeta: metav1.ObjectMeta{
			Name:      fmt.Sprintf("%v.%x", event.InvolvedObject.Name, now.UnixNano()),
			Namespace: event.Namespace,
		},
		Count: 1, FirstTimestamp: now, LastTimestamp: now,
		InvolvedObject: event.InvolvedObject,
		Message:        "(combined from similar events): " + event.Message,
		Type:           event.Type, Reason: event.Reason, Source: event.Source,
	}, aggregateKey
}

// observe counts an Event seen before under key: the Event written then,
// count+1, and the patch that says so (count, lastTimestamp, message: the
// strategic merge patch client-go computes, for these scalar fields).
func (c *eventCorrelator) observe(e *corev1.Event, key string) (*corev1.Event, []byte) {
	event := *e
	var patch []byte
	if v, ok := c.observed.Get(key); ok {
		last := v.(eventLog)
		event.Name, event.ResourceVersion = last.name, last.resourceVersion
		event.FirstTimestamp, event.Count = last.firstTimestamp, last.count+1
		patch, _ = json.Marshal(map[string]any{"count": event.Count, "lastTimestamp": event.LastTimestamp, "message": event.Message})
	}
	c.observed.Add(key, eventLog{count: event.Count, firstTimestamp: event.FirstTimestamp, name: event.Name, resourceVersion: event.ResourceVersion})
	return &event, patch
}

// filtered reports whether an Event goes over its Work's spam budget.
func (c *eventCorrelator) filtered(event *corev1.Event) bool {
	key := strings.Join([]string{
		event.Source.Component, event.Source.Host, event.InvolvedObject.Kind, event.InvolvedObject.Namespace,
		event.InvolvedObject.Name, string(event.InvolvedObject.UID), event.InvolvedObject.APIVersion, event.Type,
	}, "")
	var limiter flowcontrol.PassiveRateLimiter
	if v, ok := c.spam.Get(key); ok {
		limiter = v.(flowcontrol.PassiveRateLimiter)
	} else {
		limiter = flowcontrol.NewTokenBucketPassiveRateLimiterWithClock(eventSpamQPS, eventSpamBurst, c.clock)
	}
	c.spam.Add(key, limiter)
	return !limiter.TryAccept()
}

// updateState records the Event as the API server stored it, so that the
// next of its kind patches it.
func (c *eventCorrelator) updateState(event *corev1.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.observed.Add(eventKey(event), eventLog{count: event.Count, firstTimestamp: event.FirstTimestamp, name: event.Name, resourceVersion: event.ResourceVersion})
}

// eventKey identifies an Event: everything but its name and times.
func eventKey(event *corev1.Event) string {
	return strings.Join([]string{
		event.Source.Component, event.Source.Host, event.InvolvedObject.Kind, event.InvolvedObject.Namespace,
		event.InvolvedObject.Name, event.InvolvedObject.FieldPath, string(event.InvolvedObject.UID),
		event.InvolvedObject.APIVersion, event.Type, event.Reason, event.Message,
	}, "")
}
