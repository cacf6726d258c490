package render

import (
	"errors"
	"fmt"
	"strings"
	"text/template"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// maxOutput bounds what one render may produce (a Work must fit in etcd anyway).
const maxOutput = 8 << 20

// templateData is what Go templates see; see docs/templates.md.
func templateData(in Input, spec map[string]any) map[string]any {
	inst := in.Instance
	md := map[string]any{
		"name":        inst.GetName(),
		"namespace":   inst.GetNamespace(),
		"labels":      stringMap(TemplateLabels(inst.GetLabels())),
		"annotations": stringMap(TemplateAnnotations(inst.GetAnnotations())),
	}
	return map[string]any{
		"instance": map[string]any{
			"apiVersion": inst.GetAPIVersion(),
			"kind":       inst.GetKind(),
			"metadata":   md,
			"spec":       spec,
		},
		"spec": spec,
		"cluster": map[string]any{
			"name":              in.Cluster.Name,
			"labels":            stringMap(in.Cluster.Labels),
			"kubernetesVersion": in.Cluster.KubernetesVersion,
		},
		"promise":  in.Promise,
		"revision": in.Revision,
	}
}

// lastApplied is the annotation kubectl apply keeps a copy of the object in.
const lastApplied = "kubectl.kubernetes.io/last-applied-configuration"

// TemplateLabels are the labels of an instance its templates see: all but
// those of Flotilla's and the GitOps tools' domains (withoutManagementKeys).
// Instance revisions snapshot these.
func TemplateLabels(l map[string]string) map[string]string { return withoutManagementKeys(l) }

// TemplateAnnotations are the annotations of an instance its templates see:
// all but kubectl's copy of the object it last applied, which is the spec
// again (and changes with every apply), not something to render, and those
// of Flotilla's and the GitOps tools' domains (withoutManagementKeys).
// Instance revisions snapshot these.
func TemplateAnnotations(a map[string]string) map[string]string {
	if _, ok := a[lastApplied]; ok {
		out := make(map[string]string, len(a)-1)
		for k, v := range a {
			if k != lastApplied {
				out[k] = v
			}
		}
		a = out
	}
	return withoutManagementKeys(a)
}

// withoutManagementKeys drops the keys of Flotilla's and the GitOps tools'
// domains (managementKey) from an instance's labels or annotations, as its
// templates see them: a template that copies them onto its objects would
// otherwise carry a team's fleet.flotilla.dev/prune: disabled there (and
// Flotilla's own, such as adopt-revision, which mean nothing on a member).
func withoutManagementKeys(m map[string]string) map[string]string {
	for k := range m {
		if managementKey(k) {
			out := make(map[string]string, len(m))
			for k, v := range m {
				if !managementKey(k) {
					out[k] = v
				}
			}
			return out
		}
	}
	return m
}

func stringMap(m map[string]string) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// parseGoTemplates parses every template into one set, so a template can use
// what another defines ({{ define }} / {{ include }}). Its functions count
// against a fresh budget, and its template and range bodies tick it.
func parseGoTemplates(tpls []v1alpha1.GoTemplate) (*template.Template, error) {
	if len(tpls) == 0 {
		return nil, errors.New("engine GoTemplate without goTemplates")
	}
	root := template.New("").Option("missingkey=error")
	root.Funcs(funcMap(root))
	for _, gt := range tpls {
		if gt.Name == "" {
			return nil, errors.New("a Go template has no name")
		}
		if root.Lookup(gt.Name) != nil {
			return nil, fmt.Errorf("template %s is defined twice", gt.Name)
		}
		// Errors read "template: NAME:LINE: …".
		if _, err := root.New(gt.Name).Parse(gt.Template); err != nil {
			return nil, err
		}
	}
	// Only now the function templates cannot call themselves (tickFunc).
	root.Funcs((&budget{}).bounded(funcMap(root)))
	for _, t := range root.Templates() {
		rewriteTicks(t.Tree)
	}
	return root, nil
}

// probeSet copies a parsed template set into the probe render's set (see
// structure.go), with its own budget.
func probeSet(root *template.Template, m markers) (*template.Template, error) {
	probe := template.New("").Option("missingkey=error")
	probe.Funcs(probeFuncMap((&budget{}).bounded(funcMap(probe)), m))
	for _, t := range root.Templates() {
		if t.Tree == nil {
			continue
		}
		tree := t.Copy() // the template's parse tree (embedded)
		rewriteProbe(tree.Root)
		if _, err := probe.AddParseTree(t.Name(), tree); err != nil {
			return nil, err
		}
	}
	return probe, nil
}

// renderGoTemplates executes each template (helpers, whose name starts with
// "_", render nothing) and decodes the YAML documents they produce. Each
// template is executed a second time as a probe, and its output must have
// the same YAML shape (compareShapes).
func renderGoTemplates(tpls []v1alpha1.GoTemplate, data map[string]any) ([]*unstructured.Unstructured, error) {
	root, err := parseGoTemplates(tpls)
	if err != nil {
		return nil, err
	}
	probe, err := probeSet(root, newMarkers())
	if err != nil {
		return nil, err
	}
	var objs []*unstructured.Unstructured
	w, pw := &limitedBuilder{}, &limitedBuilder{}
	for _, gt := range tpls {
		if strings.HasPrefix(gt.Name, "_") {
			continue
		}
		start, pstart := w.Len(), pw.Len()
		// Errors read "template: NAME:LINE:COL: executing "NAME" at <…>: …".
		if err := root.ExecuteTemplate(w, gt.Name, data); err != nil {
			return nil, execError(gt.Name, err)
		}
		// A null value prints as "<no value>"; like Helm, render it as nothing.
		out := strings.ReplaceAll(w.String()[start:], "<no value>", "")
		// The shapes are compared first: a value that makes structure often
		// makes incomplete objects too, and is the cause to report.
		if err := probe.ExecuteTemplate(pw, gt.Name, data); err != nil {
			if errors.Is(err, ErrBudgetExceeded) {
				return nil, execError(gt.Name, err)
			}
			return nil, fmt.Errorf("template %s: checking that values make no YAML structure: %w", gt.Name, err)
		}
		pout := strings.ReplaceAll(pw.String()[pstart:], "<no value>", "")
		if err := compareShapes("template "+gt.Name, out, pout); err != nil {
			return nil, err
		}
		docs, err := decodeDocuments("template "+gt.Name, out)
		if err != nil {
			return nil, err
		}
		objs = append(objs, docs...)
	}
	return objs, nil
}

// execError names the template in errors of the render's bounds.
func execError(name string, err error) error {
	if errors.Is(err, errOutputTooLarge) || errors.Is(err, ErrBudgetExceeded) {
		return fmt.Errorf("template %s: %w", name, err)
	}
	return err
}

var errOutputTooLarge = fmt.Errorf("rendered output exceeds %d bytes: %w", maxOutput, ErrBudgetExceeded)

// limitedBuilder is a strings.Builder that fails once it holds more than maxOutput bytes.
type limitedBuilder struct {
	strings.Builder
}

func (b *limitedBuilder) Write(p []byte) (int, error) {
	if b.Len()+len(p) > maxOutput {
		return 0, errOutputTooLarge
	}
	return b.Builder.Write(p)
}

func (b *limitedBuilder) WriteString(s string) (int, error) {
	if b.Len()+len(s) > maxOutput {
		return 0, errOutputTooLarge
	}
	return b.Builder.WriteString(s)
}
