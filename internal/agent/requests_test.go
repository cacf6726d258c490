package agent

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"k8s.io/client-go/rest"
)

func TestRequestVerb(t *testing.T) {
	for _, tc := range []struct {
		method, url, contentType, want string
	}{
		{http.MethodGet, "/api/v1/namespaces/a/configmaps/x", "", "get"},
		{http.MethodGet, "/api/v1/namespaces/a/configmaps?limit=500", "", "get"},
		{http.MethodGet, "/api/v1/configmaps?allowWatchBookmarks=true&resourceVersion=5&watch=true", "", "watch"},
		{http.MethodPost, "/apis/batch/v1/namespaces/a/jobs", "application/json", "create"},
		{http.MethodPut, "/apis/coordination.k8s.io/v1/namespaces/c/leases/agent", "application/vnd.kubernetes.protobuf", "update"},
		{http.MethodPatch, "/apis/fleet.flotilla.dev/v1alpha1/namespaces/c/works/w/status", "application/merge-patch+json", "patch"},
		{http.MethodPatch, "/api/v1/namespaces/a/configmaps/x?fieldManager=flotilla&force=true", "application/apply-patch+yaml", "apply"},
		{http.MethodPatch, "/api/v1/namespaces/a/configmaps/x?dryRun=All&fieldManager=flotilla", "application/apply-patch+yaml", "dry-run"},
		{http.MethodDelete, "/api/v1/namespaces/a/configmaps/x", "application/json", "delete"},
		{http.MethodOptions, "/", "", "other"},
	} {
		r := httptest.NewRequest(tc.method, tc.url, nil)
		if tc.contentType != "" {
			r.Header.Set("Content-Type", tc.contentType)
		}
		if got := requestVerb(r); got != tc.want {
			t.Errorf("%s %s (%s) = %q, want %q", tc.method, tc.url, tc.contentType, got, tc.want)
		}
	}
}

// Every request a client of the counted configuration sends is counted once,
// under its server and verb; the original configuration counts nothing.
func TestCountRequests(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) }))
	defer srv.Close()
	requests := newAPIRequests()
	original := &rest.Config{Host: srv.URL}
	counted := countRequests(original, requests, serverMember)
	send := func(cfg *rest.Config, method, path, contentType string) {
		t.Helper()
		c, err := rest.HTTPClientFor(cfg)
		if err != nil {
			t.Fatal(err)
		}
		req, err := http.NewRequestWithContext(t.Context(), method, srv.URL+path, strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", contentType)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
	}
	send(counted, http.MethodGet, "/api/v1/namespaces/a/configmaps/x", "")
	send(counted, http.MethodGet, "/api/v1/namespaces/a/configmaps/y", "")
	send(counted, http.MethodPatch, "/api/v1/namespaces/a/configmaps/x?fieldManager=f", "application/apply-patch+yaml")
	send(original, http.MethodGet, "/api/v1/namespaces/a/configmaps/x", "")

	for verb, want := range map[string]float64{"get": 2, "apply": 1, "watch": 0, "dry-run": 0} {
		if got := testutil.ToFloat64(requests.WithLabelValues(serverMember, verb)); got != want {
			t.Errorf("member %s requests = %v, want %v", verb, got, want)
		}
	}
	if got := testutil.ToFloat64(requests.WithLabelValues(serverHub, "get")); got != 0 {
		t.Errorf("hub get requests = %v, want 0", got)
	}
}
