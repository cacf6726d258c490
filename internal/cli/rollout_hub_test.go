//go:build !agent

package cli

import (
	"bytes"
	"context"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/testenv"
)

// The verbs wired end to end, through the command tree, against a real hub
// API server (the operations themselves are tested in internal/rolloutctl).
func TestRolloutVerbsAgainstAHub(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// The revisions the rollback may name must exist: the CLI checks them.
	hub, c := rolloutHub(ctx, t, "app-r0", "app-r1", "app-r2")
	r := &fleetv1alpha1.Rollout{
		ObjectMeta: metav1.ObjectMeta{Name: "app-r2", Namespace: fleetv1alpha1.PlatformNamespace},
		Spec:       fleetv1alpha1.RolloutSpec{Subject: fleetv1alpha1.RolloutSubject{Promise: "app"}, FromRevision: "app-r1", TargetRevision: "app-r2"},
	}
	if err := c.Create(ctx, r); err != nil {
		t.Fatal(err)
	}
	r.Status = fleetv1alpha1.RolloutStatus{Phase: fleetv1alpha1.RolloutPhaseWaitingForApproval, CurrentWave: "canary",
		Waves: []fleetv1alpha1.WaveStatus{{Name: "canary", Phase: fleetv1alpha1.WavePhaseWaitingForApproval, Clusters: []string{"a"}}}}
	if err := c.Status().Update(ctx, r); err != nil {
		t.Fatal(err)
	}

	run := func(ctx context.Context, out io.Writer, args ...string) error {
		root := newRootCommand()
		root.SetOut(out)
		root.SetErr(out)
		root.SetArgs(append(args, "--kubeconfig", hub.KubeconfigPath))
		return root.ExecuteContext(ctx)
	}
	steps := []struct {
		args    []string
		want    string
		wantErr string
	}{
		{args: []string{"rollout", "list"}, want: "app-r2  app      app-r2  Progressive  WaitingForApproval  canary"},
		{args: []string{"rollout", "approve", "app-r2", "-m", "go"}, want: "wave canary of rollout app-r2 approved by admin"},
		{args: []string{"rollout", "approve", "app-r2", "--wave", "prod"}, wantErr: `rollout app-r2 has no wave "prod"; its waves are: canary`},
		{args: []string{"rollout", "pause", "app-r2"}, want: "resume it with: flotilla rollout resume app-r2\n"},
		{args: []string{"rollout", "rollback", "app-r2", "--to-revision", "app-r0"}, want: "rollback of rollout app-r2 to app-r0 requested by admin"},
		{args: []string{"rollout", "abort", "app-r2"}, want: "a rollback wins over an abort"},
		{args: []string{"rollout", "resume", "app-r2"}, wantErr: "an aborted rollout cannot be resumed"},
		{args: []string{"rollout", "status", "app-r2"}, want: "Rollback:  to app-r0, requested by admin at "},
		{args: []string{"rollout", "status", "app-r2", "-o", "json"}, want: `"desiredState": "Aborted"`},
		{args: []string{"rollout", "history", "app-r2"}, want: "rollout app-r2 has no history yet\n"},
		{args: []string{"rollout", "status", "app-r2", "-n", "team-a"}, wantErr: "rollout app-r2 not found in namespace team-a"},
		{args: []string{"freeze", "--reason", "incident 42", "--until", "2h"}, want: "fleet frozen by admin (FleetFreeze fleet-freeze, action Halt)"},
		{args: []string{"freeze", "--reason", "again"}, wantErr: "FleetFreeze fleet-freeze already exists"},
		{args: []string{"unfreeze"}, want: "FleetFreeze fleet-freeze removed (Halt, by admin: incident 42)"},
		{args: []string{"upgrade", "postgres/orders", "-n", "team-a"}, wantErr: "no Promise serves kind postgres"},
	}
	for _, s := range steps {
		var b bytes.Buffer
		err := run(ctx, &b, s.args...)
		out := b.String()
		switch {
		case s.wantErr != "" && (err == nil || !strings.Contains(err.Error(), s.wantErr)):
			t.Errorf("flotilla %s: error %v, want %q (output %q)", strings.Join(s.args, " "), err, s.wantErr, out)
		case s.wantErr == "" && (err != nil || !strings.Contains(out, s.want)):
			t.Errorf("flotilla %s: %v, output:\n%s\nwant it to contain %q", strings.Join(s.args, " "), err, out, s.want)
		}
	}

	// status -w, piped, prints a line per change and returns once the rollout is terminal.
	out := &syncBuffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, out, "rollout", "status", "-w", "app-r2") }()
	for !strings.Contains(out.String(), "  WaitingForApproval  wave canary  0/0 healthy") {
		select {
		case err := <-done:
			t.Fatalf("status -w ended early: %v, output:\n%s", err, out)
		case <-time.After(20 * time.Millisecond):
		}
	}
	if err := c.Get(ctx, client.ObjectKeyFromObject(r), r); err != nil {
		t.Fatal(err)
	}
	r.Status.Phase = fleetv1alpha1.RolloutPhaseRolledBack
	if err := c.Status().Update(ctx, r); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil || !strings.Contains(out.String(), "  RolledBack  wave canary") {
			t.Errorf("status -w: %v, output:\n%s", err, out)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("status -w did not return once the rollout rolled back")
	}
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// A rollback request whose toRevision names no revision of the subject
// (written with kubectl by a team member: the API server checks only that
// it starts "app-") holds the rollout Stalled. Whoever pauses, aborts or
// replaces it then read that toRevision in the command's summary, printed
// as it was: escape sequences included, which rewrote the terminal. And a
// pause of such a rollout said "aborted by …, so the abort ends it", which
// it does not: a paused rollout stays, Stalled, until the rollback is
// replaced or the rollout aborted.
func TestAStalledRollbacksRevisionIsPrintedInert(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	hub, c := rolloutHub(ctx, t, "app-r1", "app-r2")
	const forged = "app-\x1b[1A\x1b[2K\rrollout app-r2 resumed by cto@example.com\n"
	for _, name := range []string{"stuck-pause", "stuck-abort", "stuck-rollback"} {
		r := &fleetv1alpha1.Rollout{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: fleetv1alpha1.PlatformNamespace},
			Spec: fleetv1alpha1.RolloutSpec{Subject: fleetv1alpha1.RolloutSubject{Promise: "app"}, FromRevision: "app-r1", TargetRevision: "app-r2",
				Rollback: &fleetv1alpha1.RollbackRequest{ToRevision: forged, ChangeRecord: fleetv1alpha1.ChangeRecord{By: "bob"}}},
		}
		if err := c.Create(ctx, r); err != nil {
			t.Fatal(err)
		}
		r.Status = fleetv1alpha1.RolloutStatus{Phase: fleetv1alpha1.RolloutPhaseProgressing, CurrentWave: "canary",
			Waves: []fleetv1alpha1.WaveStatus{{Name: "canary", Phase: fleetv1alpha1.WavePhaseProgressing, Clusters: []string{"a"}}}}
		if err := c.Status().Update(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	for _, args := range [][]string{
		{"rollout", "pause", "stuck-pause"},
		{"rollout", "abort", "stuck-abort"},
		{"rollout", "rollback", "stuck-rollback", "--to-revision", "app-r1"},
	} {
		var stdout, stderr bytes.Buffer
		code := execute(ctx, append(append([]string{"flotilla"}, args...), "--kubeconfig", hub.KubeconfigPath), &stdout, &stderr)
		out := stdout.String() + stderr.String()
		if code != 0 {
			t.Errorf("flotilla %s: exit %d: %s", strings.Join(args, " "), code, out)
		}
		if strings.ContainsAny(out, "\x1b\r") || strings.Contains(strings.TrimSuffix(out, "\n"), "cto@example.com\n") {
			t.Errorf("flotilla %s printed the team's escape sequences or line: %q", strings.Join(args, " "), out)
		}
		if args[1] == "pause" && (strings.Contains(out, "aborted by") || strings.Contains(out, "the abort ends it") || !strings.Contains(out, "paused by admin")) {
			t.Errorf("flotilla rollout pause of a stalled rollback says %q, want that it paused, not aborted", out)
		}
	}
}

// rolloutHub starts a hub with Flotilla's CRDs, the platform namespace and,
// for Promise app, the PromiseRevisions named revisions (numbered in order).
func rolloutHub(ctx context.Context, t *testing.T, revisions ...string) (*testenv.ControlPlane, client.Client) {
	t.Helper()
	hub := testenv.NewHub(t)
	c := installCRDs(ctx, t, hub)
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: fleetv1alpha1.PlatformNamespace}}); err != nil {
		t.Fatal(err)
	}
	for i, name := range revisions {
		rev := &fleetv1alpha1.PromiseRevision{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: fleetv1alpha1.PromiseRevisionSpec{Promise: "app", Revision: int64(i + 1), ContentHash: strings.Repeat("0123456789abcdef", 4),
				Content: fleetv1alpha1.PromiseContent{API: fleetv1alpha1.PromiseAPI{Group: "platform.example.com", Kind: "App",
					Schema: runtime.RawExtension{Raw: []byte(`{"type":"object"}`)}}}},
		}
		if err := c.Create(ctx, rev); err != nil {
			t.Fatal(err)
		}
	}
	return hub, c
}
