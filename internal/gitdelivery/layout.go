// Package gitdelivery publishes the Works of git-delivered clusters to git
// repositories: the hub writes each cluster's rendered manifests as files
// under the cluster's path, one commit per batch of changes, and Argo CD or
// Flux syncs them to the member.
package gitdelivery

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/gitdelivery/stamp"
	"github.com/flotilla-dev/flotilla/internal/scope"
)

// FleetFile names the file holding a Promise's fleet resources, next to the
// instance namespaces' directories: "_" is never part of a namespace name.
const FleetFile = "_fleet.yaml"

// DefaultPath is where a cluster's files go when spec.delivery.git.path is empty.
func DefaultPath(cluster string) string { return "clusters/" + cluster }

// FilePath is where a Work's manifests live in the repository, relative to
// root: <promise>/<instance namespace>/<instance>.yaml for an instance,
// <promise>/_fleet.yaml for a Promise's fleet resources. Work names are
// hashed when long, so the layout uses the subject, which stays readable.
func FilePath(root string, w *fleetv1alpha1.Work) string {
	s := w.Spec.Subject
	if s.Instance == nil {
		return path.Join(root, s.Promise, FleetFile)
	}
	return path.Join(root, s.Promise, s.Instance.Namespace, instanceFile(s.Instance.Name))
}

// instanceFile names an instance's file: <instance>.yaml, unless a GitOps
// tool would read that name as its own configuration rather than as
// manifests. Teams choose their instances' names, and an instance named
// "kustomization" would give kustomization.yaml: Flux's kustomize-controller
// then builds the team's directory as a Kustomization instead of generating
// one, and the build of the whole cluster fails (the file holds the team's
// objects). Such a name gets a leading "_", which no instance name has, so
// it cannot collide with another instance's file. The other names such
// tools treat specially (kustomization.yml, Kustomization, Chart.yaml,
// .argocd-source*.yaml) cannot come out of a lowercase DNS name and ".yaml".
//
// An instance's name may have 253 characters, and a file name at most 255
// bytes (NAME_MAX, on the hub's clone as on every checkout of the branch): a
// name too long for "<name>.yaml" (251 characters or more) would fail the
// write of the cluster's whole directory, which is one commit, and keep
// every other team's changes off the cluster. Such a name is cut, and made
// unique by a hash of it (64 bits), after a leading "_": no file of a name
// that fits has one, and none of those names was ever written.
func instanceFile(name string) string {
	if name == "kustomization" {
		return "_" + name + ".yaml"
	}
	if len(name)+len(".yaml") > maxFileName {
		sum := sha256.Sum256([]byte(name))
		return "_" + name[:longNamePrefix] + "-" + hex.EncodeToString(sum[:8]) + ".yaml"
	}
	return name + ".yaml"
}

// maxFileName is the longest file name (in bytes) the filesystems git
// checks out to allow (NAME_MAX); longNamePrefix is how much of a name too
// long for it an instance's file keeps.
const (
	maxFileName    = 255
	longNamePrefix = 200
)

// Files renders works as the files of root: file path → content. Each file
// is a multi-document YAML stream of the Work's manifests in a stable order
// (kind, namespace, name), each stamped with its rendered hash (annotation
// stamp.Annotation), after a comment naming the Work and its revisions.
// Works being deleted are left out, so their files go. It is Plan with no
// files before.
func Files(root string, works []fleetv1alpha1.Work) (map[string][]byte, error) {
	l, err := Plan(root, works, nil)
	return l.Files, err
}

// Layout is what a cluster's directory should hold.
type Layout struct {
	// Files maps a file's path to its content.
	Files map[string][]byte
	// LeftOut maps the name of a Work some of whose objects are left out of
	// its file, because another Work of the cluster holds them or they are
	// outside the Work's scope, to a message naming them and why.
	LeftOut map[string]string
}

// objectKey identifies an object on the member, whatever its version: a
// scope.Object whose ClusterScoped is left false (confine sets it).
type objectKey = scope.Object

