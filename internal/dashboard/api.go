package dashboard

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/display"
	"github.com/flotilla-dev/flotilla/internal/fleetview"
	"github.com/flotilla-dev/flotilla/internal/fleetview/hubread"
	"github.com/flotilla-dev/flotilla/internal/rolloutctl"
)

//go:embed static
var staticFS embed.FS

// maxActionBody bounds the JSON body of an action.
const maxActionBody = 16 << 10

// maxMessageLength is the API's bound on a change's message.
const maxMessageLength = 1024

// Actions the page may take on a Rollout.
const (
	ActionApprove  = "approve"
	ActionPause    = "pause"
	ActionResume   = "resume"
	ActionRollback = "rollback"
)

func (s *Server) routes() (*http.ServeMux, error) {
	page, err := template.ParseFS(staticFS, "static/index.html")
	if err != nil {
		return nil, fmt.Errorf("parsing the dashboard page: %w", err)
	}
	assets, err := fs.Sub(staticFS, "static")
	if err != nil {
		return nil, fmt.Errorf("opening the dashboard assets: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		var b bytes.Buffer
		if err := page.Execute(&b, struct{ Token string }{s.token}); err != nil {
			writeError(w, http.StatusInternalServerError, "rendering the page: "+err.Error())
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write(b.Bytes())
	})
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(assets)))
	mux.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFileFS(w, r, assets, "favicon.svg")
	})
	mux.HandleFunc("GET /api/fleet", s.handleFleet)
	mux.HandleFunc("GET /api/whoami", s.handleWhoami)
	mux.HandleFunc("GET /api/rollouts/{ns}/{name}", s.handleRollout)
	mux.HandleFunc("POST /api/rollouts/{ns}/{name}/{action}", s.handleAction)
	return mux, nil
}

