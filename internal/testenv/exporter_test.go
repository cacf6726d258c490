package testenv

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Each scrape serves the ratio as a gauge and moves the request counters on
// by 10 requests, the ratio of them answered 500.
func TestMetricExporter(t *testing.T) {
	e := StartMetricExporter(t)
	e.Set("eu-1", 0.5)
	scrape := func() string {
		t.Helper()
		resp, err := http.Get(e.URL + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = resp.Body.Close() }()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return string(body)
	}
	scrape()
	got := scrape()
	for _, want := range []string{
		`app_error_ratio{cluster="eu-1"} 0.5`,
		`app_requests_total{cluster="eu-1",code="200"} 10`,
		`app_requests_total{cluster="eu-1",code="500"} 10`,
	} {
		if !strings.Contains(got, want+"\n") {
			t.Errorf("no %q in\n%s", want, got)
		}
	}
	// WaitScraped returns after two more scrapes.
	done := make(chan struct{})
	defer close(done)
	go func() {
		for {
			select {
			case <-done:
				return
			case <-time.After(10 * time.Millisecond):
				if resp, err := http.Get(e.URL + "/metrics"); err == nil {
					_ = resp.Body.Close()
				}
			}
		}
	}()
	e.WaitScraped(t)
}
