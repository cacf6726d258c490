package agent

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/agent/checks"
	"github.com/flotilla-dev/flotilla/internal/agent/plan"
	"github.com/flotilla-dev/flotilla/internal/measure"
	"github.com/flotilla-dev/flotilla/internal/verify"
)

// checker measures a Work's verification checks on the member: metric
// queries and HTTP requests from inside the agent, test Jobs on the member
// through the dynamic client (no typed clientset in the agent's build).
// What is due, what a result does to a check's state and what is reported
// is decided in internal/agent/checks.
type checker struct {
	dynamic dynamic.Interface
	// cluster is the member's name: a metric condition's `clusters`.
	cluster string

	// conditions are the compiled conditions of the checks measured so
	// far, by kind and source: a check measured every interval is compiled
	// once, not at every measurement (parsing and type-checking cost more
	// CPU and garbage than the evaluation). Bounded: emptied when full.
	mu         sync.Mutex
	conditions map[conditionKey]*verify.Condition
}

type conditionKey struct {
	kind   verify.Kind
	source string
}

// maxConditions bounds the compiled conditions kept.
const maxConditions = 256

// compile returns the compiled condition of a check of kind, compiling it on
// first use. Compile errors are not kept: an invalid condition holds its
// check at once (checks.Result.Permanent).
func (c *checker) compile(kind verify.Kind, source string) (*verify.Condition, error) {
	key := conditionKey{kind, source}
	c.mu.Lock()
	cond, ok := c.conditions[key]
	c.mu.Unlock()
	if ok {
		return cond, nil
	}
	cond, err := verify.Compile(kind, source)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conditions == nil || len(c.conditions) >= maxConditions {
		c.conditions = map[conditionKey]*verify.Condition{}
	}
	c.conditions[key] = cond
	return cond, nil
}

var secretsResource = schema.GroupVersionResource{Version: "v1", Resource: "secrets"}

// maxQueryTime bounds one metric query.
const maxQueryTime = 30 * time.Second

// runChecks measures the Work's checks that are due (in one look, so that
// checks due together cost one status write), keeps their states in the
// Work's local record (a restart, or an outage of the hub, loses no count)
// and returns when a check is due next; zero when none. Status reports the
// states (finish).
func (a *agent) runChecks(ctx context.Context, st *workState, desired, hubWork *fleetv1alpha1.Work, now time.Time) time.Time {
	if a.checker == nil || st == nil || st.last == nil || desired == nil {
		return time.Time{}
	}
	rec := st.record
	if !st.checksLoaded {
		// After a lost state directory, the hub's copy of the states.
		st.checksLoaded = true
		if len(rec.Checks) == 0 && hubWork != nil && len(hubWork.Status.Checks) > 0 {
			rec.Checks = append([]fleetv1alpha1.WorkCheckStatus(nil), hubWork.Status.DeepCopy().Checks...)
		}
	}
	if len(desired.Spec.Checks) == 0 && len(rec.Checks) == 0 && len(rec.CheckJobs) == 0 {
		return time.Time{}
	}
	// Both revisions: an instance Rollout's check is about its instance revision.
	applied := st.last.revision == desired.Spec.Revision && st.last.instanceRevision == desired.Spec.InstanceRevision &&
		st.last.pass.complete()
	l := checks.Look{
		Now: now, Work: desired.Name, Revision: desired.Spec.Revision,
		Applied: applied, AppliedAt: st.last.at,
		Healthy:  applied && plan.Healthy(outcomes(st.last.pass.resources)),
		Instance: desired.Spec.Subject.Instance != nil, Scope: desired.Spec.Scope,
		Checks: desired.Spec.Checks, States: rec.Checks, Jobs: rec.CheckJobs,
	}
	log := logr.FromContextOrDiscard(ctx)
	b := checks.Begin(l)
	for _, j := range b.Cleanup {
		if err := a.checker.deleteJob(ctx, j); err != nil {
			log.Error(err, "deleting test Job; retrying at the next look", "check", j.Check, "job", j.String())
			continue
		}
		log.V(1).Info("deleted test Job", "check", j.Check, "job", j.String())
		a.forgetJob(ctx, st, j)
	}

	results := make([]checks.Result, len(b.Tasks))
	var wg sync.WaitGroup
	for i, t := range b.Tasks {
		switch {
		case t.Refused != "":
			results[i] = checks.Refuse(t, now)
		case t.Job != nil:
			// One at a time: they update the record.
			results[i] = a.measureJob(ctx, st, t, now)
		default:
			wg.Go(func() { results[i] = a.checker.measure(ctx, t, now) })
		}
	}
	wg.Wait()
	for i, r := range results {
		if r.Measurement != nil {
			a.metrics.checkMeasurements.WithLabelValues(strings.ToLower(string(b.Tasks[i].Kind)), strings.ToLower(string(r.Measurement.Outcome))).Inc()
		}
	}

	e := checks.End(l, b, results)
	if e.Changed {
		logTransitions(log, rec.Checks, e.States)
		rec.Checks = e.States
		if err := a.store.save(rec); err != nil {
			log.Error(err, "saving check states")
		}
	}
	return e.NextLook
}

