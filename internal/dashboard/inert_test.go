package dashboard

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/fleetview"
)

// The attack: a team's DriftException names its owner "db-team, expires
// tomorrow" followed by U+202E (right-to-left override), and a member's
// agent writes a failure message with one and ESC sequences. The dashboard
// answered them as written, and the page drew each in a cell with the hub's
// words: "shop/tolerated (db-team, expires tomorrow‮, expires 2036-…)"
// showed the real expiry reversed, unreadable, after the false one. Every
// string the dashboard answers is now inert, as the CLI prints it.
func TestTheDashboardAnswersTextInert(t *testing.T) {
	expires := time.Date(2036, 1, 1, 0, 0, 0, 0, time.UTC)
	v := fleetview.View{
		Failures: []fleetview.Failure{{Cluster: "eu-1", Promise: "web", Reason: "Unhealthy",
			Message: "ok\x1b[1A\x1b[2K\u202edeliaf\nc-2 Healthy"}},
		Drift: fleetview.Drift{Items: []fleetview.DriftedResource{{Cluster: "eu-1", Kind: "ConfigMap", Name: "cart",
			State: fleetv1alpha1.DriftAccepted, Fields: []string{"data.size\u2066"},
			Exception: &fleetview.DriftExceptionView{Namespace: "shop", Name: "tolerated",
				Owner: "db-team, expires tomorrow\u202e", ExpiresAt: &expires}}}},
		Tiles: []fleetview.ClusterTile{{Name: "eu-1", Revisions: map[string]string{"web": "web-r2\u202e"}}},
	}
	rec := httptest.NewRecorder()
	writeJSON(rec, http.StatusOK, v)

	var got fleetview.View
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatalf("decoding the answer: %v\n%s", err, rec.Body.String())
	}
	for what, s := range map[string]string{
		"failure message":        got.Failures[0].Message,
		"drift field":            got.Drift.Items[0].Fields[0],
		"DriftException's owner": got.Drift.Items[0].Exception.Owner,
		"tile revision":          got.Tiles[0].Revisions["web"],
	} {
		if i := strings.IndexFunc(s, func(r rune) bool { return unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) }); i >= 0 {
			t.Errorf("the %s is answered with %q", what, s)
		}
	}
	if m := got.Failures[0].Message; m != "ok?[1A?[2K?deliaf c-2 Healthy" {
		t.Errorf("failure message = %q", m)
	}
	if e := got.Drift.Items[0].Exception; e.ExpiresAt == nil || !e.ExpiresAt.Equal(expires) {
		t.Errorf("the exception's expiry is %v; want %v", e.ExpiresAt, expires)
	}
}
