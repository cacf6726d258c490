package measure

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/flotilla-dev/flotilla/internal/verify"
)

// The Job and Pod resources, reached through the dynamic client: the agent,
// which runs test Jobs, links no typed clientset or its scheme.
var (
	JobsResource = schema.GroupVersionResource{Group: "batch", Version: "v1", Resource: "jobs"}
	PodsResource = schema.GroupVersionResource{Version: "v1", Resource: "pods"}
)

// maxLogTail is how much of a failed container's termination message (its
// log's tail) a Job check keeps.
const maxLogTail = 1024

// JobTTL is how long a finished test Job may stay before Kubernetes' TTL
// controller deletes it, should its runner not get to delete it.
const JobTTL = time.Hour

// NewJob is the test Job name in namespace runs from template (a batch/v1
// JobSpec as JSON): not retried (backoffLimit 0: a test that fails once
// failed), bounded by timeout (activeDeadlineSeconds), deleted by
// Kubernetes an hour after it finished at the latest, Pods that restart
// never, and each container reporting its log's tail on failure
// (terminationMessagePolicy FallbackToLogsOnError), which becomes the
// result's LogTail. No service account is set that the template does not
// name.
func NewJob(namespace, name string, labels map[string]string, template []byte, timeout time.Duration) (*unstructured.Unstructured, error) {
	var spec map[string]any
	if err := json.Unmarshal(template, &spec); err != nil {
		return nil, fmt.Errorf("the Job template is not a JSON object: %w", err)
	}
	if spec == nil {
		return nil, errors.New("the Job template is empty")
	}
	podSpec, ok, _ := unstructured.NestedMap(spec, "template", "spec")
	if !ok {
		return nil, errors.New("the Job template has no template.spec")
	}
	containers, _, _ := unstructured.NestedSlice(podSpec, "containers")
	if len(containers) == 0 {
		return nil, errors.New("the Job template has no containers")
	}
	for i, c := range containers {
		cm, ok := c.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("the Job template's container %d is not an object", i)
		}
		cm["terminationMessagePolicy"] = "FallbackToLogsOnError"
	}
	podSpec["containers"] = containers
	if rp, _ := podSpec["restartPolicy"].(string); rp == "" || rp == "Always" {
		podSpec["restartPolicy"] = "Never"
	}
	if err := unstructured.SetNestedMap(spec, podSpec, "template", "spec"); err != nil {
		return nil, err
	}
	spec["backoffLimit"] = int64(0)
	spec["activeDeadlineSeconds"] = int64(max(timeout.Seconds(), 1))
	if ttl, ok := spec["ttlSecondsAfterFinished"].(float64); !ok || ttl > JobTTL.Seconds() {
		spec["ttlSecondsAfterFinished"] = int64(JobTTL.Seconds())
	}
	lbls := map[string]any{}
	for k, v := range labels {
		lbls[k] = v
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "batch/v1", "kind": "Job",
		"metadata": map[string]any{"name": name, "namespace": namespace, "labels": lbls},
		"spec":     spec,
	}}, nil
}

// JobFinished says whether a Job completed or failed, which, and its Failed
// condition's reason and message.
func JobFinished(job *unstructured.Unstructured) (done, succeeded bool, failure string) {
	conds, _, _ := unstructured.NestedSlice(job.Object, "status", "conditions")
	for _, c := range conds {
		cm, ok := c.(map[string]any)
		if !ok || cm["status"] != "True" {
			continue
		}
		switch cm["type"] {
		case "Complete":
			return true, true, ""
		case "Failed":
			reason, _ := cm["reason"].(string)
			msg, _ := cm["message"].(string)
			return true, false, strings.TrimSpace(reason + ": " + msg)
		}
	}
	return false, false, ""
}

// TerminationMessage is the termination message of the first terminated
// container of pods with one: its log's tail on failure.
func TerminationMessage(pods []unstructured.Unstructured) string {
	for _, pod := range pods {
		statuses, _, _ := unstructured.NestedSlice(pod.Object, "status", "containerStatuses")
		for _, s := range statuses {
			msg, _, _ := unstructured.NestedString(asMap(s), "state", "terminated", "message")
			if strings.TrimSpace(msg) != "" {
				return msg
			}
		}
	}
	return ""
}

