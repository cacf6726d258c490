package install

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// TestDeploymentArgs: the flotilla binary accepts the command line of every
// Deployment the manifests render (cobra refuses an unknown flag before it
// prints --help).
func TestDeploymentArgs(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "flotilla")
	build := exec.Command("go", "build", "-o", bin, "./cmd/flotilla")
	build.Dir = repoRoot
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building flotilla: %v\n%s", err, out)
	}
	for name, objs := range map[string][]*unstructured.Unstructured{
		"config/hub":                        kustomize(t, hubDir),
		"charts/flotilla":                   mustHelmTemplate(t, nil),
		"charts/flotilla, features off":     mustHelmTemplate(t, map[string]any{"leaderElection": false, "installCRDs": false, "metrics": map[string]any{"enabled": false}}),
		"config/agent with an overlay":      kustomize(t, agentOverlay),
		"config/agent, as the base renders": kustomize(t, agentDir),
	} {
		for _, o := range objs {
			if o.GetKind() != "Deployment" {
				continue
			}
			d := typed(t, o, &appsv1.Deployment{})
			c := d.Spec.Template.Spec.Containers[0]
			if len(c.Command) != 1 || c.Command[0] != "flotilla" {
				t.Errorf("%s: command %v", name, c.Command)
				continue
			}
			// The kubelet expands $(VAR) from the container's environment.
			args := make([]string, 0, len(c.Args)+1)
			for _, a := range c.Args {
				args = append(args, strings.ReplaceAll(a, "$(FLOTILLA_CLUSTER)", "edge-1"))
			}
			out, err := exec.Command(bin, append(args, "--help")...).CombinedOutput()
			if err != nil {
				t.Errorf("%s: flotilla %s: %v\n%s", name, strings.Join(c.Args, " "), err, out)
			}
		}
	}
}
