package agent

import (
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/rest"
)

// The API servers the agent talks to, as flotilla_agent_api_requests_total
// labels them.
const (
	serverMember = "member"
	serverHub    = "hub"
)

// requestVerbs are the verbs requestVerb returns: the label's bounded values.
var requestVerbs = []string{"get", "watch", "create", "update", "patch", "apply", "dry-run", "delete", "other"}

// newAPIRequests counts every request the agent sends, by API server and
// verb: the load it puts on its member and on the hub, at rest and during a
// change (docs/agent.md, "Metrics").
func newAPIRequests() *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "flotilla_agent_api_requests_total",
		Help: "Requests the agent sent, by API server (member, hub) and verb (get, watch, create, update, patch, apply, dry-run, delete, other); a list counts as get.",
	}, []string{"server", "verb"})
}

// countRequests returns a copy of config whose clients count each request
// they send in requests under server.
func countRequests(config *rest.Config, requests *prometheus.CounterVec, server string) *rest.Config {
	counters := make(map[string]prometheus.Counter, len(requestVerbs))
	for _, v := range requestVerbs {
		counters[v] = requests.WithLabelValues(server, v)
	}
	config = rest.CopyConfig(config)
	config.Wrap(func(next http.RoundTripper) http.RoundTripper {
		return countingTransport{next: next, counters: counters}
	})
	return config
}

type countingTransport struct {
	next     http.RoundTripper
	counters map[string]prometheus.Counter
}

func (t countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	t.counters[requestVerb(r)].Inc()
	return t.next.RoundTrip(r)
}

// requestVerb names what a request to a Kubernetes API server does.
func requestVerb(r *http.Request) string {
	query := r.URL.RawQuery
	if r.Method != http.MethodGet && strings.Contains(query, "dryRun=") {
		return "dry-run"
	}
	switch r.Method {
	case http.MethodGet:
		if strings.Contains(query, "watch=true") || strings.Contains(query, "watch=1") {
			return "watch"
		}
		return "get"
	case http.MethodPost:
		return "create"
	case http.MethodPut:
		return "update"
	case http.MethodPatch:
		// Server-side apply: application/apply-patch+yaml (or +cbor).
		if strings.HasPrefix(r.Header.Get("Content-Type"), "application/apply-patch") {
			return "apply"
		}
		return "patch"
	case http.MethodDelete:
		return "delete"
	}
	return "other"
}
