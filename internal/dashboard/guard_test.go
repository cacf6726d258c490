package dashboard

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestCheckListenAddress(t *testing.T) {
	for _, tc := range []struct {
		listen  string
		wantErr string
	}{
		{"127.0.0.1:8089", ""},
		{"127.0.0.1:0", ""},
		{"127.1.2.3:80", ""},
		{"[::1]:8089", ""},
		{"localhost:8089", ""},
		{"0.0.0.0:8089", "loopback only"},
		{":8089", "loopback only"},
		{"[::]:8089", "loopback only"},
		{"192.168.1.10:8089", "loopback only"},
		{"example.com:8089", "loopback only"},
		{"127.0.0.1", "want host:port"},
		{"127.0.0.1:http", "is not a number"},
		{"127.0.0.1:70000", "is not a number"},
	} {
		err := CheckListenAddress(tc.listen)
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("%s: %v", tc.listen, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("%s: error %v, want %q", tc.listen, err, tc.wantErr)
		}
	}
}

// The guard's decisions, request by request: Host for everything, the token
// for the API, the origin for changes.
func TestGuard(t *testing.T) {
	s := &Server{token: "s3cret"}
	withToken := func(r *http.Request) { r.Header.Set(TokenHeader, "s3cret") }
	for _, tc := range []struct {
		name       string
		method     string
		path       string
		host       string
		tweak      []func(*http.Request)
		wantStatus int
		wantMsg    string
	}{
		{name: "page on 127.0.0.1", method: "GET", path: "/", host: "127.0.0.1:8089"},
		{name: "page on localhost", method: "GET", path: "/", host: "LocalHost:8089"},
		{name: "page on ::1", method: "GET", path: "/", host: "[::1]:8089"},
		{name: "page on a rebound name", method: "GET", path: "/", host: "attacker.example:8089",
			wantStatus: http.StatusMisdirectedRequest, wantMsg: "loopback host name"},
		{name: "page on a LAN address", method: "GET", path: "/", host: "192.168.1.5:8089", wantStatus: http.StatusMisdirectedRequest},
		{name: "page with no host", method: "GET", path: "/", host: "", wantStatus: http.StatusMisdirectedRequest, wantMsg: "empty Host"},
		{name: "api without token", method: "GET", path: "/api/fleet", host: "127.0.0.1:8089",
			wantStatus: http.StatusForbidden, wantMsg: TokenHeader},
		{name: "api with a wrong token", method: "GET", path: "/api/fleet", host: "127.0.0.1:8089",
			tweak: []func(*http.Request){func(r *http.Request) { r.Header.Set(TokenHeader, "guess") }}, wantStatus: http.StatusForbidden},
		{name: "api with token", method: "GET", path: "/api/fleet", host: "127.0.0.1:8089", tweak: []func(*http.Request){withToken}},
		{name: "action from the page", method: "POST", path: "/api/rollouts/a/b/pause", host: "127.0.0.1:8089",
			tweak: []func(*http.Request){withToken, func(r *http.Request) {
				r.Header.Set("Origin", "http://127.0.0.1:8089")
				r.Header.Set("Sec-Fetch-Site", "same-origin")
			}}},
		{name: "action from a script (no Origin)", method: "POST", path: "/api/rollouts/a/b/pause", host: "127.0.0.1:8089",
			tweak: []func(*http.Request){withToken}},
		{name: "action from another origin", method: "POST", path: "/api/rollouts/a/b/pause", host: "127.0.0.1:8089",
			tweak:      []func(*http.Request){withToken, func(r *http.Request) { r.Header.Set("Origin", "http://attacker.example") }},
			wantStatus: http.StatusForbidden, wantMsg: "cross-origin"},
		{name: "action from another port", method: "POST", path: "/api/rollouts/a/b/pause", host: "127.0.0.1:8089",
			tweak:      []func(*http.Request){withToken, func(r *http.Request) { r.Header.Set("Origin", "http://127.0.0.1:9999") }},
			wantStatus: http.StatusForbidden},
		{name: "action from another site", method: "POST", path: "/api/rollouts/a/b/pause", host: "127.0.0.1:8089",
			tweak:      []func(*http.Request){withToken, func(r *http.Request) { r.Header.Set("Sec-Fetch-Site", "cross-site") }},
			wantStatus: http.StatusForbidden, wantMsg: "cross-site"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(tc.method, tc.path, nil)
			r.Host = tc.host
			for _, f := range tc.tweak {
				f(r)
			}
			status, msg := s.guard(r)
			if status != tc.wantStatus || !strings.Contains(msg, tc.wantMsg) {
				t.Errorf("guard = %d %q, want %d containing %q", status, msg, tc.wantStatus, tc.wantMsg)
			}
		})
	}
}

func TestNewTokenIsRandom(t *testing.T) {
	a, err := newToken()
	if err != nil {
		t.Fatal(err)
	}
	b, err := newToken()
	if err != nil {
		t.Fatal(err)
	}
	if a == b || len(a) < 40 {
		t.Errorf("tokens %q and %q: want two different tokens of 32 random bytes", a, b)
	}
}
