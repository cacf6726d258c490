package gitdelivery_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/controller/promise/promisetest"
	"github.com/flotilla-dev/flotilla/internal/hub"
	"github.com/flotilla-dev/flotilla/internal/hub/hubtest"
	"github.com/flotilla-dev/flotilla/internal/testenv"
)

// hubCP is the hub control plane the package's tests share; each test runs
// its own hub manager and uses names of its own. Repositories are real:
// bare repositories on disk, reached over file:// or git http-backend.
var hubCP *testenv.ControlPlane

func TestMain(m *testing.M) { os.Exit(promisetest.Main(m, &hubCP)) }

// logs collects what the hub logs, to check that no credential shows.
type logs struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	ended bool
}

func (l *logs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// startHub runs the hub manager until the test ends, logging to the test and to the returned logs.
func startHub(t *testing.T) *logs {
	t.Helper()
	l := &logs{}
	t.Cleanup(func() {
		l.mu.Lock()
		l.ended = true
		l.mu.Unlock()
	})
	log := funcr.New(func(prefix, args string) {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.buf.WriteString(prefix + " " + args + "\n")
		if !l.ended {
			t.Log(prefix, args)
		}
	}, funcr.Options{Verbosity: 1})
	ctx, cancel := context.WithCancel(ctrl.LoggerInto(context.Background(), log))
	done := make(chan error, 1)
	go func() { done <- hub.Run(ctx, hubCP.RESTConfig, hub.Options{MetricsAddr: "0", ProbeAddr: "0"}) }()
	t.Cleanup(func() {
		cancel()
		hubtest.WaitStopped(t, done)
	})
	return l
}

// git runs git in dir and returns its trimmed output, or fails the test.
func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = []string{"HOME=" + t.TempDir(), "PATH=" + os.Getenv("PATH"), "GIT_CONFIG_NOSYSTEM=1"}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v: %s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// bareRepo creates an empty bare repository fleet.git under root.
func bareRepo(t *testing.T, root string) string {
	t.Helper()
	dir := filepath.Join(root, "fleet.git")
	git(t, root, "init", "-q", "--bare", "-b", "main", dir)
	return dir
}

// show returns a file on main, or "" when it is not there.
func show(t *testing.T, repo, path string) string {
	t.Helper()
	cmd := exec.Command("git", "show", "main:"+path)
	cmd.Dir = repo
	out, err := cmd.Output()
	if err != nil {
		return ""
	}
	return string(out)
}

// gitCluster registers a git-delivered member (with its namespace).
func gitCluster(e *promisetest.Env, name string, labels map[string]string, g fleetv1alpha1.GitDelivery) {
	e.TB.Helper()
	e.Namespace(fleetv1alpha1.ClusterNamespace(name), nil)
	e.Create(&fleetv1alpha1.Cluster{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec:       fleetv1alpha1.ClusterSpec{Delivery: fleetv1alpha1.Delivery{Mode: fleetv1alpha1.DeliveryGit, Git: &g}},
	})
}

// delivered waits until the cluster's Delivered condition has reason and returns the Cluster.
func delivered(e *promisetest.Env, name string, status metav1.ConditionStatus, reason string) *fleetv1alpha1.Cluster {
	e.TB.Helper()
	c := &fleetv1alpha1.Cluster{}
	promisetest.Eventually(e.TB, time.Minute, "cluster "+name+" Delivered "+reason, func() (bool, string) {
		if err := e.C.Get(e.Ctx, client.ObjectKey{Name: name}, c); err != nil {
			return false, err.Error()
		}
		d := meta.FindStatusCondition(c.Status.Conditions, fleetv1alpha1.ConditionDelivered)
		return d != nil && d.Status == status && d.Reason == reason, fmt.Sprintf("%+v", d)
	})
	return c
}

// waitFile waits until a file on main contains want.
func waitFile(t *testing.T, repo, path, want string) string {
	t.Helper()
	var got string
	promisetest.Eventually(t, time.Minute, path+" containing "+want, func() (bool, string) {
		got = show(t, repo, path)
		return strings.Contains(got, want), got
	})
	return got
}

func strFmt(v any) string { return fmt.Sprintf("%+v", v) }
