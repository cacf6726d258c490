// Package layers checks the import rules of docs/development.md ("Layers"):
// pure packages do no I/O and know no Kubernetes client, controllers do not
// import each other, only the hub wires controllers together, and the
// shipped binary links no test helpers. A rule broken by new code fails here;
// a known exception that no longer exists fails too, so the list of
// exceptions only shrinks.
package layers

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/flotilla-dev/flotilla/"

// pure packages decide; they import no client, controller or network code.
var pure = []string{
	"internal/rollout", "internal/rollout/simulate", "internal/render", "internal/placement",
	"internal/health", "internal/drift", "internal/rollup", "internal/fleetview", "internal/scope",
	"internal/verify", "internal/agent/plan", "internal/agent/checks", "internal/instanceplan",
	"internal/instanceapi", "internal/liveness",
}

// impure are the import paths (and their subpackages) a pure package may not import.
var impure = []string{
	"k8s.io/client-go", "sigs.k8s.io/controller-runtime", "net", "net/http", "os/exec", "oras.land",
	module + "internal/controller", module + "internal/kube", module + "internal/agent", module + "internal/hub",
	module + "internal/testenv", module + "internal/chartfetch", module + "internal/charts",
	module + "internal/instancekinds",
}

// knownDebt are the imports that break a rule today, each with the work that
// removes it. Remove an entry when its import goes. Issue 18 removed the last
// five; keep it empty.
var knownDebt = map[string]string{}

type pkg struct {
	ImportPath string
	Imports    []string
	Standard   bool
}

// list runs `go list -json` for patterns in the module.
func list(t *testing.T, args ...string) []pkg {
	t.Helper()
	cmd := exec.Command("go", append([]string{"list", "-json"}, args...)...)
	cmd.Dir = "../.."
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list %v: %v\n%s", args, err, stderr.String())
	}
	var pkgs []pkg
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p pkg
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

func local(path string) string { return strings.TrimPrefix(path, module) }

func under(path, prefix string) bool { return path == prefix || strings.HasPrefix(path, prefix+"/") }

// controllerOf names the controller package path is (or is under), or "".
func controllerOf(path string) string {
	rest, ok := strings.CutPrefix(local(path), "internal/controller/")
	if !ok {
		return ""
	}
	name, _, _ := strings.Cut(rest, "/")
	return "internal/controller/" + name
}

func TestImportRules(t *testing.T) {
	pkgs := list(t, "./...")
	if len(pkgs) < 20 {
		t.Fatalf("go list found only %d packages", len(pkgs))
	}
	var broken []string
	seenDebt := map[string]bool{}
	for _, p := range pkgs {
		from := local(p.ImportPath)
		for _, imp := range p.Imports {
			if slices.Contains(pure, from) {
				for _, bad := range impure {
					if under(imp, bad) {
						broken = append(broken, fmt.Sprintf("%s (pure) imports %s", from, imp))
					}
				}
			}
			to := controllerOf(imp)
			if to == "" || !strings.HasPrefix(imp, module) {
				continue
			}
			edge := from + " -> " + to
			switch mine := controllerOf(p.ImportPath); {
			case mine == to:
				// a controller's own subpackages (promisetest)
			case under(from, "internal/hub") || under(from, "cmd"):
				// the hub wires the controllers together
			case knownDebt[edge] != "":
				seenDebt[edge] = true
			case mine != "":
				broken = append(broken, fmt.Sprintf("controller %s imports controller %s: coordinate through the API instead", mine, to))
			case strings.HasSuffix(from, "test") || strings.Contains(from, "/test/") || strings.HasPrefix(from, "test/"):
				// test helpers and suites may drive controllers
			default:
				broken = append(broken, fmt.Sprintf("%s imports controller %s: only internal/hub wires controllers", from, to))
			}
		}
	}
	for edge, why := range knownDebt {
		if !seenDebt[edge] {
			broken = append(broken, fmt.Sprintf("known exception %q (%s) no longer exists: remove it from knownDebt", edge, why))
		}
	}
	slices.Sort(broken)
	for _, b := range slices.Compact(broken) {
		t.Error(b)
	}
}

// The flotilla binary links none of the project's test helpers: no package of
// this module it depends on imports "testing".
func TestBinaryLinksNoTestHelpers(t *testing.T) {
	for _, p := range list(t, "-deps", "./cmd/flotilla") {
		if strings.HasPrefix(p.ImportPath, module) && slices.Contains(p.Imports, "testing") {
			t.Errorf("%s is linked into cmd/flotilla and imports testing", local(p.ImportPath))
		}
	}
}

// The agent build (`-tags agent`, what members run) links none of the
// packages whose initialisation alone costs an idle agent megabytes of
// resident memory (docs/benchmarks.md, issues 3, 20 and 17).
func TestAgentBuildLinksNoHeavyPackages(t *testing.T) {
	heavy := map[string]string{
		"helm.sh/helm":                                 "Helm: about 14 MiB of binary pages touched at initialisation",
		"sigs.k8s.io/controller-runtime":               "the agent logs with internal/logging and needs no controller-runtime client",
		"k8s.io/client-go/kubernetes":                  "the typed clientset and its scheme register every built-in API group (about 8 MiB)",
		"k8s.io/client-go/discovery":                   "internal/agent/kinds.go discovers the member's kinds",
		"k8s.io/client-go/tools/record":                "internal/agent/eventrecorder.go records Events",
		"github.com/google/cel-go/cel":                 "internal/verify compiles conditions from cel-go's parser, checker and interpreter (about 2 MiB)",
		"google.golang.org/protobuf/reflect/protodesc": "linked by cel-go's cel package: its initialisation builds descriptor.proto's descriptors",
	}
	for _, p := range list(t, "-deps", "-tags", "agent", "./cmd/flotilla") {
		for prefix, why := range heavy {
			if under(p.ImportPath, prefix) {
				t.Errorf("the agent build links %s: %s", p.ImportPath, why)
			}
		}
	}
}
