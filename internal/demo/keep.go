package demo

import (
	"context"
	"fmt"
	"io"
	"path/filepath"

	"github.com/flotilla-dev/flotilla/internal/devenv"
)

// keep leaves the fleet running until ctx ends (Ctrl-C, or `flotilla dev
// down --dir DIR`, which signals this process), after saying how to reach it.
func keep(ctx context.Context, env *devenv.Env, out io.Writer) {
	dir := displayPath(env.Dir)
	hub := filepath.Join(dir, devenv.HubKubeconfig)
	fmt.Fprintf(out, "\nThe fleet stays up. Kubeconfigs (admin):\n")
	fmt.Fprintf(out, "  %-9s %s\n", "hub", hub)
	for i, m := range env.Members {
		fmt.Fprintf(out, "  %-9s %s   (wave %s)\n", m.Name, filepath.Join(dir, m.Name+".kubeconfig"), waveOf(i+1))
	}
	fmt.Fprintf(out, "Dashboard: flotilla dashboard --kubeconfig %s\n", hub)
	fmt.Fprintf(out, "Try:\n")
	fmt.Fprintf(out, "  export KUBECONFIG=%s\n", hub)
	fmt.Fprintf(out, "  flotilla rollout list\n")
	fmt.Fprintf(out, "  flotilla rollout history %s-3\n", promiseName)
	fmt.Fprintf(out, "  kubectl get clusters -L %s\n", waveLabel)
	fmt.Fprintf(out, "  kubectl get webs -A\n")
	fmt.Fprintf(out, "Logs: %s, %s\n", filepath.Join(dir, "hub", "controller.log"), filepath.Join(dir, "member-*", "agent.log"))
	fmt.Fprintf(out, "Press Ctrl-C (or run `flotilla dev down --dir %s`) to stop.\n", dir)
	<-ctx.Done()
}
