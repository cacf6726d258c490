package measure

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/flotilla-dev/flotilla/internal/verify"
)

// maxHTTPBody is what an HTTP check's condition sees of the body.
const maxHTTPBody = 64 << 10

// HTTPCheck is one request of an HTTP check.
type HTTPCheck struct {
	URL string
	// Method is GET (the default) or HEAD.
	Method      string
	Credentials Credentials
	// Timeout bounds the whole request; a check that times out is
	// Inconclusive, not slow. Zero is 10 s.
	Timeout time.Duration
	// Client sends the request; nil uses http.DefaultTransport.
	Client *http.Client
}

// Do sends the request (a GET unless Method says HEAD) and returns the status code, up to 64 KiB of the body and
// the latency to the end of the body read. Only a request that got no
// response is an error.
func (h *HTTPCheck) Do(ctx context.Context) (verify.HTTPResult, error) {
	timeout := h.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	method := http.MethodGet
	if h.Method == http.MethodHead {
		method = http.MethodHead
	}
	req, err := http.NewRequestWithContext(ctx, method, h.URL, nil)
	if err != nil {
		return verify.HTTPResult{}, fmt.Errorf("HTTP check %s: %w", redact(h.URL), err)
	}
	h.Credentials.apply(req)
	client := h.Client
	if client == nil {
		client = &http.Client{}
	}
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return verify.HTTPResult{}, fmt.Errorf("HTTP check %s: %w", redact(h.URL), unwrapURLError(err))
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxHTTPBody))
	if err != nil {
		return verify.HTTPResult{}, fmt.Errorf("HTTP check %s: reading the body: %w", redact(h.URL), err)
	}
	return verify.HTTPResult{Code: resp.StatusCode, Body: string(body), Latency: time.Since(start)}, nil
}
