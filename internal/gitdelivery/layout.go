// Package gitdelivery publishes the Works of git-delivered clusters to git
// repositories: the hub writes each cluster's rendered manifests as files
// under the cluster's path, one commit per batch of changes, and Argo CD or
// Flux syncs them to the member.
package gitdelivery

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/gitdelivery/stamp"
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
func instanceFile(name string) string {
	if name == "kustomization" {
		return "_" + name + ".yaml"
	}
	return name + ".yaml"
}

// Files renders works as the files of root: file path → content. Each file
// is a multi-document YAML stream of the Work's manifests in a stable order
// (kind, namespace, name), each stamped with its rendered hash (annotation
// stamp.Annotation), after a comment naming the Work and its revisions.
// Works being deleted are left out, so their files go.
func Files(root string, works []fleetv1alpha1.Work) (map[string][]byte, error) {
	files := make(map[string][]byte, len(works))
	for i := range works {
		w := &works[i]
		if !w.DeletionTimestamp.IsZero() {
			continue
		}
		content, err := fileContent(w)
		if err != nil {
			return nil, fmt.Errorf("rendering Work %s/%s as YAML: %w", w.Namespace, w.Name, err)
		}
		files[FilePath(root, w)] = content
	}
	return files, nil
}

type manifest struct {
	kind, namespace, name string
	yaml                  []byte
}

func fileContent(w *fleetv1alpha1.Work) ([]byte, error) {
	manifests := make([]manifest, 0, len(w.Spec.Manifests))
	for i, m := range w.Spec.Manifests {
		var obj struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Name      string `json:"name"`
				Namespace string `json:"namespace"`
			} `json:"metadata"`
		}
		if err := json.Unmarshal(m.Raw, &obj); err != nil {
			return nil, fmt.Errorf("reading manifest %d: %w", i, err)
		}
		// The stamp tells a report-only agent whether the live object is this
		// rendering (see package stamp).
		stamped, err := stamp.Stamp(m.Raw)
		if err != nil {
			return nil, fmt.Errorf("stamping manifest %d: %w", i, err)
		}
		y, err := yaml.JSONToYAML(stamped)
		if err != nil {
			return nil, fmt.Errorf("converting manifest %d: %w", i, err)
		}
		manifests = append(manifests, manifest{kind: obj.Kind, namespace: obj.Metadata.Namespace, name: obj.Metadata.Name, yaml: y})
	}
	sort.SliceStable(manifests, func(i, j int) bool {
		a, b := manifests[i], manifests[j]
		if a.kind != b.kind {
			return a.kind < b.kind
		}
		if a.namespace != b.namespace {
			return a.namespace < b.namespace
		}
		return a.name < b.name
	})
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "# Written by Flotilla from Work %s/%s; changes here are overwritten.\n", w.Namespace, w.Name)
	fmt.Fprintf(&buf, "# revision: %s\n", w.Spec.Revision)
	if w.Spec.InstanceRevision != "" {
		fmt.Fprintf(&buf, "# instanceRevision: %s\n", w.Spec.InstanceRevision)
	}
	for _, m := range manifests {
		buf.WriteString("---\n")
		buf.Write(m.yaml)
	}
	return buf.Bytes(), nil
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