// JobResult is a finished Job's result: its Pods' termination message, else
// (for a failed Job) its Failed condition.
func JobResult(job *unstructured.Unstructured, pods []unstructured.Unstructured) verify.JobResult {
	_, succeeded, failure := JobFinished(job)
	tail := TerminationMessage(pods)
	if !succeeded && strings.TrimSpace(tail) == "" {
		tail = failure
		if len(pods) == 0 && tail == "" {
			tail = "(no log: the Job's Pods are gone)"
		}
	}
	return verify.JobResult{Succeeded: succeeded, LogTail: truncateTail(tail)}
}

// JobPodSelector selects a Job's Pods.
func JobPodSelector(name string) string { return "batch.kubernetes.io/job-name=" + name }

func asMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

// JobCheck runs a test Job on a member and waits for its result: a test
// Job in one call, for callers that can wait. The agent runs its Jobs a
// look at a time instead (internal/agent/checks), with the same NewJob and
// JobResult.
type JobCheck struct {
	Client    dynamic.Interface
	Namespace string
	// Name names this run's Job: one per measurement, so a re-run never
	// reads an earlier run's result.
	Name string
	// Labels go on the Job (who ran it, for which Rollout and check).
	Labels map[string]string
	// Template is the Job's spec (a batch/v1 JobSpec as JSON), from the
	// Promise or strategy.
	Template []byte
	// Timeout bounds the run; a Job still running then is Inconclusive and
	// deleted. Zero is 10 minutes.
	Timeout time.Duration
	// Poll is how often the Job is looked at; zero is 1 s.
	Poll time.Duration
}

// Run creates the Job and waits for it to complete or fail, then deletes it
// with its Pods. Only a run that could not be judged is an error.
func (j *JobCheck) Run(ctx context.Context) (verify.JobResult, error) {
	timeout := j.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Minute
	}
	poll := j.Poll
	if poll <= 0 {
		poll = time.Second
	}
	job, err := NewJob(j.Namespace, j.Name, j.Labels, j.Template, timeout)
	if err != nil {
		return verify.JobResult{}, err
	}
	jobs := j.Client.Resource(JobsResource).Namespace(j.Namespace)
	if _, err := jobs.Create(ctx, job, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return verify.JobResult{}, fmt.Errorf("creating test Job %s/%s: %w", j.Namespace, j.Name, err)
	}
	defer func() {
		// Background: the Pods go with the Job. A fresh context: the run's
		// may be done, and the Job must not stay behind.
		cleanup, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		background := metav1.DeletePropagationBackground
		_ = jobs.Delete(cleanup, j.Name, metav1.DeleteOptions{PropagationPolicy: &background})
	}()
	ctx, cancel := context.WithTimeout(ctx, timeout+30*time.Second)
	defer cancel()
	for {
		got, err := jobs.Get(ctx, j.Name, metav1.GetOptions{})
		if err != nil {
			return verify.JobResult{}, fmt.Errorf("reading test Job %s/%s: %w", j.Namespace, j.Name, err)
		}
		if done, _, _ := JobFinished(got); done {
			pods, err := j.Client.Resource(PodsResource).Namespace(j.Namespace).List(ctx, metav1.ListOptions{LabelSelector: JobPodSelector(j.Name)})
			var items []unstructured.Unstructured
			if err == nil {
				items = pods.Items
			}
			return JobResult(got, items), nil
		}
		select {
		case <-ctx.Done():
			return verify.JobResult{}, fmt.Errorf("test Job %s/%s did not finish within %s", j.Namespace, j.Name, timeout)
		case <-time.After(poll):
		}
	}
}

// truncateTail keeps the last maxLogTail bytes: the end of a log says why.
func truncateTail(s string) string {
	s = strings.TrimSpace(s)
	if len(s) <= maxLogTail {
		return s
	}
	cut := len(s) - maxLogTail + len("…")
	for cut < len(s) && s[cut]&0xC0 == 0x80 {
		cut++
	}
	return "…" + s[cut:]
}