// logTransitions logs each check whose verdict (without a window) changed,
// and each measurement at V(1).
func logTransitions(log logr.Logger, before, after []fleetv1alpha1.WorkCheckStatus) {
	prev := map[checks.Key]fleetv1alpha1.WorkCheckStatus{}
	for _, s := range before {
		prev[checks.StateKey(s)] = s
	}
	for _, s := range after {
		p, known := prev[checks.StateKey(s)]
		log := log.WithValues("rollout", s.Rollout, "check", s.Name)
		if !known || p.Run != s.Run || p.Revision != s.Revision {
			log.Info("check started", "run", s.Run, "revision", s.Revision)
		}
		if s.Last != nil && (!known || p.Measurements != s.Measurements) {
			log.V(1).Info("check measured", "outcome", s.Last.Outcome, "value", s.Last.Value, "message", s.Last.Message)
		}
		if s.Decisive != nil && (!known || p.Decisive == nil) {
			log.Info("check settled", "run", s.Run, "revision", s.Revision,
				"outcome", s.Decisive.Outcome, "value", s.Decisive.Value, "message", s.Decisive.Message)
		}
	}
}

// measure takes one measurement of a metric or HTTP check.
func (c *checker) measure(ctx context.Context, t checks.Task, now time.Time) checks.Result {
	res := t.Result()
	cond, err := c.compile(t.Kind, t.Check.Condition)
	if err != nil {
		res.Permanent = true
		res.Measurement = &verify.Measurement{At: now, Outcome: verify.Inconclusive, Message: "invalid condition: " + err.Error()}
		return res
	}
	creds, err := c.credentials(ctx, checks.CredentialsRef(t.Check))
	if err != nil {
		res.Measurement = &verify.Measurement{At: now, Outcome: verify.Inconclusive, Message: err.Error()}
		return res
	}
	var m verify.Measurement
	switch t.Kind {
	case verify.KindMetric:
		qctx, cancel := context.WithTimeout(ctx, min(t.Policy.Interval, maxQueryTime))
		defer cancel()
		m = measure.Metric(qctx, &measure.Prometheus{URL: t.Check.Metric.Address, Credentials: creds}, cond, t.Check.Metric.Query, []string{c.cluster}, now)
	case verify.KindHTTP:
		m = measure.HTTP(ctx, &measure.HTTPCheck{URL: t.Check.HTTP.URL, Method: t.Check.HTTP.Method, Credentials: creds,
			Timeout: checks.HTTPTimeout(t.Check)}, cond, now)
	default:
		m = verify.Measurement{At: now, Outcome: verify.Inconclusive, Message: fmt.Sprintf("the agent does not measure %s checks", t.Kind)}
	}
	res.Measurement = &m
	return res
}

