package testenv_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/flotilla-dev/flotilla/internal/testenv"
)

func TestMemberRunsDeploymentsAndFailingImageNeverBecomesAvailable(t *testing.T) {
	member := testenv.NewMember(t)
	client := kubernetes.NewForConfigOrDie(member.RESTConfig)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	nodes, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes.Items) != testenv.DefaultNodes {
		t.Fatalf("member has %d nodes, want %d", len(nodes.Items), testenv.DefaultNodes)
	}

	good := deployment("web", "registry.example/web:1.0", 3)
	if _, err := client.AppsV1().Deployments("default").Create(ctx, good, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	bad := deployment("broken", testenv.FailingImagePrefix+"web:2.0", 2)
	bad.Spec.ProgressDeadlineSeconds = ptr.To[int32](5)
	if _, err := client.AppsV1().Deployments("default").Create(ctx, bad, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	waitFor(t, ctx, "deployment web Available with 3 ready replicas", func() (bool, string) {
		d, err := client.AppsV1().Deployments("default").Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return d.Status.ReadyReplicas == 3 && hasCondition(d, appsv1.DeploymentAvailable, corev1.ConditionTrue, ""),
			fmt.Sprintf("ready=%d conditions=%v", d.Status.ReadyReplicas, d.Status.Conditions)
	})

	// The failing release is judged by what a real cluster would show: its pods
	// stuck in ImagePullBackOff and the Deployment past its progress deadline.
	waitFor(t, ctx, "deployment broken ProgressDeadlineExceeded", func() (bool, string) {
		d, err := client.AppsV1().Deployments("default").Get(ctx, "broken", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		if d.Status.ReadyReplicas != 0 || d.Status.AvailableReplicas != 0 {
			t.Fatalf("failing image became ready: %+v", d.Status)
		}
		return hasCondition(d, appsv1.DeploymentProgressing, corev1.ConditionFalse, "ProgressDeadlineExceeded"),
			fmt.Sprintf("conditions=%v", d.Status.Conditions)
	})
	pods, err := client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=broken"})
	if err != nil {
		t.Fatal(err)
	}
	if len(pods.Items) == 0 {
		t.Fatal("no pods for the failing deployment")
	}
	for _, pod := range pods.Items {
		if len(pod.Status.ContainerStatuses) == 0 || pod.Status.ContainerStatuses[0].State.Waiting == nil ||
			pod.Status.ContainerStatuses[0].State.Waiting.Reason != "ImagePullBackOff" {
			t.Errorf("pod %s: want ImagePullBackOff, got %+v", pod.Name, pod.Status.ContainerStatuses)
		}
	}
}

// Stop reaps etcd and kube-apiserver; and extra kube-apiserver flags reach it
// (the one sim bench's --apiserver-arg uses, read back from its metrics).
func TestStopReapsEveryProcess(t *testing.T) {
	hub, err := testenv.Start(context.Background(), testenv.Options{Name: "reap",
		APIServerArgs: []string{"--feature-gates=DetectCacheInconsistency=false"}})
	if err != nil {
		t.Fatal(err)
	}
	metrics, err := kubernetes.NewForConfigOrDie(hub.RESTConfig).CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	gate := ""
	for line := range strings.Lines(string(metrics)) {
		if strings.HasPrefix(line, `kubernetes_feature_enabled{name="DetectCacheInconsistency"`) {
			gate = strings.TrimSpace(line)
		}
	}
	if !strings.HasSuffix(gate, " 0") {
		t.Errorf("the feature gate the extra flag turns off: %q, want it reported disabled", gate)
	}
	pids := hub.PIDs()
	if len(pids) != 2 {
		t.Fatalf("hub runs %d processes, want etcd and kube-apiserver", len(pids))
	}
	dir := hub.Dir
	if err := hub.Stop(); err != nil {
		t.Fatal(err)
	}
	for _, pid := range pids {
		if testenv.ProcessAlive(pid) {
			t.Errorf("process %d still running after Stop", pid)
		}
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("directory %s not removed: %v", dir, err)
	}
}

// childEnv makes the test binary, re-executed, start a hub and wait to be killed.
const childEnv = "FLOTILLA_TESTENV_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		runChild()
		return
	}
	os.Exit(m.Run())
}

func runChild() {
	hub, err := testenv.Start(context.Background(), testenv.Options{Name: "child"})
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	fmt.Printf("dir: %s pids: %s\n", hub.Dir, strings.Trim(fmt.Sprint(hub.PIDs()), "[]"))
	select {} // wait to be killed
}

func TestKilledParentLeavesNoOrphans(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=1")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()

	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("reading child output: %v", err)
	}
	var dir, fields string
	if _, err := fmt.Sscanf(line, "dir: %s pids:", &dir); err != nil {
		t.Fatalf("child said %q: %v", line, err)
	}
	// The killed child cannot remove its own directory.
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	_, fields, _ = strings.Cut(line, "pids: ")
	var pids []int
	for _, f := range strings.Fields(fields) {
		pid, err := strconv.Atoi(f)
		if err != nil {
			t.Fatal(err)
		}
		pids = append(pids, pid)
	}
	if len(pids) != 2 {
		t.Fatalf("child hub runs %d processes, want 2", len(pids))
	}

	// SIGKILL gives the child no chance to clean up: only Pdeathsig can.
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	deadline := time.Now().Add(15 * time.Second)
	for _, pid := range pids {
		for testenv.ProcessAlive(pid) {
			if time.Now().After(deadline) {
				_ = syscall.Kill(pid, syscall.SIGKILL)
				t.Fatalf("process %d outlived its killed parent", pid)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

func deployment(name, image string, replicas int32) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: image}}},
			},
		},
	}
}

func hasCondition(d *appsv1.Deployment, kind appsv1.DeploymentConditionType, status corev1.ConditionStatus, reason string) bool {
	for _, c := range d.Status.Conditions {
		if c.Type == kind && c.Status == status && (reason == "" || c.Reason == reason) {
			return true
		}
	}
	return false
}

func waitFor(t *testing.T, ctx context.Context, what string, check func() (bool, string)) {
	t.Helper()
	var last string
	for {
		ok, state := check()
		if ok {
			return
		}
		last = state
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s; last state: %s", what, last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func TestAPIServerRestartKeepsData(t *testing.T) {
	hub := testenv.NewHub(t)
	client := kubernetes.NewForConfigOrDie(hub.RESTConfig)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "survives-restart"}}
	if _, err := client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	hub.StopAPIServer()
	if _, err := client.CoreV1().Namespaces().Get(ctx, ns.Name, metav1.GetOptions{}); err == nil {
		t.Fatal("API server still answers after StopAPIServer")
	}
	if err := hub.StartAPIServer(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := client.CoreV1().Namespaces().Get(ctx, ns.Name, metav1.GetOptions{}); err != nil {
		t.Fatalf("namespace lost across the restart: %v", err)
	}
}
