package measure

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/flotilla-dev/flotilla/internal/verify"
)

// maxLogTail is how much of a failed container's termination message (its
// log's tail) a Job check keeps.
const maxLogTail = 1024

// JobCheck runs a test Job on a member and reports whether it succeeded.
type JobCheck struct {
	Client    kubernetes.Interface
	Namespace string
	// Name names this run's Job: one per measurement, so a re-run never
	// reads an earlier run's result.
	Name string
	// Labels go on the Job (who ran it, for which Rollout and check).
	Labels map[string]string
	// Template is the Job's spec, from the Promise or strategy.
	Template batchv1.JobSpec
	// Timeout bounds the run; a Job still running then is Inconclusive and
	// deleted. Zero is 10 minutes.
	Timeout time.Duration
	// Poll is how often the Job is looked at; zero is 1 s.
	Poll time.Duration
}

// Run creates the Job and waits for it to complete or fail. A Job is not
// retried (backoffLimit 0: a test that fails once failed) and is deleted
// with its Pods once judged; each container reports its log's tail on
// failure (terminationMessagePolicy FallbackToLogsOnError), which becomes
// the result's LogTail. Only a run that could not be judged is an error.
func (j *JobCheck) Run(ctx context.Context) (verify.JobResult, error) {
	timeout := j.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Minute
	}
	poll := j.Poll
	if poll <= 0 {
		poll = time.Second
	}
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: j.Name, Namespace: j.Namespace, Labels: j.Labels},
		Spec:       *j.Template.DeepCopy(),
	}
	job.Spec.BackoffLimit = ptr.To[int32](0)
	job.Spec.ActiveDeadlineSeconds = ptr.To(int64(timeout.Seconds()))
	if job.Spec.Template.Spec.RestartPolicy == "" || job.Spec.Template.Spec.RestartPolicy == corev1.RestartPolicyAlways {
		job.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyNever
	}
	for i := range job.Spec.Template.Spec.Containers {
		job.Spec.Template.Spec.Containers[i].TerminationMessagePolicy = corev1.TerminationMessageFallbackToLogsOnError
	}
	jobs := j.Client.BatchV1().Jobs(j.Namespace)
	if _, err := jobs.Create(ctx, job, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return verify.JobResult{}, fmt.Errorf("creating test Job %s/%s: %w", j.Namespace, j.Name, err)
	}
	defer func() {
		// Background: the Pods go with the Job. A fresh context: the run's
		// may be done, and the Job must not stay behind.
		cleanup, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		_ = jobs.Delete(cleanup, j.Name, metav1.DeleteOptions{PropagationPolicy: ptr.To(metav1.DeletePropagationBackground)})
	}()
	ctx, cancel := context.WithTimeout(ctx, timeout+30*time.Second)
	defer cancel()
	for {
		got, err := jobs.Get(ctx, j.Name, metav1.GetOptions{})
		if err != nil {
			return verify.JobResult{}, fmt.Errorf("reading test Job %s/%s: %w", j.Namespace, j.Name, err)
		}
		if done, succeeded := finished(got); done {
			tail, err := j.logTail(ctx)
			if err != nil && !succeeded {
				tail = "(no log: " + err.Error() + ")"
			}
			if !succeeded && tail == "" {
				tail = jobFailure(got)
			}
			return verify.JobResult{Succeeded: succeeded, LogTail: truncateTail(tail)}, nil
		}
		select {
		case <-ctx.Done():
			return verify.JobResult{}, fmt.Errorf("test Job %s/%s did not finish within %s", j.Namespace, j.Name, timeout)
		case <-time.After(poll):
		}
	}
}

// finished says whether the Job completed or failed, and which.
func finished(job *batchv1.Job) (done, succeeded bool) {
	for _, c := range job.Status.Conditions {
		if c.Status != corev1.ConditionTrue {
			continue
		}
		switch c.Type {
		case batchv1.JobComplete:
			return true, true
		case batchv1.JobFailed:
			return true, false
		}
	}
	return false, false
}

// jobFailure is the Job's Failed condition, when no container said more.
func jobFailure(job *batchv1.Job) string {
	for _, c := range job.Status.Conditions {
		if c.Type == batchv1.JobFailed && c.Status == corev1.ConditionTrue {
			return strings.TrimSpace(c.Reason + ": " + c.Message)
		}
	}
	return ""
}

// logTail is the termination message of the Job's first terminated
// container with one: its log's tail on failure.
func (j *JobCheck) logTail(ctx context.Context) (string, error) {
	pods, err := j.Client.CoreV1().Pods(j.Namespace).List(ctx, metav1.ListOptions{LabelSelector: "batch.kubernetes.io/job-name=" + j.Name})
	if err != nil {
		return "", err
	}
	for _, pod := range pods.Items {
		for _, cs := range pod.Status.ContainerStatuses {
			if t := cs.State.Terminated; t != nil && strings.TrimSpace(t.Message) != "" {
				return t.Message, nil
			}
		}
	}
	if len(pods.Items) == 0 {
		return "", errors.New("the Job's Pods are gone")
	}
	return "", nil
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