// credentials reads a check's Secret from the member's platform namespace:
// `token`, or `username` and `password`. Its content never reaches an error,
// a log or the status.
func (c *checker) credentials(ctx context.Context, ref *fleetv1alpha1.SecretReference) (measure.Credentials, error) {
	if ref == nil {
		return measure.Credentials{}, nil
	}
	ns := fleetv1alpha1.PlatformNamespace // checks.Begin refuses any other
	secret, err := c.dynamic.Resource(secretsResource).Namespace(ns).Get(ctx, ref.Name, metav1.GetOptions{})
	if err != nil {
		return measure.Credentials{}, fmt.Errorf("reading the credentials Secret %s/%s: %s", ns, ref.Name, errorMessage(err))
	}
	data, _, _ := unstructured.NestedStringMap(secret.Object, "data")
	value := func(key string) (string, error) {
		raw, err := base64.StdEncoding.DecodeString(data[key])
		if err != nil {
			return "", fmt.Errorf("the credentials Secret %s/%s: key %s is not base64", ns, ref.Name, key)
		}
		return string(raw), nil
	}
	var creds measure.Credentials
	if creds.BearerToken, err = value("token"); err != nil {
		return measure.Credentials{}, err
	}
	if creds.Username, err = value("username"); err != nil {
		return measure.Credentials{}, err
	}
	if creds.Password, err = value("password"); err != nil {
		return measure.Credentials{}, err
	}
	if creds.BearerToken == "" && creds.Username == "" && creds.Password == "" {
		return measure.Credentials{}, fmt.Errorf("the credentials Secret %s/%s has neither `token` nor `username` and `password`", ns, ref.Name)
	}
	return creds, nil
}

// measureJob advances a Job check's measurement by one step: create its Job
// (recorded in the Work's record first, its UID right after, as with the
// Work's objects), wait for it, or judge it and delete it.
func (a *agent) measureJob(ctx context.Context, st *workState, t checks.Task, now time.Time) checks.Result {
	log := logr.FromContextOrDiscard(ctx).WithValues("rollout", t.Check.Rollout, "check", t.Check.Name, "job", t.Job.String())
	res := t.Result()
	inconclusive := func(msg string, permanent bool) checks.Result {
		res.Permanent = permanent
		res.Measurement = &verify.Measurement{At: now, Outcome: verify.Inconclusive, Message: msg}
		return res
	}
	cond, err := a.checker.compile(verify.KindJob, t.Check.Condition)
	if err != nil {
		return inconclusive("invalid condition: "+err.Error(), true)
	}
	timeout := checks.JobTimeout(t.Check)
	job, err := measure.NewJob(t.Job.Namespace, t.Job.Name, t.Labels, t.Check.Job.Template.Raw, timeout)
	if err != nil {
		return inconclusive("invalid Job template: "+err.Error(), true)
	}
	recorded := recordedJob(st.record, *t.Job)
	jobs := a.checker.dynamic.Resource(measure.JobsResource).Namespace(t.Job.Namespace)
	live, err := jobs.Get(ctx, t.Job.Name, metav1.GetOptions{})
	obs := checks.JobObservation{}
	switch {
	case apierrors.IsNotFound(err):
		if recorded != nil && recorded.UID != "" {
			log.Info("test Job gone before it was judged; creating it again")
		}
	case err != nil:
		return inconclusive(fmt.Sprintf("reading test Job %s: %s", t.Job, errorMessage(err)), false)
	default:
		switch {
		case recorded == nil || (recorded.UID != "" && recorded.UID != string(live.GetUID())):
			// Someone else's Job under the agent's name: never judged (it
			// could pass for the test) nor deleted.
			return inconclusive(fmt.Sprintf("a Job %s exists that the agent did not create; left untouched", t.Job), false)
		case recorded.UID == "":
			// Created just before a restart: the record says the agent was creating it.
			a.recordJob(ctx, st, checks.JobRef{Check: t.Job.Check, Namespace: t.Job.Namespace, Name: t.Job.Name, UID: string(live.GetUID())})
		}
		obs.Exists, obs.Created = true, live.GetCreationTimestamp().Time
		obs.Done, obs.Succeeded, obs.Failure = measure.JobFinished(live)
	}
	step, poll := checks.ObserveJob(obs, timeout, now)
	switch step {
	case checks.CreateJob:
		ref := *t.Job
		a.recordJob(ctx, st, ref) // before it exists: a crash leaves no Job the agent does not know of
		created, err := jobs.Create(ctx, job, metav1.CreateOptions{})
		if err != nil {
			a.forgetJob(ctx, st, ref)
			return inconclusive(fmt.Sprintf("creating test Job %s: %s", t.Job, errorMessage(err)), false)
		}
		ref.UID = string(created.GetUID())
		a.recordJob(ctx, st, ref)
		log.Info("created test Job")
		res.PollAfter = poll
		return res
	case checks.WaitJob:
		res.PollAfter = poll
		return res
	}
	var m verify.Measurement
	if step == checks.TimedOutJob {
		m = checks.TimedOut(timeout, now)
	} else {
		pods, err := a.checker.dynamic.Resource(measure.PodsResource).Namespace(t.Job.Namespace).List(ctx,
			metav1.ListOptions{LabelSelector: measure.JobPodSelector(t.Job.Name), Limit: 10})
		var items []unstructured.Unstructured
		if err == nil {
			items = pods.Items
		}
		m = judgeJob(cond, measure.JobResult(live, items), now)
	}
	ref := *recordedJob(st.record, *t.Job)
	if err := a.checker.deleteJob(ctx, ref); err != nil {
		// Judged all the same; the next look deletes it (and Kubernetes
		// does within the hour).
		log.Error(err, "deleting test Job")
	} else {
		a.forgetJob(ctx, st, ref)
	}
	log.V(1).Info("test Job finished", "outcome", m.Outcome)
	res.Measurement = &m
	return res
}

