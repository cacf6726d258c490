package render

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"sigs.k8s.io/yaml"

	"github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/scope"
)

// decodeDocuments splits rendered YAML into documents and decodes each into an
// object. Empty documents (only whitespace or comments) are skipped. source
// names the template in errors; document numbers and lines are 1-based and
// count lines of the rendered output.
func decodeDocuments(source, text string) ([]*unstructured.Unstructured, error) {
	var objs []*unstructured.Unstructured
	for _, d := range splitDocuments(text) {
		obj, err := decodeYAML(d.text)
		if err == nil && obj != nil {
			err = checkObject(obj)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: rendered document %d (from output line %d): %w", source, d.index, d.line, err)
		}
		if obj != nil {
			objs = append(objs, obj)
		}
	}
	return objs, nil
}

type document struct {
	index int    // 1-based
	line  int    // 1-based line of the rendered output where the document starts
	text  string // the document, without its separator
}

// splitDocuments splits a YAML stream on "---" separator lines.
func splitDocuments(text string) []document {
	var docs []document
	var cur strings.Builder
	start := 1
	lines := strings.SplitAfter(text, "\n")
	flush := func() {
		docs = append(docs, document{index: len(docs) + 1, line: start, text: cur.String()})
		cur.Reset()
	}
	for i, l := range lines {
		if isSeparator(l) {
			flush()
			start = i + 2
			continue
		}
		cur.WriteString(l)
	}
	flush()
	return docs
}

func isSeparator(line string) bool {
	line = strings.TrimRight(line, "\r\n")
	if !strings.HasPrefix(line, "---") {
		return false
	}
	rest := line[3:]
	return rest == "" || rest[0] == ' ' || rest[0] == '\t'
}

// decodeYAML decodes one YAML document into an object; nil for an empty document.
func decodeYAML(doc string) (*unstructured.Unstructured, error) {
	if strings.TrimSpace(doc) == "" {
		return nil, nil
	}
	j, err := yaml.YAMLToJSON([]byte(doc))
	if err != nil {
		return nil, err
	}
	if bytes.Equal(bytes.TrimSpace(j), []byte("null")) {
		return nil, nil
	}
	return decodeObject(j)
}

// decodeObject decodes a JSON object. Numbers become int64 or float64, as
// everywhere in Kubernetes' unstructured objects.
func decodeObject(j []byte) (*unstructured.Unstructured, error) {
	j = bytes.TrimSpace(j)
	if len(j) == 0 || j[0] != '{' {
		return nil, errors.New("not an object (a YAML mapping)")
	}
	var m map[string]any
	if err := utiljson.Unmarshal(j, &m); err != nil {
		return nil, err
	}
	return &unstructured.Unstructured{Object: m}, nil
}

// checkObject makes sure obj has what an applier needs to identify it.
func checkObject(obj *unstructured.Unstructured) error {
	apiVersion, _ := obj.Object["apiVersion"].(string)
	kind, _ := obj.Object["kind"].(string)
	md, isMap := obj.Object["metadata"].(map[string]any)
	name, _ := md["name"].(string)
	var missing []string
	if apiVersion == "" {
		missing = append(missing, "apiVersion")
	}
	if kind == "" {
		missing = append(missing, "kind")
	}
	if name == "" {
		missing = append(missing, "metadata.name")
	}
	if len(missing) > 0 {
		return fmt.Errorf("object %s has no %s (every object needs apiVersion, kind and metadata.name)",
			describe(apiVersion, kind, name), strings.Join(missing, ", "))
	}
	if err := checkAPIVersion(apiVersion); err != nil {
		return fmt.Errorf("object %s: %w", describe(apiVersion, kind, name), err)
	}
	if !isMap {
		return fmt.Errorf("object %s: metadata is not a mapping", describe(apiVersion, kind, name))
	}
	for _, f := range []string{"namespace", "labels", "annotations"} {
		if err := checkMetaField(md, f); err != nil {
			return fmt.Errorf("object %s: %w", describe(apiVersion, kind, name), err)
		}
	}
	return nil
}

