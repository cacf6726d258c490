package gitdelivery_test

import (
	"crypto/subtle"
	"encoding/json"
	"net"
	"net/http"
	"net/http/cgi"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/controller/promise/promisetest"
)

// serveGit serves the bare repositories under root with git http-backend on
// loopback, behind basic auth, and returns the base URL.
func serveGit(t *testing.T, root, user, password string) string {
	t.Helper()
	backend := &cgi.Handler{
		Path: filepath.Join(git(t, root, "--exec-path"), "git-http-backend"),
		Env:  []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1"},
	}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		if !ok || subtle.ConstantTimeCompare([]byte(u), []byte(user)) != 1 || subtle.ConstantTimeCompare([]byte(p), []byte(password)) != 1 {
			w.Header().Set("WWW-Authenticate", `Basic realm="fleet"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		// http-backend accepts pushes from an authenticated user.
		h := *backend
		h.Env = append(h.Env, "REMOTE_USER="+u)
		h.ServeHTTP(w, r)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: handler}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String()
}

// Over HTTP with basic auth from a Secret the push works; a wrong password
// gives GitAuthFailed and an unreachable server GitUnreachable, neither
// password shows in the Clusters' status, Events or the hub's logs, and the
// healthy cluster keeps being published.
func TestHTTPCredentials(t *testing.T) {
	logs := startHub(t)
	e := promisetest.NewEnv(t, hubCP.RESTConfig)
	root := t.TempDir()
	repo := bareRepo(t, root)
	const password, wrong = "right-pw-7f3a9c", "wrong-pw-b81e44"
	base := serveGit(t, root, "flotilla", password)

	for name, pw := range map[string]string{"gdhttp-creds": password, "gdhttp-wrong": wrong} {
		e.Create(&corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: fleetv1alpha1.PlatformNamespace, Name: name},
			Data:       map[string][]byte{"username": []byte("flotilla"), "password": []byte(pw)},
		})
	}
	labels := map[string]string{"suite": "gdhttp"}
	gitCluster(e, "gdhttp-ok", labels, fleetv1alpha1.GitDelivery{URL: base + "/fleet.git", Branch: "main",
		SecretRef: &fleetv1alpha1.SecretReference{Name: "gdhttp-creds"}, HealthSource: fleetv1alpha1.GitHealthNone})
	gitCluster(e, "gdhttp-bad", labels, fleetv1alpha1.GitDelivery{URL: base + "/fleet.git", Branch: "main",
		SecretRef: &fleetv1alpha1.SecretReference{Name: "gdhttp-wrong"}, HealthSource: fleetv1alpha1.GitHealthNone})
	gitCluster(e, "gdhttp-down", labels, fleetv1alpha1.GitDelivery{URL: "http://127.0.0.1:1/fleet.git", Branch: "main",
		SecretRef: &fleetv1alpha1.SecretReference{Name: "gdhttp-creds"}, HealthSource: fleetv1alpha1.GitHealthNone})
	gitCluster(e, "gdhttp-nosecret", labels, fleetv1alpha1.GitDelivery{URL: base + "/fleet.git", Branch: "main",
		SecretRef: &fleetv1alpha1.SecretReference{Name: "gdhttp-missing"}, HealthSource: fleetv1alpha1.GitHealthNone})
	e.Fleet("gdhttp", labels, "gdhttp-team")
	e.Namespace("gdhttp-team", nil)
	const group = "gdhttp.example.com"
	e.Create(promisetest.ConfigMapPromise("gdhttp", group, "Site", "gdhttp"))
	e.PromiseReady("gdhttp")
	e.Create(promisetest.Instance(group, "Site", "gdhttp-team", "shop", map[string]any{"size": "small"}))

	waitFile(t, repo, "clusters/gdhttp-ok/gdhttp/gdhttp-team/shop.yaml", "size: small")
	delivered(e, "gdhttp-ok", metav1.ConditionTrue, fleetv1alpha1.ReasonGitPushed)
	delivered(e, "gdhttp-bad", metav1.ConditionFalse, fleetv1alpha1.ReasonGitAuthFailed)
	delivered(e, "gdhttp-down", metav1.ConditionFalse, fleetv1alpha1.ReasonGitUnreachable)
	delivered(e, "gdhttp-nosecret", metav1.ConditionFalse, fleetv1alpha1.ReasonSecretNotFound)
	if got := show(t, repo, "clusters/gdhttp-bad/gdhttp/gdhttp-team/shop.yaml"); got != "" {
		t.Errorf("the cluster with a wrong password got its file pushed:\n%s", got)
	}
	// The failing cluster's Work is not marked applied.
	if w := e.Work("gdhttp", "gdhttp-team", "shop", "gdhttp-bad"); w == nil || w.Status.ObservedGeneration == w.Generation {
		t.Errorf("Work on gdhttp-bad: %+v", w)
	}

	// A second instance still reaches the good cluster.
	e.Create(promisetest.Instance(group, "Site", "gdhttp-team", "cafe", map[string]any{"size": "large"}))
	waitFile(t, repo, "clusters/gdhttp-ok/gdhttp/gdhttp-team/cafe.yaml", "size: large")

	var seen strings.Builder
	for _, name := range []string{"gdhttp-ok", "gdhttp-bad", "gdhttp-down", "gdhttp-nosecret"} {
		c := &fleetv1alpha1.Cluster{}
		if err := e.C.Get(e.Ctx, client.ObjectKey{Name: name}, c); err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(c)
		seen.Write(b)
	}
	events := &eventsv1.EventList{}
	if err := e.C.List(e.Ctx, events); err != nil {
		t.Fatal(err)
	}
	authEvent := false
	for _, ev := range events.Items {
		if strings.HasPrefix(ev.Regarding.Name, "gdhttp-") {
			seen.WriteString(ev.Note + "\n")
			authEvent = authEvent || ev.Reason == fleetv1alpha1.ReasonGitAuthFailed
		}
	}
	if !authEvent {
		t.Error("no GitAuthFailed Event on the cluster")
	}
	seen.WriteString(logs.String())
	for _, secret := range []string{password, wrong} {
		if strings.Contains(seen.String(), secret) {
			t.Errorf("a password appears in status, Events or logs")
		}
	}
	if !strings.Contains(logs.String(), fleetv1alpha1.ReasonGitAuthFailed) {
		t.Error("the hub's logs do not mention the auth failure")
	}
}