// Plan lays works out as the files of root (see Files), each object in one
// file only. The agent never lets a Work take over an object another Work
// holds (it reports Conflict); the same goes here, where two copies of an
// object would make Argo CD apply one over the other (a team's instance
// taking over another team's object in a namespace they share) and Flux's
// build of the whole directory fail. An object two Works render stays with
// the Work whose file held it in previous (the directory's files before this
// publish), else with a Promise's fleet resources, else with the oldest
// Work; the others leave it out and are named in LeftOut.
//
// As the agent does, it checks every object of an instance's Work against
// the Work's scope again and leaves out (LeftOut) what is outside it: no
// agent checks a git cluster's objects. Unlike the agent it cannot ask the
// member which custom kinds are cluster-scoped: it knows Kubernetes' own.
func Plan(root string, works []fleetv1alpha1.Work, previous map[string][]byte) (Layout, error) {
	parsed := make([][]manifest, len(works))
	claims := map[objectKey][]int{}
	var badSubject map[string]string
	for i := range works {
		w := &works[i]
		if !w.DeletionTimestamp.IsZero() {
			continue
		}
		if err := checkSubject(w); err != nil {
			if badSubject == nil {
				badSubject = map[string]string{}
			}
			badSubject[w.Name] = "not committed: " + err.Error()
			continue
		}
		ms, err := manifests(w)
		if err != nil {
			return Layout{}, fmt.Errorf("rendering Work %s/%s as YAML: %w", w.Namespace, w.Name, err)
		}
		parsed[i] = ms
		for _, m := range ms {
			claims[m.key] = append(claims[m.key], i)
		}
	}
	held := heldBy(previous)
	l := Layout{Files: make(map[string][]byte, len(works)), LeftOut: badSubject}
	for i := range works {
		w := &works[i]
		if !w.DeletionTimestamp.IsZero() || badSubject[w.Name] != "" {
			continue
		}
		kept := make([]manifest, 0, len(parsed[i]))
		var lost []string
		for _, m := range parsed[i] {
			if err := confine(w, m.key, m.list, m.finalizers); err != nil {
				lost = append(lost, err.Error())
				continue
			}
			if o := owner(root, works, claims[m.key], held[m.key]); o != i {
				lost = append(lost, fmt.Sprintf("%s: another Work of this cluster holds it, %s (%s)", m.key, works[o].Name, workSubject(&works[o])))
				continue
			}
			kept = append(kept, m)
		}
		if len(lost) > 0 {
			if l.LeftOut == nil {
				l.LeftOut = map[string]string{}
			}
			l.LeftOut[w.Name] = "not committed: " + strings.Join(lost, "; ")
		}
		l.Files[FilePath(root, w)] = fileContent(w, kept)
	}
	return l, nil
}

// checkSubject makes sure w's file is in root, where the layout puts it:
// its Promise and instance are names the API server gives such objects (the
// Work API does not check them). "../b" would put the file in another
// cluster's directory, or outside the clone, and leave it out of the commit
// (which adds only root) while the Work read as committed.
func checkSubject(w *fleetv1alpha1.Work) error {
	s := w.Spec.Subject
	bad := func(what, name string, problems []string) error {
		return fmt.Errorf("the Work's %s %q is not a valid name, so it has no file in the cluster's directory: %s", what, name, strings.Join(problems, "; "))
	}
	if errs := validation.IsDNS1123Subdomain(s.Promise); len(errs) > 0 {
		return bad("Promise", s.Promise, errs)
	}
	if s.Instance == nil {
		return nil
	}
	if errs := validation.IsDNS1123Label(s.Instance.Namespace); len(errs) > 0 {
		return bad("instance namespace", s.Instance.Namespace, errs)
	}
	if errs := validation.IsDNS1123Subdomain(s.Instance.Name); len(errs) > 0 {
		return bad("instance", s.Instance.Name, errs)
	}
	return nil
}

// confine checks an object of w against w's scope: a Promise's fleet
// resources (no instance) may hold anything, an instance's Work without a
// scope (written by an older hub) nothing.
func confine(w *fleetv1alpha1.Work, k objectKey, list, finalizers bool) error {
	if w.Spec.Subject.Instance == nil {
		return nil
	}
	if w.Spec.Scope == nil {
		return fmt.Errorf("%s: this instance's Work has no spec.scope (written by an older hub)", k)
	}
	k.ClusterScoped = scope.BuiltinClusterScoped(k.Group, k.Kind)
	k.List, k.Finalizers = list, finalizers
	if err := scope.Check(w.Spec.Scope, k); err != nil {
		return fmt.Errorf("outside the Work's scope: %w", err)
	}
	return nil
}

