package demo

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flotilla-dev/flotilla/internal/devenv"
	"github.com/flotilla-dev/flotilla/internal/testenv"
)

func TestOptionsValidate(t *testing.T) {
	if err := (Options{}).validate(); err == nil || !strings.Contains(err.Error(), "--dir") || !strings.Contains(err.Error(), "output") {
		t.Errorf("empty options: %v", err)
	}
	if err := (Options{Dir: "d", Out: &bytes.Buffer{}}).validate(); err != nil {
		t.Errorf("valid options: %v", err)
	}
	if err := Run(context.Background(), Options{Out: &bytes.Buffer{}}); err == nil {
		t.Error("Run without a directory started")
	}
}

func TestWaves(t *testing.T) {
	var got []string
	for i := 1; i <= memberCount; i++ {
		got = append(got, waveOf(i))
	}
	if want := "pilot canary canary general general"; strings.Join(got, " ") != want {
		t.Errorf("waves %v, want %s", got, want)
	}
}

func TestDisplayPath(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	if got := displayPath(filepath.Join(wd, "x", "y")); got != filepath.Join("x", "y") {
		t.Errorf("a path below the working directory shows as %q", got)
	}
	if got := displayPath("/"); got != "/" {
		t.Errorf("a path above the working directory shows as %q", got)
	}
}

func TestKeepSaysHowToReachTheFleetAndWaits(t *testing.T) {
	dir := t.TempDir()
	env := &devenv.Env{Dir: dir, Members: []*testenv.ControlPlane{{Name: "member-1"}, {Name: "member-2"}}}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out bytes.Buffer
	keep(ctx, env, &out, DefaultDashboardAddress)
	for _, want := range []string{
		filepath.Join(dir, devenv.HubKubeconfig),
		filepath.Join(dir, "member-2.kubeconfig") + "   (wave canary)",
		"Dashboard: not started (no hub); run: flotilla dashboard --kubeconfig " + filepath.Join(dir, devenv.HubKubeconfig),
		"flotilla dev down --dir " + dir,
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("keep's output lacks %q:\n%s", want, out.String())
		}
	}
}
