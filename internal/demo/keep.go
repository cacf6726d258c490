package demo

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/flotilla-dev/flotilla/internal/dashboard"
	"github.com/flotilla-dev/flotilla/internal/devenv"
)

// keep leaves the fleet running until ctx ends (Ctrl-C, or `flotilla dev
// down --dir DIR`, which signals this process), with the dashboard served on
// dashboardAddress, after saying how to reach both.
func keep(ctx context.Context, env *devenv.Env, out io.Writer, dashboardAddress string) {
	dir := displayPath(env.Dir)
	hub := filepath.Join(dir, devenv.HubKubeconfig)
	fmt.Fprintf(out, "\nThe fleet stays up. Kubeconfigs (admin):\n")
	fmt.Fprintf(out, "  %-9s %s\n", "hub", hub)
	for i, m := range env.Members {
		fmt.Fprintf(out, "  %-9s %s   (wave %s)\n", m.Name, filepath.Join(dir, m.Name+".kubeconfig"), waveOf(i+1))
	}
	if url, err := startDashboard(ctx, env, dashboardAddress); err != nil {
		fmt.Fprintf(out, "Dashboard: not started (%v); run: flotilla dashboard --kubeconfig %s\n", err, hub)
	} else {
		fmt.Fprintf(out, "Dashboard: %s   (as the hub's admin; `flotilla dashboard --kubeconfig %s` serves another)\n", url, hub)
	}
	fmt.Fprintf(out, "Try:\n")
	fmt.Fprintf(out, "  export KUBECONFIG=%s\n", hub)
	fmt.Fprintf(out, "  flotilla status\n")
	fmt.Fprintf(out, "  flotilla rollout list\n")
	fmt.Fprintf(out, "  flotilla rollout history %s-3\n", promiseName)
	fmt.Fprintf(out, "  kubectl get clusters -L %s\n", waveLabel)
	fmt.Fprintf(out, "  kubectl get webs -A\n")
	fmt.Fprintf(out, "Logs: %s, %s\n", filepath.Join(dir, "hub", "controller.log"), filepath.Join(dir, "member-*", "agent.log"))
	fmt.Fprintf(out, "Press Ctrl-C (or run `flotilla dev down --dir %s`) to stop.\n", dir)
	<-ctx.Done()
}

// startDashboard serves the dashboard over the hub's admin credentials until
// ctx ends and returns its URL. If address is taken (another dashboard, say),
// any free loopback port will do.
func startDashboard(ctx context.Context, env *devenv.Env, address string) (string, error) {
	if env.Hub == nil {
		return "", fmt.Errorf("no hub")
	}
	url, err := serveDashboard(ctx, env, address)
	if err != nil {
		url, err = serveDashboard(ctx, env, "127.0.0.1:0")
	}
	return url, err
}

func serveDashboard(ctx context.Context, env *devenv.Env, address string) (string, error) {
	started := make(chan string, 1)
	failed := make(chan error, 1)
	go func() {
		failed <- dashboard.Serve(ctx, env.Hub.RESTConfig, address, func(url string) { started <- url })
	}()
	select {
	case url := <-started:
		return url, nil
	case err := <-failed:
		return "", err
	case <-time.After(30 * time.Second):
		return "", fmt.Errorf("the dashboard did not start on %s within 30s", address)
	}
}