// owner picks, among the Works (indexes into works) that render an object,
// the one that keeps it: the Work whose file held it (heldIn), else a
// Promise's fleet resources, else the oldest Work (then the first by name).
func owner(root string, works []fleetv1alpha1.Work, claimants []int, heldIn string) int {
	if len(claimants) == 1 {
		return claimants[0]
	}
	for _, i := range claimants {
		if heldIn != "" && FilePath(root, &works[i]) == heldIn {
			return i
		}
	}
	rank := func(w *fleetv1alpha1.Work) int {
		if w.Spec.Subject.Instance == nil {
			return 0
		}
		return 1
	}
	best := claimants[0]
	for _, i := range claimants[1:] {
		a, b := &works[i], &works[best]
		switch {
		case rank(a) != rank(b):
			if rank(a) < rank(b) {
				best = i
			}
		case !a.CreationTimestamp.Equal(&b.CreationTimestamp):
			if a.CreationTimestamp.Before(&b.CreationTimestamp) {
				best = i
			}
		case a.Name < b.Name:
			best = i
		}
	}
	return best
}

// heldBy maps each object in files (a directory's files as the hub wrote
// them) to the file holding it; an object in several files (written by
// hand) is held by none of them.
func heldBy(files map[string][]byte) map[objectKey]string {
	held := map[objectKey]string{}
	shared := map[objectKey]bool{}
	for p, content := range files {
		r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(content)))
		for {
			doc, err := r.Read()
			if err != nil {
				break // io.EOF, or a file not written by the hub: it holds nothing more
			}
			k, err := keyOf(doc)
			if err != nil || k.Kind == "" || k.Name == "" {
				continue
			}
			if _, ok := held[k]; ok && held[k] != p {
				shared[k] = true
			}
			held[k] = p
		}
	}
	for k := range shared {
		delete(held, k)
	}
	return held
}

// keyOf reads an object's identity from its YAML or JSON.
func keyOf(doc []byte) (objectKey, error) {
	var obj struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Name      string `json:"name"`
			Namespace string `json:"namespace"`
		} `json:"metadata"`
	}
	if err := yaml.Unmarshal(doc, &obj); err != nil {
		return objectKey{}, err
	}
	group, _, found := strings.Cut(obj.APIVersion, "/")
	if !found {
		group = ""
	}
	return objectKey{Group: group, Kind: obj.Kind, Namespace: obj.Metadata.Namespace, Name: obj.Metadata.Name}, nil
}

type manifest struct {
	key objectKey
	// list: it has a top-level items field (scope.HasItems).
	list bool
	// finalizers: it sets metadata.finalizers.
	finalizers bool
	yaml       []byte
}

// manifests reads and stamps a Work's manifests, as YAML in a stable order
// (kind, namespace, name).
func manifests(w *fleetv1alpha1.Work) ([]manifest, error) {
	ms := make([]manifest, 0, len(w.Spec.Manifests))
	for i, m := range w.Spec.Manifests {
		if !json.Valid(m.Raw) {
			return nil, fmt.Errorf("reading manifest %d: not JSON", i)
		}
		key, err := keyOf(m.Raw)
		if err != nil {
			return nil, fmt.Errorf("reading manifest %d: %w", i, err)
		}
		var content map[string]any
		if err := json.Unmarshal(m.Raw, &content); err != nil {
			return nil, fmt.Errorf("reading manifest %d: %w", i, err)
		}
		// The stamp tells a report-only agent whether the live object is this
		// rendering (see package stamp).
		stamped, err := stamp.Stamp(m.Raw)
		if err != nil {
			return nil, fmt.Errorf("stamping manifest %d: %w", i, err)
		}
		if w.Spec.Subject.Instance != nil {
			if stamped, err = withoutSubstitution(stamped); err != nil {
				return nil, fmt.Errorf("stamping manifest %d: %w", i, err)
			}
		}
		y, err := yaml.JSONToYAML(stamped)
		if err != nil {
			return nil, fmt.Errorf("converting manifest %d: %w", i, err)
		}
		metadata, _ := content["metadata"].(map[string]any)
		finalizers, _ := metadata["finalizers"].([]any)
		ms = append(ms, manifest{key: key, list: scope.HasItems(content), finalizers: len(finalizers) > 0, yaml: y})
	}
	sort.SliceStable(ms, func(i, j int) bool {
		a, b := ms[i].key, ms[j].key
		if a.Kind != b.Kind {
			return a.Kind < b.Kind
		}
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		return a.Name < b.Name
	})
	return ms, nil
}

