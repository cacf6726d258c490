// Package measure takes the measurements of verification checks: an instant
// query against a Prometheus-compatible endpoint, or a request to an HTTP
// endpoint. Judging them is internal/verify's (pure); this package is the
// I/O. Credentials come from the caller (read from a Secret the platform
// names) and never appear in an error.
package measure

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/flotilla-dev/flotilla/internal/verify"
)

// maxResponse bounds what is read of a query's response.
const maxResponse = 16 << 20

// Credentials authenticate to an endpoint: a bearer token, or a user name and
// password. Empty sends none.
type Credentials struct {
	BearerToken        string
	Username, Password string
}

func (c Credentials) apply(req *http.Request) {
	switch {
	case c.BearerToken != "":
		req.Header.Set("Authorization", "Bearer "+c.BearerToken)
	case c.Username != "" || c.Password != "":
		req.SetBasicAuth(c.Username, c.Password)
	}
}

// Prometheus queries a Prometheus-compatible HTTP API (Prometheus, Thanos,
// Mimir, VictoriaMetrics).
type Prometheus struct {
	// URL is the API's base, e.g. http://prometheus.monitoring:9090; a path
	// prefix (Mimir's /prometheus) is kept.
	URL         string
	Credentials Credentials
	// Client sends the requests; nil uses a client with a 30 s timeout.
	Client *http.Client
}

// Query runs an instant query at time at and returns its samples. A scalar
// is one sample without labels; a range vector or a string is an error (the
// check's query must be an instant vector or a scalar).
func (p *Prometheus) Query(ctx context.Context, query string, at time.Time) (verify.MetricResult, error) {
	base, err := url.Parse(p.URL)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return verify.MetricResult{}, fmt.Errorf("prometheus URL %q: want http(s)://host[:port][/prefix]", redact(p.URL))
	}
	form := url.Values{"query": {query}}
	if !at.IsZero() {
		form.Set("time", strconv.FormatFloat(float64(at.UnixMilli())/1000, 'f', 3, 64))
	}
	endpoint := base.JoinPath("api/v1/query")
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint.String(), strings.NewReader(form.Encode()))
	if err != nil {
		return verify.MetricResult{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	p.Credentials.apply(req)
	resp, err := p.client().Do(req)
	if err != nil {
		return verify.MetricResult{}, fmt.Errorf("querying %s: %w", redact(endpoint.String()), unwrapURLError(err))
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	if err != nil {
		return verify.MetricResult{}, fmt.Errorf("reading the response of %s: %w", redact(endpoint.String()), err)
	}
	if len(body) > maxResponse {
		return verify.MetricResult{}, fmt.Errorf("the response of %s is larger than %d bytes", redact(endpoint.String()), maxResponse)
	}
	return parseQueryResponse(resp.StatusCode, body)
}

func (p *Prometheus) client() *http.Client {
	if p.Client != nil {
		return p.Client
	}
	return &http.Client{Timeout: 30 * time.Second}
}

// queryResponse is the Prometheus HTTP API's envelope.
type queryResponse struct {
	Status    string `json:"status"`
	ErrorType string `json:"errorType"`
	Error     string `json:"error"`
	// Warnings come with a successful answer that may be wrong or partial
	// (Thanos' partial responses: a store not reached; PromQL's own
	// warnings, e.g. a histogram's malformed buckets).
	// Prometheus' info annotations come in infos, or here prefixed
	// "PromQL info:" (before 2.52), and leave the data whole.
	Warnings []string `json:"warnings"`
	// IsPartial is VictoriaMetrics' (cluster version) mark of an answer
	// missing a storage node's data.
	IsPartial bool `json:"isPartial"`
	Data      struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	} `json:"data"`
}

// parseQueryResponse turns an API response into samples.
func parseQueryResponse(code int, body []byte) (verify.MetricResult, error) {
	var r queryResponse
	if err := json.Unmarshal(body, &r); err != nil {
		return verify.MetricResult{}, fmt.Errorf("HTTP %d, not a Prometheus API response: %.200q", code, body)
	}
	if r.Status != "success" {
		return verify.MetricResult{}, fmt.Errorf("HTTP %d: %s: %s", code, r.ErrorType, r.Error)
	}
	// An answer that may lack a store's series (the cluster whose change
	// fails) says nothing about it: not judged.
	if r.IsPartial {
		return verify.MetricResult{}, errors.New("the endpoint's answer is partial (isPartial: a storage node not reached), not judged")
	}
	for _, w := range r.Warnings {
		if !strings.HasPrefix(w, "PromQL info:") {
			return verify.MetricResult{}, fmt.Errorf("the endpoint's answer may be partial or wrong, not judged: warning: %.300s", w)
		}
	}
	switch r.Data.ResultType {
	case "vector":
		var vec []struct {
			Metric map[string]string `json:"metric"`
			Value  [2]any            `json:"value"`
		}
		if err := json.Unmarshal(r.Data.Result, &vec); err != nil {
			return verify.MetricResult{}, fmt.Errorf("a vector result: %w", err)
		}
		out := verify.MetricResult{Samples: make([]verify.Sample, 0, len(vec))}
		for _, s := range vec {
			v, err := sampleValue(s.Value)
			if err != nil {
				return verify.MetricResult{}, err
			}
			out.Samples = append(out.Samples, verify.Sample{Labels: s.Metric, Value: v})
		}
		return out, nil
	case "scalar":
		var pair [2]any
		if err := json.Unmarshal(r.Data.Result, &pair); err != nil {
			return verify.MetricResult{}, fmt.Errorf("a scalar result: %w", err)
		}
		v, err := sampleValue(pair)
		if err != nil {
			return verify.MetricResult{}, err
		}
		return verify.MetricResult{Samples: []verify.Sample{{Value: v}}}, nil
	}
	return verify.MetricResult{}, fmt.Errorf("the query returned a %s; a check needs an instant vector or a scalar", r.Data.ResultType)
}

// sampleValue parses a [timestamp, "value"] pair's value.
func sampleValue(pair [2]any) (float64, error) {
	s, ok := pair[1].(string)
	if !ok {
		return 0, fmt.Errorf("a sample value %v is not a string", pair[1])
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, fmt.Errorf("a sample value %q: %w", s, err)
	}
	return v, nil
}

// redact drops a URL's user information (a password in a URL must not reach
// a Rollout's status).
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(an unparsable URL)"
	}
	return u.Redacted()
}

// unwrapURLError drops *url.Error's copy of the URL (redact names it once).
func unwrapURLError(err error) error {
	var uerr *url.Error
	if errors.As(err, &uerr) {
		return uerr.Err
	}
	return err
}
