package render

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/flotilla-dev/flotilla/api/v1alpha1"
)

var update = flag.Bool("update", false, "rewrite the want files of golden tests and the packaged test charts")

// A golden case is a directory testdata/<case>/ (charts/ holds test charts) with
//
//	base.txt         optional: the name of another case whose input files are
//	                 used where this case has none
//	promise.yaml     a Promise (its spec is the revision's content)
//	instance.yaml    the instance (cases named fleet-* render fleet resources and have none)
//	cluster.yaml     a Cluster (name, labels, status.kubernetesVersion); absent: SampleCluster
//	overrides.yaml   Overrides, one YAML document each, in the order to apply
//	want.yaml        the expected manifests, after a comment listing the applied Overrides
//	want-error.txt   instead of want.yaml: a substring of the expected error
//
// A Helm Promise's chart comes from testdata/charts/<chart>-<version>.tgz,
// named by its spec.templates.helm.repository. `go test -update` rewrites
// want.yaml, or want-error.txt with the whole error.
func TestGolden(t *testing.T) {
	dirs := caseDirs(t)
	if len(dirs) == 0 {
		t.Fatal("no golden cases")
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			in := loadCase(t, dir)
			got, err := renderCase(in)
			wantFile := filepath.Join(dir, "want.yaml")
			errFile := filepath.Join(dir, "want-error.txt")
			if *update {
				writeGolden(t, wantFile, errFile, got, err)
				return
			}
			if want, rerr := os.ReadFile(errFile); rerr == nil {
				if err == nil {
					t.Fatalf("rendered without error; want an error containing %q", strings.TrimSpace(string(want)))
				}
				if !strings.Contains(err.Error(), strings.TrimSpace(string(want))) {
					t.Fatalf("error\n  %v\ndoes not contain\n  %s", err, strings.TrimSpace(string(want)))
				}
				return
			}
			if err != nil {
				t.Fatalf("render: %v", err)
			}
			want, rerr := os.ReadFile(wantFile)
			if rerr != nil {
				t.Fatalf("%v (run go test -update to create it)", rerr)
			}
			if string(got) != string(want) {
				t.Errorf("%s differs (go test -update rewrites it); got:\n%s", wantFile, got)
			}
			again, err := renderCase(in)
			if err != nil || !bytes.Equal(again, got) {
				t.Errorf("a second render differs (err %v)", err)
			}
		})
	}
}

// caseDirs lists the golden case directories.
func caseDirs(t testing.TB) []string {
	t.Helper()
	entries, err := os.ReadDir("testdata")
	if err != nil {
		t.Fatal(err)
	}
	var dirs []string
	for _, e := range entries {
		if e.IsDir() && e.Name() != "charts" {
			dirs = append(dirs, filepath.Join("testdata", e.Name()))
		}
	}
	return dirs
}

// caseFile finds an input file of a case, in the case or, failing that, in its base.
func caseFile(t testing.TB, dir, name string) (string, bool) {
	t.Helper()
	if p := filepath.Join(dir, name); exists(p) {
		return p, true
	}
	base, err := os.ReadFile(filepath.Join(dir, "base.txt"))
	if err != nil {
		return "", false
	}
	return caseFile(t, filepath.Join("testdata", strings.TrimSpace(string(base))), name)
}

func writeGolden(t *testing.T, wantFile, errFile string, got []byte, err error) {
	t.Helper()
	if err != nil {
		_ = os.Remove(wantFile)
		if werr := os.WriteFile(errFile, []byte(err.Error()+"\n"), 0o644); werr != nil {
			t.Fatal(werr)
		}
		return
	}
	_ = os.Remove(errFile)
	if werr := os.WriteFile(wantFile, got, 0o644); werr != nil {
		t.Fatal(werr)
	}
}

// renderCase renders and formats the output as want.yaml holds it.
func renderCase(in Input) ([]byte, error) {
	render := Render
	if in.Instance == nil {
		render = RenderFleetResources
	}
	out, err := render(in)
	if err != nil {
		return nil, err
	}
	return formatOutput(out)
}

func formatOutput(out Output) ([]byte, error) {
	var b bytes.Buffer
	applied := strings.Join(out.AppliedOverrides, ", ")
	if applied == "" {
		applied = "none"
	}
	b.WriteString("# overrides applied: " + applied + "\n")
	for _, m := range out.Manifests {
		y, err := yaml.Marshal(m.Object)
		if err != nil {
			return nil, err
		}
		b.WriteString("---\n")
		b.Write(y)
	}
	return b.Bytes(), nil
}

func loadCase(t testing.TB, dir string) Input {
	t.Helper()
	var p v1alpha1.Promise
	promiseFile, ok := caseFile(t, dir, "promise.yaml")
	if !ok {
		t.Fatalf("%s has no promise.yaml", dir)
	}
	readYAML(t, promiseFile, &p)
	in := Input{
		Promise:  p.Name,
		Revision: v1alpha1.PromiseRevisionName(p.Name, "0123456789abcdef"),
		Content:  &p.Spec.PromiseContent,
		Cluster:  SampleCluster(),
	}
	if f, ok := caseFile(t, dir, "instance.yaml"); ok && !strings.HasPrefix(filepath.Base(dir), "fleet-") {
		in.Instance = &unstructured.Unstructured{}
		readYAML(t, f, &in.Instance.Object)
	}
	if f, ok := caseFile(t, dir, "cluster.yaml"); ok {
		var c v1alpha1.Cluster
		readYAML(t, f, &c)
		in.Cluster = ClusterFacts{Name: c.Name, Labels: c.Labels, KubernetesVersion: c.Status.KubernetesVersion}
	}
	if f, ok := caseFile(t, dir, "overrides.yaml"); ok {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, doc := range splitDocuments(string(raw)) {
			if strings.TrimSpace(doc.text) == "" {
				continue
			}
			var o v1alpha1.Override
			if err := yaml.UnmarshalStrict([]byte(doc.text), &o); err != nil {
				t.Fatalf("overrides.yaml document %d: %v", doc.index, err)
			}
			in.Overrides = append(in.Overrides, o)
		}
	}
	if tpl := p.Spec.Templates; tpl != nil && tpl.Helm != nil && tpl.Helm.Repository != nil {
		in.Chart = testChart(t, tpl.Helm.Repository.Chart+"-"+tpl.Helm.Repository.Version)
	}
	return in
}

func readYAML(t testing.TB, file string, into any) {
	t.Helper()
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict(raw, into); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
}

func exists(file string) bool {
	_, err := os.Stat(file)
	return err == nil
}

// testChart loads testdata/charts/<name>.tgz.
func testChart(t testing.TB, name string) *LoadedChart {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "charts", name+".tgz"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := LoadChart(raw)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
