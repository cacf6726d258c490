package promise_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/charts"
	"github.com/flotilla-dev/flotilla/internal/render/charttest"
)

// authRepo is a loopback https chart repository behind basic auth holding
// greeter 0.1.0; it counts the requests that carried the right credentials.
type authRepo struct {
	*httptest.Server
	authed atomic.Int32
}

func newAuthRepo(t *testing.T) *authRepo {
	t.Helper()
	archive := charttest.Package(t, "greeter", "0.1.0", chartValues, chartTemplates)
	r := &authRepo{}
	r.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if u, p, ok := req.BasicAuth(); !ok || u != "robot" || p != "s3cret" {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		r.authed.Add(1)
		switch req.URL.Path {
		case "/index.yaml":
			_, _ = w.Write([]byte("apiVersion: v1\nentries:\n  greeter:\n  - version: 0.1.0\n    urls: [greeter-0.1.0.tgz]\n"))
		case "/greeter-0.1.0.tgz":
			_, _ = w.Write(archive)
		default:
			http.NotFound(w, req)
		}
	}))
	t.Cleanup(r.Close)
	return r
}

// charts.Resolver's credential rules, tested here because they read Secrets
// from a real API server and this suite has one.
//
// A Promise can use only Secrets the platform marked for chart repositories,
// only towards the hosts each names, and never over plain http: otherwise a
// Promise author could send the git delivery token (or any Secret the hub
// reads) to a URL of their choosing.
func TestChartCredentialsAreScoped(t *testing.T) {
	e := newEnv(t)
	repo := newAuthRepo(t)
	u, err := url.Parse(repo.URL)
	if err != nil {
		t.Fatal(err)
	}
	secret := func(name string, labels, annotations map[string]string) *fleetv1alpha1.SecretReference {
		e.Create(&corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: fleetv1alpha1.PlatformNamespace, Labels: labels, Annotations: annotations},
			Data:       map[string][]byte{"username": []byte("robot"), "password": []byte("s3cret")},
		})
		return &fleetv1alpha1.SecretReference{Name: name}
	}
	marked := map[string]string{fleetv1alpha1.LabelChartCredentials: "true"}
	hosts := func(h string) map[string]string {
		return map[string]string{fleetv1alpha1.AnnotationChartCredentialsHosts: h}
	}
	load := func(repoURL string, ref *fleetv1alpha1.SecretReference) error {
		// A fresh cache each time: a cached archive is not fetched again.
		resolver := &charts.Resolver{Reader: e.C, HTTP: repo.Client()}
		_, err := resolver.Load(e.Ctx, &fleetv1alpha1.PromiseContent{Templates: &fleetv1alpha1.Templates{
			Engine: fleetv1alpha1.TemplateEngineHelm,
			Helm:   &fleetv1alpha1.HelmTemplate{Repository: &fleetv1alpha1.HelmRepository{URL: repoURL, Chart: "greeter", Version: "0.1.0", SecretRef: ref}},
		}})
		return err
	}

	for _, tc := range []struct {
		name string
		url  string
		ref  *fleetv1alpha1.SecretReference
		want string
	}{
		{"a Secret not marked for charts (the git token, say)", repo.URL, secret("git-token", nil, hosts(u.Host)), "not marked for chart repositories"},
		{"marked, but the label is not true", repo.URL, secret("half-marked", map[string]string{fleetv1alpha1.LabelChartCredentials: "yes"}, hosts(u.Host)), "not marked"},
		{"marked for another host", repo.URL, secret("other-host", marked, hosts("charts.example.com, registry.example.com")), "may not be sent to " + u.Host},
		{"marked, with no hosts", repo.URL, secret("no-hosts", marked, nil), "may not be sent to"},
		{"plain http", "http://" + u.Host, secret("for-http", marked, hosts(u.Host)), "only sent over https"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := load(tc.url, tc.ref)
			var ce *charts.Error
			if !errors.As(err, &ce) || !ce.Permanent || ce.Reason != fleetv1alpha1.ReasonChartCredentialsRefused || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want a permanent %s containing %q", err, fleetv1alpha1.ReasonChartCredentialsRefused, tc.want)
			}
		})
	}
	if n := repo.authed.Load(); n != 0 {
		t.Fatalf("the repository received the credentials %d times", n)
	}

	// Marked for the repository's host (with or without its port): used.
	for _, h := range []string{u.Host, "other.example.com," + u.Hostname()} {
		if err := load(repo.URL, secret("chart-robot-"+strings.ReplaceAll(strings.ReplaceAll(h, ":", "-"), ",", "-"), marked, hosts(h))); err != nil {
			t.Errorf("credentials marked for %q: %v", h, err)
		}
	}
	if n := repo.authed.Load(); n != 4 {
		t.Errorf("the repository received the credentials %d times, want 4 (index and chart, twice)", n)
	}
}

// A Promise whose repository credentials are refused is Stalled with the
// reason, and no revision is made.
func TestRefusedChartCredentialsStallThePromise(t *testing.T) {
	e := newEnv(t)
	startHub(t)
	e.Create(&corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "flotilla-git-token", Namespace: fleetv1alpha1.PlatformNamespace},
		Data:       map[string][]byte{"username": []byte("git"), "password": []byte("token")},
	})
	p := helmPromise("helm-steal", "helmsteal.example.com", &fleetv1alpha1.HelmTemplate{
		Repository: &fleetv1alpha1.HelmRepository{URL: "https://attacker.example.com/charts", Chart: "greeter", Version: "0.1.0",
			SecretRef: &fleetv1alpha1.SecretReference{Name: "flotilla-git-token"}},
	})
	if p.Spec.Output == nil {
		p.Spec.Output = &fleetv1alpha1.PromiseOutput{Kinds: []fleetv1alpha1.OutputKind{{Kind: "ConfigMap"}}}
	}
	e.Create(p)
	p = waitObserved(e, "helm-steal", func(p *fleetv1alpha1.Promise) bool {
		return meta.IsStatusConditionTrue(p.Status.Conditions, fleetv1alpha1.ConditionStalled)
	})
	if c := meta.FindStatusCondition(p.Status.Conditions, fleetv1alpha1.ConditionStalled); c.Reason != fleetv1alpha1.ReasonChartCredentialsRefused ||
		!strings.Contains(c.Message, "flotilla-git-token") ||
		!strings.Contains(c.Message, "not marked for chart repositories (label "+fleetv1alpha1.LabelChartCredentials+"=true)") {
		t.Errorf("Stalled %+v", c)
	}
	if p.Status.LatestRevision != "" {
		t.Errorf("a revision was made: %s", p.Status.LatestRevision)
	}
}
