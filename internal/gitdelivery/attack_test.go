package gitdelivery

import (
	"path"
	"testing"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// A team names its instance "kustomization": its file must not be one that
// kustomize (and so Flux's kustomize-controller, which then builds the
// team's directory as a kustomization instead of generating one for the
// cluster) reads as a Kustomization. Such a file holds the team's objects,
// not a Kustomization, so the build of the whole cluster's directory fails
// and no team's change reaches the member.
func TestAnInstanceNamedKustomizationIsNotAKustomizationFile(t *testing.T) {
	files, err := Files("clusters/a", []fleetv1alpha1.Work{
		work("db", "team-a", "kustomization", nil, `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"kustomization","namespace":"team-a"}}`),
		work("db", "team-a", "orders", nil, `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"orders","namespace":"team-a"}}`),
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 2 {
		t.Fatalf("files: %v", files)
	}
	for p := range files {
		switch path.Base(p) {
		case "kustomization.yaml", "kustomization.yml", "Kustomization":
			t.Errorf("%s is a file kustomize reads as a Kustomization", p)
		}
	}
}