// handleFleet answers the fleet's View as the user may see it.
func (s *Server) handleFleet(w http.ResponseWriter, r *http.Request) {
	v, err := s.fleet(r)
	if err != nil {
		writeAPIError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// fleet reads the hub with the user's credentials and builds the View, or
// serves the last one if it is younger than minReadInterval.
//
// The page polls this every two seconds rather than following watches: each
// poll is one consistent read under exactly the user's RBAC (list is all it
// needs; watch may be denied), no connection outlives a request, and a
// hidden tab stops polling. With the reads shared between tabs, the hub
// sees at most one list of each kind per second.
func (s *Server) fleet(r *http.Request) (*fleetview.View, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.Now()
	if s.lastView != nil && now.Sub(s.lastRead) < minReadInterval && now.Sub(s.lastRead) >= 0 {
		return s.lastView, nil
	}
	snap, err := hubread.Read(r.Context(), s.reader, now, hubread.Options{Namespace: s.ns})
	if err != nil {
		return nil, fmt.Errorf("reading the fleet: %w", err)
	}
	v := fleetview.Build(snap)
	s.lastRead, s.lastView = now, &v
	return &v, nil
}

// forget drops the shared fleet read, so the next poll sees an action's effect.
func (s *Server) forget() {
	s.mu.Lock()
	s.lastView = nil
	s.mu.Unlock()
}

// Whoami is who the hub says the user is.
type Whoami struct {
	User string `json:"user"`
}

func (s *Server) handleWhoami(w http.ResponseWriter, r *http.Request) {
	user, err := s.rollouts.Identity(r.Context())
	if err != nil {
		writeAPIError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, Whoami{User: user})
}

// RolloutDetail is one Rollout: its progress as in the fleet View, what
// people asked of it, and its history.
type RolloutDetail struct {
	fleetview.RolloutView
	DesiredState     fleetv1alpha1.RolloutDesiredState `json:"desiredState,omitempty"`
	StateChange      *fleetv1alpha1.ChangeRecord       `json:"stateChange,omitempty"`
	Approvals        []fleetv1alpha1.Approval          `json:"approvals,omitempty"`
	Rollback         *fleetv1alpha1.RollbackRequest    `json:"rollback,omitempty"`
	RollbackRevision string                            `json:"rollbackRevision,omitempty"`
	SupersededBy     string                            `json:"supersededBy,omitempty"`
	History          []fleetv1alpha1.HistoryEntry      `json:"history"`
}

func (s *Server) handleRollout(w http.ResponseWriter, r *http.Request) {
	ro, err := s.rollouts.Get(r.Context(), r.PathValue("ns"), r.PathValue("name"))
	if err != nil {
		writeAPIError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, detailOf(ro, s.clock.Now()))
}

// detailOf builds a RolloutDetail; the progress part is fleetview's, so it
// reads the same as in the fleet View.
func detailOf(ro *fleetv1alpha1.Rollout, now time.Time) RolloutDetail {
	v := fleetview.Build(fleetview.Snapshot{Now: now, Rollouts: []fleetv1alpha1.Rollout{*ro}})
	d := RolloutDetail{
		DesiredState:     ro.Spec.DesiredState,
		StateChange:      ro.Spec.StateChange,
		Approvals:        ro.Spec.Approvals,
		Rollback:         ro.Spec.Rollback,
		RollbackRevision: ro.Status.RollbackRevision,
		SupersededBy:     ro.Status.SupersededBy,
		History:          ro.Status.History,
	}
	if len(v.Rollouts) == 1 {
		d.RolloutView = v.Rollouts[0]
	}
	if d.History == nil {
		d.History = []fleetv1alpha1.HistoryEntry{}
	}
	return d
}

// ActionRequest is the body of an action; every field is optional.
type ActionRequest struct {
	// Message is recorded with the change.
	Message string `json:"message,omitempty"`
	// Wave to approve; empty approves the wave the Rollout waits for.
	Wave string `json:"wave,omitempty"`
	// ToRevision to roll back to; empty is the Rollout's fromRevision.
	ToRevision string `json:"toRevision,omitempty"`
}

// ActionResult is what an action did.
type ActionResult struct {
	Action  string   `json:"action"`
	Changed bool     `json:"changed"`
	Summary string   `json:"summary"`
	Notes   []string `json:"notes,omitempty"`
	// Rollout is the Rollout as written (or as read when nothing changed).
	Rollout RolloutDetail `json:"rollout"`
}

func (s *Server) handleAction(w http.ResponseWriter, r *http.Request) {
	ns, name, action := r.PathValue("ns"), r.PathValue("name"), r.PathValue("action")
	var req ActionRequest
	if err := decodeAction(w, r, &req); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	ctx := r.Context()
	var (
		res *rolloutctl.Result
		err error
	)
	switch action {
	case ActionApprove:
		res, err = s.rollouts.Approve(ctx, ns, name, rolloutctl.ApproveOptions{Wave: req.Wave, Message: req.Message})
	case ActionPause:
		res, err = s.rollouts.Pause(ctx, ns, name, req.Message)
	case ActionResume:
		res, err = s.rollouts.Resume(ctx, ns, name, req.Message)
	case ActionRollback:
		res, err = s.rollouts.Rollback(ctx, ns, name, rolloutctl.RollbackOptions{ToRevision: req.ToRevision, Message: req.Message})
	default:
		writeError(w, http.StatusNotFound, fmt.Sprintf("unknown action %q: want approve, pause, resume or rollback", action))
		return
	}
	log := logr.FromContextOrDiscard(ctx)
	if err != nil {
		log.Info("dashboard action refused", "action", action, "rollout", ns+"/"+name, "error", err.Error())
		writeAPIError(w, r, err)
		return
	}
	s.forget()
	log.Info("dashboard action", "action", action, "rollout", ns+"/"+name, "changed", res.Changed, "summary", res.Summary)
	writeJSON(w, http.StatusOK, ActionResult{
		Action: action, Changed: res.Changed, Summary: res.Summary, Notes: res.Notes,
		Rollout: detailOf(res.Rollout, s.clock.Now()),
	})
}

// decodeAction reads an action's optional JSON body.
func decodeAction(w http.ResponseWriter, r *http.Request, req *ActionRequest) error {
	body := http.MaxBytesReader(w, r.Body, maxActionBody)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(req); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("reading the request body: %w", err)
	}
	if len(req.Message) > maxMessageLength {
		return fmt.Errorf("the message is %d bytes, at most %d are allowed", len(req.Message), maxMessageLength)
	}
	return nil
}

// ErrorBody is the JSON of every error answer.
type ErrorBody struct {
	Error string `json:"error"`
	// Reason is the API server's reason (Forbidden, NotFound, …), if it answered.
	Reason metav1.StatusReason `json:"reason,omitempty"`
}

// writeAPIError answers err with the status that says what happened: the
// API server's refusals keep their code (a Forbidden is a 403 carrying the
// server's message), a rollout that is not there is a 404, a refused
// operation (not waiting for approval, already rolled back…) is a 409, and
// a hub that cannot be reached is a 502.
func writeAPIError(w http.ResponseWriter, r *http.Request, err error) {
	status, reason := statusOf(err)
	if status >= 500 {
		logr.FromContextOrDiscard(r.Context()).Error(err, "dashboard request failed", "path", r.URL.Path)
	}
	writeJSON(w, status, ErrorBody{Error: err.Error(), Reason: reason})
}

func statusOf(err error) (int, metav1.StatusReason) {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return http.StatusGatewayTimeout, ""
	}
	var nf *rolloutctl.NotFoundError
	if errors.As(err, &nf) {
		return http.StatusNotFound, metav1.StatusReasonNotFound
	}
	var apiStatus apierrors.APIStatus
	if errors.As(err, &apiStatus) {
		st := apiStatus.Status()
		switch code := int(st.Code); code {
		case http.StatusForbidden, http.StatusUnauthorized, http.StatusNotFound,
			http.StatusConflict, http.StatusUnprocessableEntity, http.StatusBadRequest:
			return code, st.Reason
		default:
			return http.StatusBadGateway, st.Reason
		}
	}
	var urlErr *url.Error
	var netErr net.Error
	if errors.As(err, &urlErr) || errors.As(err, &netErr) {
		return http.StatusBadGateway, ""
	}
	// rolloutctl refused the operation for what the Rollout is now.
	return http.StatusConflict, ""
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, ErrorBody{Error: msg})
}

// writeJSON answers v as JSON, every string in it inert (inertJSON).
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := inertJSON(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":"encoding the answer failed"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// inertJSON is v as JSON with every string (and key) on one line, its
// control characters and Unicode's bidirectional controls replaced by "?"
// (display.Printable), as every printer of the CLI shows text from the API.
// The page shows what agents and teams wrote (a Work's message, drift
// fields, a DriftException's owner) in cells with the hub's words: a
// U+202E there reversed what followed it, such as the exception's expiry.
func inertJSON(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber() // numbers as they were
	var tree any
	if err := d.Decode(&tree); err != nil {
		return nil, err
	}
	return json.Marshal(inert(tree))
}

// inert replaces, in a decoded JSON value, every string by its printable form.
func inert(v any) any {
	switch t := v.(type) {
	case string:
		return display.Printable(t)
	case []any:
		for i := range t {
			t[i] = inert(t[i])
		}
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, x := range t {
			out[display.Printable(k)] = inert(x)
		}
		return out
	}
	return v
}