// FluxSubstitute is the annotation by which an object opts out of Flux's
// post-build variable substitution.
const FluxSubstitute = stamp.FluxSubstitute

// withoutSubstitution sets FluxSubstitute: disabled on an instance's object
// (JSON, already stamped). A Flux Kustomization with postBuild.substitute or
// substituteFrom replaces ${var} everywhere in what it applies, and a team
// chooses its instances' values: a value "${db_password}" would otherwise
// come out on the member as the platform's variable, read from the Secret
// substituteFrom names, in the team's own object. The stamp is computed
// before, from the Work's manifest, as the report-only agent computes it.
func withoutSubstitution(raw []byte) ([]byte, error) {
	var obj map[string]any
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil, err
	}
	md, _ := obj["metadata"].(map[string]any)
	ann, _ := md["annotations"].(map[string]any)
	if ann == nil {
		return nil, errors.New("manifest has no annotations after stamping")
	}
	ann[FluxSubstitute] = "disabled"
	return json.Marshal(obj)
}

func fileContent(w *fleetv1alpha1.Work, ms []manifest) []byte {
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "# Written by Flotilla from Work %s/%s; changes here are overwritten.\n", w.Namespace, w.Name)
	fmt.Fprintf(&buf, "# revision: %s\n", w.Spec.Revision)
	if w.Spec.InstanceRevision != "" {
		fmt.Fprintf(&buf, "# instanceRevision: %s\n", w.Spec.InstanceRevision)
	}
	for _, m := range ms {
		buf.WriteString("---\n")
		buf.Write(m.yaml)
	}
	return buf.Bytes()
}

// maxMessageWorks bounds the Works listed in a commit message's body.
const maxMessageWorks = 50

// CommitMessage describes one commit of cluster's files: the subject names
// the rollout and wave that admitted the changed Works (or says there are
// several), the body lists each changed Work and its revision, and trailers
// carry the cluster, rollouts and waves for tools.
func CommitMessage(cluster string, changed []*fleetv1alpha1.Work) string {
	sorted := append([]*fleetv1alpha1.Work(nil), changed...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	var rollouts []string
	seen := map[string]bool{}
	for _, w := range sorted {
		if r := rolloutOf(w); r != "" && !seen[r] {
			seen[r] = true
			rollouts = append(rollouts, r)
		}
	}
	sort.Strings(rollouts)

	var b strings.Builder
	switch len(rollouts) {
	case 0:
		fmt.Fprintf(&b, "flotilla(%s): update %s", cluster, plural(len(sorted), "work"))
	case 1:
		fmt.Fprintf(&b, "flotilla(%s): rollout %s", cluster, rollouts[0])
	default:
		fmt.Fprintf(&b, "flotilla(%s): %s from %d rollouts", cluster, plural(len(sorted), "work"), len(rollouts))
	}
	b.WriteString("\n\n")
	for i, w := range sorted {
		if i == maxMessageWorks {
			fmt.Fprintf(&b, "… and %d more\n", len(sorted)-maxMessageWorks)
			break
		}
		fmt.Fprintf(&b, "%s: revision %s", workSubject(w), w.Spec.Revision)
		if w.Spec.InstanceRevision != "" {
			fmt.Fprintf(&b, ", instance revision %s", w.Spec.InstanceRevision)
		}
		if r := rolloutOf(w); r != "" {
			fmt.Fprintf(&b, " (rollout %s)", r)
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "\nFlotilla-Cluster: %s\n", cluster)
	for _, r := range rollouts {
		fmt.Fprintf(&b, "Flotilla-Rollout: %s\n", r)
	}
	return b.String()
}

// rolloutOf names the Rollout and wave that admitted w: "ns/name wave w".
func rolloutOf(w *fleetv1alpha1.Work) string {
	r := w.Spec.Rollout
	if r == nil {
		return ""
	}
	s := r.Namespace + "/" + r.Name
	if r.Wave != "" {
		s += " wave " + r.Wave
	}
	return s
}

func workSubject(w *fleetv1alpha1.Work) string {
	s := w.Spec.Subject
	if s.Instance == nil {
		return s.Promise + " fleet resources"
	}
	return s.Promise + " " + s.Instance.Namespace + "/" + s.Instance.Name
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}
