package gitdelivery

import (
	"context"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// A team chooses its instances' names, and the API server takes any DNS
// subdomain as a custom resource's name: up to 253 characters. A cluster's
// files are committed together, so an instance whose file name cannot be
// written (a name of 251 characters or more gives "<name>.yaml" over the 255
// bytes a file name may have) must not keep every other team's Works, and
// the platform's fleet resources, off a git-delivered cluster.
func TestALongInstanceNameDoesNotStopTheClustersPublish(t *testing.T) {
	long := strings.Repeat("a", 253)
	if errs := validation.IsDNS1123Subdomain(long); len(errs) > 0 {
		t.Fatalf("not an instance name the API server takes: %v", errs)
	}
	works := []fleetv1alpha1.Work{
		work("db", "team-a", "orders", nil, `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"orders","namespace":"team-a"}}`),
		work("db", "team-b", long, nil, `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x","namespace":"team-b"}}`),
		work("db", "", "", nil, `{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"db-system"}}`),
	}
	works[1].Name = "db-long"
	files, err := Files("clusters/a", works)
	if err != nil {
		t.Fatal(err)
	}
	url, dir := bareRepo(t)
	p := testPublisher(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := p.Publish(ctx, "a", Target{URL: url, Branch: "main", Path: "clusters/a"}, nil, files, "flotilla(a): test\n"); err != nil {
		t.Fatalf("team b's instance name kept team a's and the platform's Works off the cluster: %v", err)
	}
	got := gitOut(t, dir, "ls-tree", "-r", "--name-only", "main")
	for _, want := range []string{"clusters/a/db/team-a/orders.yaml", "clusters/a/db/_fleet.yaml"} {
		if !strings.Contains(got, want) {
			t.Errorf("%s is not on main:\n%s", want, got)
		}
	}
	for p := range files {
		for _, part := range strings.Split(p, "/") {
			if len(part) > 255 {
				t.Errorf("a path component of %d bytes (%s…): no checkout of the branch (Argo CD's, Flux's) can write it", len(part), part[:20])
			}
		}
	}
}

// Names that fit keep their file; two long names that share their first
// 200 characters get two files.
func TestLongInstanceNamesGetDistinctFiles(t *testing.T) {
	fits := strings.Repeat("b", 250)
	if got := instanceFile(fits); got != fits+".yaml" {
		t.Errorf("a 250-character name's file is %q", got)
	}
	a, b := instanceFile(strings.Repeat("c", 252)+"x"), instanceFile(strings.Repeat("c", 252)+"y")
	if a == b || len(a) > 255 || len(b) > 255 || !strings.HasPrefix(a, "_") {
		t.Errorf("files %q and %q", a, b)
	}
}
