package gitdelivery_test

import (
	"fmt"
	"net"
	"net/http"
	"net/http/cgi"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/controller/promise/promisetest"
)

// The attack: the report-only agent of a git-delivered cluster reports a
// different node count at every renewal of its Lease (1, 2, 1, …), as it
// may. Each is a write of the Cluster's status by the hub, and the hub's
// publisher took every change of the Cluster for a reason to publish
// again: a fetch from the platform's git server per Lease write, as fast as
// the agent wrote, on the workers every git cluster shares (and against the
// rate limits of a hosted server's credentials). The publisher now looks
// again only when the Cluster's spec changes (or on its own schedule).
func TestAnAgentsHeartbeatDoesNotFetchFromGit(t *testing.T) {
	startHub(t)
	e := promisetest.NewEnv(t, hubCP.RESTConfig)
	root := t.TempDir()
	repo := bareRepo(t, root)
	var fetches atomic.Int64
	base := serveCountedGit(t, root, &fetches)

	labels := map[string]string{"suite": "gdbeat"}
	gitCluster(e, "gdbeat-1", labels, fleetv1alpha1.GitDelivery{URL: base + "/fleet.git", Branch: "main",
		HealthSource: fleetv1alpha1.GitHealthAgent})
	e.Fleet("gdbeat", labels, "gdbeat-team")
	e.Namespace("gdbeat-team", nil)
	const group = "gdbeat.example.com"
	e.Create(promisetest.ConfigMapPromise("gdbeat", group, "Site", "gdbeat"))
	e.PromiseReady("gdbeat")
	e.Create(promisetest.Instance(group, "Site", "gdbeat-team", "shop", map[string]any{"size": "small"}))
	waitFile(t, repo, "clusters/gdbeat-1/gdbeat/gdbeat-team/shop.yaml", "size: small")

	key := client.ObjectKey{Namespace: fleetv1alpha1.ClusterNamespace("gdbeat-1"), Name: fleetv1alpha1.AgentLease}
	nodes := func() int32 {
		c := &fleetv1alpha1.Cluster{}
		if err := e.C.Get(e.Ctx, client.ObjectKey{Name: "gdbeat-1"}, c); err != nil {
			t.Fatal(err)
		}
		return c.Status.NodeCount
	}
	renew := func(n int) {
		t.Helper()
		now := metav1.NewMicroTime(time.Now())
		annotations := map[string]string{fleetv1alpha1.AnnotationNodeCount: fmt.Sprint(n),
			fleetv1alpha1.AnnotationAgentMode: fleetv1alpha1.AgentModeReportOnly}
		lease := &coordinationv1.Lease{}
		if err := e.C.Get(e.Ctx, key, lease); err != nil {
			lease = &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name, Annotations: annotations},
				Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To("agent"), LeaseDurationSeconds: ptr.To[int32](3600), RenewTime: &now}}
			e.Create(lease)
		} else {
			lease.Annotations, lease.Spec.RenewTime = annotations, &now
			if err := e.C.Update(e.Ctx, lease); err != nil {
				t.Fatal(err)
			}
		}
		promisetest.Eventually(t, 10*time.Second, fmt.Sprintf("node count %d recorded", n), func() (bool, string) {
			return nodes() == int32(n), fmt.Sprint(nodes())
		})
	}
	renew(1)
	time.Sleep(time.Second) // what the first heartbeat brought is published
	before := fetches.Load()
	const writes = 8
	for i := range writes {
		renew(2 + i%2)
		time.Sleep(700 * time.Millisecond) // a fetch ends before the next write
	}
	time.Sleep(time.Second)
	if got := fetches.Load() - before; got > 2 {
		t.Errorf("%d heartbeats of the agent made the hub fetch from git %d times; want at most 2", writes, got)
	}
}

// serveCountedGit serves the bare repositories under root with git
// http-backend on loopback, counting the fetches (upload-pack
// advertisements), and returns the base URL.
func serveCountedGit(t *testing.T, root string, fetches *atomic.Int64) string {
	t.Helper()
	backend := &cgi.Handler{
		Path: filepath.Join(git(t, root, "--exec-path"), "git-http-backend"),
		Env:  []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1", "REMOTE_USER=flotilla"},
	}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/info/refs") && r.URL.Query().Get("service") == "git-upload-pack" {
			fetches.Add(1)
		}
		backend.ServeHTTP(w, r)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String()
}
