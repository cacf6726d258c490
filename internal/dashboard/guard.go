package dashboard

import (
	"crypto/subtle"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// TokenHeader carries the per-process token on every API request.
const TokenHeader = "X-Flotilla-Token"

// contentSecurityPolicy lets the page load only its own script and style,
// talk only to its own origin, and never be framed (no clickjacking of the
// Approve button).
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

func setSecurityHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
}

// guard returns a status and a message for a request to refuse, or 0.
//
//   - Every request must name a loopback host (Host header): a page on
//     another site that rebinds its DNS name to 127.0.0.1 sends its own
//     name, and is refused before it can read the page (and its token).
//   - API requests must carry the token, which only the served page knows:
//     a cross-site page can neither read it nor send the header without a
//     CORS preflight this server never grants.
//   - Requests that change something must not come from another origin
//     (Origin, and Sec-Fetch-Site where the browser sends it).
func (s *Server) guard(r *http.Request) (int, string) {
	if !loopbackHostHeader(r.Host) {
		return http.StatusMisdirectedRequest, "the dashboard answers only to a loopback host name (127.0.0.1, [::1] or localhost), not " + quoteHost(r.Host)
	}
	if !strings.HasPrefix(r.URL.Path, "/api/") {
		return 0, ""
	}
	if got := r.Header.Get(TokenHeader); subtle.ConstantTimeCompare([]byte(got), []byte(s.token)) != 1 {
		return http.StatusForbidden, "missing or wrong " + TokenHeader + ": reload the dashboard page"
	}
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return 0, ""
	}
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		return http.StatusForbidden, "cross-site request refused (Sec-Fetch-Site " + site + ")"
	}
	if origin := r.Header.Get("Origin"); origin != "" && !sameOrigin(origin, r.Host) {
		return http.StatusForbidden, "cross-origin request refused (Origin " + origin + ")"
	}
	return 0, ""
}

// loopbackHostHeader reports whether a Host header names a loopback host.
func loopbackHostHeader(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	return isLoopbackHost(strings.ToLower(host))
}

// sameOrigin reports whether origin is http://<host> (host as in the Host header).
func sameOrigin(origin, host string) bool {
	u, err := url.Parse(origin)
	if err != nil {
		return false
	}
	return u.Scheme == "http" && strings.EqualFold(u.Host, host) && u.Path == "" && u.User == nil
}

func quoteHost(h string) string {
	if h == "" {
		return "an empty Host"
	}
	if len(h) > 100 {
		h = h[:100] + "…"
	}
	return `"` + h + `"`
}