func checkMetaField(md map[string]any, field string) error {
	v, ok := md[field]
	if !ok || v == nil {
		return nil
	}
	if field == "namespace" {
		if _, ok := v.(string); !ok {
			return errors.New("metadata.namespace is not a string")
		}
		return nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return fmt.Errorf("metadata.%s is not a mapping", field)
	}
	for k, val := range m {
		if _, ok := val.(string); !ok {
			return fmt.Errorf("metadata.%s[%q] is not a string (quote it)", field, k)
		}
	}
	return nil
}

func checkAPIVersion(apiVersion string) error {
	if strings.Count(apiVersion, "/") > 1 || strings.HasPrefix(apiVersion, "/") || strings.HasSuffix(apiVersion, "/") {
		return fmt.Errorf("apiVersion %q is not group/version or version", apiVersion)
	}
	return nil
}

// describe names a possibly incomplete object for error messages.
func describe(apiVersion, kind, name string) string {
	s := func(v, missing string) string {
		if v == "" {
			return missing
		}
		return v
	}
	return fmt.Sprintf("%s %s %q", s(apiVersion, "<no apiVersion>"), s(kind, "<no kind>"), name)
}

// defaultNamespace gives objects without a namespace the instance's namespace,
// except for the built-in kinds known to be cluster-scoped. (For custom kinds
// that are cluster-scoped, the agent drops the namespace using the member's
// discovery.)
func defaultNamespace(objs []*unstructured.Unstructured, ns string) {
	for _, obj := range objs {
		if obj.GetNamespace() != "" {
			continue
		}
		gvk := obj.GroupVersionKind()
		if scope.BuiltinClusterScoped(gvk.Group, gvk.Kind) {
			continue
		}
		obj.SetNamespace(ns)
	}
}

// instanceSpec returns a copy of the instance's spec without the field
// Flotilla reserves for placement; an instance without spec has an empty one.
func instanceSpec(inst *unstructured.Unstructured) (map[string]any, error) {
	v, ok := inst.Object["spec"]
	if !ok || v == nil {
		return map[string]any{}, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("instance spec is not an object")
	}
	spec := copyMap(m)
	delete(spec, v1alpha1.InstancePlacementField)
	return spec, nil
}

// rawObject decodes a RawExtension holding a JSON object; empty is an empty object.
func rawObject(raw *runtime.RawExtension) (map[string]any, error) {
	if raw == nil {
		return map[string]any{}, nil
	}
	j := raw.Raw
	if len(j) == 0 && raw.Object != nil {
		u, ok := raw.Object.(*unstructured.Unstructured)
		if !ok {
			return nil, fmt.Errorf("unsupported object %T", raw.Object)
		}
		return copyMap(u.Object), nil
	}
	if len(bytes.TrimSpace(j)) == 0 {
		return map[string]any{}, nil
	}
	j = bytes.TrimSpace(j)
	if bytes.Equal(j, []byte("null")) {
		return map[string]any{}, nil
	}
	obj, err := decodeObject(j)
	if err != nil {
		return nil, err
	}
	return obj.Object, nil
}

// merge applies an RFC 7386 JSON merge patch to a copy of dst: objects merge
// key by key, null removes a key, anything else replaces. With keepNull, a
// null replaces the value and stays, as Helm values need: Helm then drops the
// chart's default too.
func merge(dst, patch map[string]any, keepNull bool) map[string]any {
	out := make(map[string]any, len(dst)+len(patch))
	for k, v := range dst {
		out[k] = v
	}
	for k, pv := range patch {
		if pv == nil && !keepNull {
			delete(out, k)
			continue
		}
		pm, isMap := pv.(map[string]any)
		if !isMap {
			out[k] = copyValue(pv)
			continue
		}
		dm, _ := out[k].(map[string]any)
		out[k] = merge(dm, pm, keepNull)
	}
	return out
}

// copyMap deep-copies a map of JSON-like values (maps and slices are copied,
// anything else is shared).
func copyMap(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = copyValue(v)
	}
	return out
}

func copyValue(v any) any {
	switch v := v.(type) {
	case map[string]any:
		return copyMap(v)
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = copyValue(e)
		}
		return out
	default:
		return v
	}
}