func judgeJob(cond *verify.Condition, result verify.JobResult, now time.Time) verify.Measurement {
	outcome, value, err := cond.Judge(result)
	m := verify.Measurement{At: now, Outcome: outcome, Value: value}
	if err != nil {
		m.Message = err.Error()
	}
	return m
}

// deleteJob deletes a test Job the agent created (its UID, when recorded,
// as a precondition), with its Pods; one already gone is no error.
func (c *checker) deleteJob(ctx context.Context, j checks.JobRef) error {
	opts := metav1.DeleteOptions{PropagationPolicy: ptrTo(metav1.DeletePropagationBackground)}
	if j.UID != "" {
		uid := types.UID(j.UID)
		opts.Preconditions = &metav1.Preconditions{UID: &uid}
	} else {
		// Never confirmed created: delete only what carries its labels.
		live, err := c.dynamic.Resource(measure.JobsResource).Namespace(j.Namespace).Get(ctx, j.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		if live.GetLabels()[checks.LabelCheck] != j.Check {
			return nil // not the agent's: forget it, leave it
		}
		uid := live.GetUID()
		opts.Preconditions = &metav1.Preconditions{UID: &uid}
	}
	err := c.dynamic.Resource(measure.JobsResource).Namespace(j.Namespace).Delete(ctx, j.Name, opts)
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil // gone, or replaced by someone else's: not the agent's any more
	}
	return err
}

// cleanupChecks deletes every test Job a Work's record holds: the Work is
// being deleted.
func (a *agent) cleanupChecks(ctx context.Context, st *workState) {
	if a.checker == nil || st == nil {
		return
	}
	for _, j := range append([]checks.JobRef(nil), st.record.CheckJobs...) {
		if err := a.checker.deleteJob(ctx, j); err != nil {
			logr.FromContextOrDiscard(ctx).Error(err, "deleting test Job", "check", j.Check, "job", j.String())
			continue
		}
		a.forgetJob(ctx, st, j)
	}
}

func recordedJob(rec *workRecord, j checks.JobRef) *checks.JobRef {
	for i := range rec.CheckJobs {
		if rec.CheckJobs[i].String() == j.String() {
			return &rec.CheckJobs[i]
		}
	}
	return nil
}

// recordJob adds or updates j in the Work's record and saves it.
func (a *agent) recordJob(ctx context.Context, st *workState, j checks.JobRef) {
	if r := recordedJob(st.record, j); r != nil {
		*r = j
	} else {
		st.record.CheckJobs = append(st.record.CheckJobs, j)
	}
	a.saveRecord(ctx, st)
}

// forgetJob removes j from the Work's record and saves it.
func (a *agent) forgetJob(ctx context.Context, st *workState, j checks.JobRef) {
	kept := st.record.CheckJobs[:0]
	for _, r := range st.record.CheckJobs {
		if r.String() != j.String() {
			kept = append(kept, r)
		}
	}
	if len(kept) == 0 {
		kept = nil
	}
	st.record.CheckJobs = kept
	a.saveRecord(ctx, st)
}

func (a *agent) saveRecord(ctx context.Context, st *workState) {
	if st.record.Work == nil {
		return
	}
	if err := a.store.save(st.record); err != nil {
		logr.FromContextOrDiscard(ctx).Error(err, "saving check state")
	}
}

func ptrTo[T any](v T) *T { return &v }
