// Package apidocs generates the exact parts of the per-kind reference pages
// in docs/reference — field tables with types, defaults and validation,
// printer columns, CEL rules — from the CRDs' OpenAPI schemas. The prose
// around them is written by hand; the generated blocks sit between markers
// and are replaced in place, so regenerating never touches the prose.
package apidocs

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
)

// Section names, in the order they usually appear on a page.
const (
	SectionSummary = "summary"
	SectionSpec    = "spec"
	SectionStatus  = "status"
	SectionRules   = "rules"
	SectionColumns = "columns"
)

// Kind is one reference page and what its generated blocks are made of.
type Kind struct {
	// Kind is the API kind, e.g. Cluster.
	Kind string
	// File is the page's file name in docs/reference, e.g. cluster.md.
	File string
	// CRD holds the schema.
	CRD *apiextensionsv1.CustomResourceDefinition
	// Collapse lists field paths whose subtree is documented elsewhere: the
	// row stays, with this text instead of the field's children.
	Collapse map[string]string
	// Instance marks the page of the kinds generated from Promises: the
	// sample CRD's names are not documented, and of its spec only the field
	// Flotilla reserves (spec.placement) is.
	Instance bool
}

// Sections renders every generated block of k's page, by section name.
func Sections(k Kind) (map[string]string, error) {
	if len(k.CRD.Spec.Versions) != 1 || k.CRD.Spec.Versions[0].Schema == nil || k.CRD.Spec.Versions[0].Schema.OpenAPIV3Schema == nil {
		return nil, fmt.Errorf("%s: want exactly one version with a schema", k.CRD.Name)
	}
	v := k.CRD.Spec.Versions[0]
	root := v.Schema.OpenAPIV3Schema
	out := map[string]string{}

	specPath, spec, required := "spec", root.Properties["spec"], contains(root.Required, "spec")
	if k.Instance {
		specPath, required = "spec.placement", contains(spec.Required, "placement")
		spec = spec.Properties["placement"]
	}
	rows := walk(specPath, &spec, required, k.Collapse)
	out[SectionSpec] = table(rows)
	if status, ok := root.Properties["status"]; ok {
		out[SectionStatus] = table(walk("status", &status, false, k.Collapse))
	}
	out[SectionColumns] = columns(v.AdditionalPrinterColumns)
	if !k.Instance {
		out[SectionSummary] = summary(k.CRD, root)
		out[SectionRules] = rules(root)
	}
	return out, nil
}

// row is one field of a table.
type row struct {
	path, typ, def, validation, desc string
	required                         bool
}

// walk lists the field at path and, depth first and by name, the fields below it.
func walk(path string, s *apiextensionsv1.JSONSchemaProps, required bool, collapse map[string]string) []row {
	r := row{path: path, typ: typeName(s), required: required, def: defaultOf(s), validation: validation(s), desc: s.Description}
	if text, ok := collapse[path]; ok {
		r.desc = text
		return []row{r}
	}
	rows := []row{r}
	if isLabelSelector(s) || isConditions(s) {
		return rows
	}
	obj, prefix := s, path
	if s.Type == "array" && s.Items != nil && s.Items.Schema != nil {
		obj, prefix = s.Items.Schema, path+"[]"
	}
	for _, name := range sortedKeys(obj.Properties) {
		child := obj.Properties[name]
		rows = append(rows, walk(prefix+"."+name, &child, contains(obj.Required, name), collapse)...)
	}
	return rows
}

func sortedKeys(m map[string]apiextensionsv1.JSONSchemaProps) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// isLabelSelector recognises a metav1.LabelSelector, documented once by Kubernetes.
func isLabelSelector(s *apiextensionsv1.JSONSchemaProps) bool {
	_, labels := s.Properties["matchLabels"]
	_, exprs := s.Properties["matchExpressions"]
	return len(s.Properties) == 2 && labels && exprs
}

// isConditions recognises a list of metav1.Condition.
func isConditions(s *apiextensionsv1.JSONSchemaProps) bool {
	if s.Type != "array" || s.Items == nil || s.Items.Schema == nil {
		return false
	}
	p := s.Items.Schema.Properties
	for _, f := range []string{"type", "status", "reason", "message", "lastTransitionTime"} {
		if _, ok := p[f]; !ok {
			return false
		}
	}
	return true
}

// typeName says what a field holds, in words a reader of YAML uses.
func typeName(s *apiextensionsv1.JSONSchemaProps) string {
	switch {
	case s.XIntOrString:
		return "int or string"
	case s.XEmbeddedResource:
		return "Kubernetes object"
	case isLabelSelector(s):
		return "label selector"
	case isConditions(s):
		return "[]Condition"
	case s.Type == "array" && s.Items != nil && s.Items.Schema != nil:
		return "[]" + typeName(s.Items.Schema)
	case s.Type == "string" && s.Format == "date-time":
		return "time"
	case s.Type == "object" && len(s.Properties) == 0 && s.XPreserveUnknownFields != nil && *s.XPreserveUnknownFields:
		return "object (free-form)"
	case s.Type == "object" && s.AdditionalProperties != nil && s.AdditionalProperties.Schema != nil:
		return "map[string]" + typeName(s.AdditionalProperties.Schema)
	case s.Type == "":
		return "any"
	}
	return s.Type
}

// defaultOf is the field's default as it would be written in YAML.
func defaultOf(s *apiextensionsv1.JSONSchemaProps) string {
	if s.Default == nil {
		return ""
	}
	var str string
	if err := json.Unmarshal(s.Default.Raw, &str); err == nil {
		return code(str)
	}
	return code(string(s.Default.Raw))
}

// validation lists the schema's constraints on the field.
func validation(s *apiextensionsv1.JSONSchemaProps) string {
	var parts []string
	if len(s.Enum) > 0 {
		values := make([]string, 0, len(s.Enum))
		for _, e := range s.Enum {
			var str string
			if err := json.Unmarshal(e.Raw, &str); err == nil {
				values = append(values, code(str))
			} else {
				values = append(values, code(string(e.Raw)))
			}
		}
		parts = append(parts, "one of "+strings.Join(values, ", "))
	}
	parts = append(parts, bounds("length", s.MinLength, s.MaxLength)...)
	parts = append(parts, numberBounds(s.Minimum, s.Maximum)...)
	parts = append(parts, bounds("items", s.MinItems, s.MaxItems)...)
	if s.Pattern != "" {
		parts = append(parts, "pattern "+code(s.Pattern))
	}
	if s.Format != "" && s.Format != "date-time" && s.Format != "int32" && s.Format != "int64" {
		parts = append(parts, "format "+s.Format)
	}
	if s.XListType != nil {
		switch *s.XListType {
		case "set":
			parts = append(parts, "unique items")
		case "map":
			parts = append(parts, "unique by "+code(strings.Join(s.XListMapKeys, ", ")))
		}
	}
	if s.Type == "array" && s.Items != nil && s.Items.Schema != nil && len(s.Items.Schema.Properties) == 0 {
		if v := validation(s.Items.Schema); v != "" {
			parts = append(parts, "each item: "+v)
		}
	}
	for _, r := range s.XValidations {
		parts = append(parts, "rule: "+ruleText(r))
	}
	return strings.Join(parts, "; ")
}

func ruleText(r apiextensionsv1.ValidationRule) string {
	if r.Message != "" {
		return r.Message
	}
	return code(r.Rule)
}

func bounds(what string, lo, hi *int64) []string {
	switch {
	case lo != nil && hi != nil:
		return []string{fmt.Sprintf("%s %d–%d", what, *lo, *hi)}
	case lo != nil:
		return []string{fmt.Sprintf("%s ≥ %d", what, *lo)}
	case hi != nil:
		return []string{fmt.Sprintf("%s ≤ %d", what, *hi)}
	}
	return nil
}

func numberBounds(lo, hi *float64) []string {
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
	switch {
	case lo != nil && hi != nil:
		return []string{fmt.Sprintf("%s–%s", f(*lo), f(*hi))}
	case lo != nil:
		return []string{"≥ " + f(*lo)}
	case hi != nil:
		return []string{"≤ " + f(*hi)}
	}
	return nil
}

// table renders rows as a Markdown table.
func table(rows []row) string {
	var b strings.Builder
	b.WriteString("| field | type | required | default | validation | description |\n|---|---|---|---|---|---|\n")
	for _, r := range rows {
		req := ""
		if r.required {
			req = "yes"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", code(r.path), cell(r.typ), req, r.def, r.validation, cell(r.desc))
	}
	return b.String()
}

func summary(crd *apiextensionsv1.CustomResourceDefinition, root *apiextensionsv1.JSONSchemaProps) string {
	var b strings.Builder
	n := crd.Spec.Names
	v := crd.Spec.Versions[0]
	b.WriteString("| | |\n|---|---|\n")
	fmt.Fprintf(&b, "| API version | %s |\n", code(crd.Spec.Group+"/"+v.Name))
	fmt.Fprintf(&b, "| kind | %s |\n", code(n.Kind))
	scope := "cluster"
	if crd.Spec.Scope == apiextensionsv1.NamespaceScoped {
		scope = "namespaced"
	}
	fmt.Fprintf(&b, "| scope | %s |\n", scope)
	fmt.Fprintf(&b, "| resource | %s (singular %s) |\n", code(n.Plural), code(n.Singular))
	if len(n.ShortNames) > 0 {
		fmt.Fprintf(&b, "| short names | %s |\n", codeList(n.ShortNames))
	}
	if len(n.Categories) > 0 {
		fmt.Fprintf(&b, "| categories | %s |\n", codeList(n.Categories))
	}
	var subs []string
	if v.Subresources != nil && v.Subresources.Status != nil {
		subs = append(subs, "status")
	}
	if v.Subresources != nil && v.Subresources.Scale != nil {
		subs = append(subs, "scale")
	}
	if len(subs) > 0 {
		fmt.Fprintf(&b, "| subresources | %s |\n", codeList(subs))
	}
	if len(root.XValidations) > 0 {
		texts := make([]string, 0, len(root.XValidations))
		for _, r := range root.XValidations {
			texts = append(texts, cell(ruleText(r)))
		}
		fmt.Fprintf(&b, "| object rules | %s |\n", strings.Join(texts, "; "))
	}
	return b.String()
}

// rules lists every CEL rule of the schema with its expression, by field path.
func rules(root *apiextensionsv1.JSONSchemaProps) string {
	var b strings.Builder
	var visit func(path string, s *apiextensionsv1.JSONSchemaProps)
	visit = func(path string, s *apiextensionsv1.JSONSchemaProps) {
		for _, r := range s.XValidations {
			where := path
			if where == "" {
				where = "(the object)"
			} else {
				where = code(where)
			}
			fmt.Fprintf(&b, "| %s | %s | %s |\n", where, code(r.Rule), cell(r.Message))
		}
		obj, prefix := s, path
		if s.Type == "array" && s.Items != nil && s.Items.Schema != nil {
			obj, prefix = s.Items.Schema, path+"[]"
		}
		for _, name := range sortedKeys(obj.Properties) {
			child := obj.Properties[name]
			p := name
			if prefix != "" {
				p = prefix + "." + name
			}
			visit(p, &child)
		}
	}
	visit("", root)
	if b.Len() == 0 {
		return "No CEL rules: the schema's types, bounds and enums are the whole validation.\n"
	}
	return "| field | rule (CEL) | message |\n|---|---|---|\n" + b.String()
}

func columns(cols []apiextensionsv1.CustomResourceColumnDefinition) string {
	var b strings.Builder
	b.WriteString("| column | type | JSONPath | shown |\n|---|---|---|---|\n")
	for _, c := range cols {
		shown := "always"
		if c.Priority > 0 {
			shown = "`-o wide`"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", c.Name, c.Type, code(c.JSONPath), shown)
	}
	return b.String()
}

// code writes s as a Markdown code span that is safe in a table cell.
func code(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	fence := "`"
	for strings.Contains(s, fence) {
		fence += "`"
	}
	if strings.HasPrefix(s, "`") || strings.HasSuffix(s, "`") {
		return fence + " " + s + " " + fence
	}
	return fence + s + fence
}

func codeList(items []string) string {
	out := make([]string, 0, len(items))
	for _, i := range items {
		out = append(out, code(i))
	}
	return strings.Join(out, ", ")
}

// cell makes prose safe for a table cell: one line; pipes, angle brackets and
// emphasis markers escaped.
func cell(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	return strings.NewReplacer("|", `\|`, "<", "&lt;", ">", "&gt;", "*", `\*`, "_", `\_`).Replace(s)
}

// Marker lines around a generated block.
func beginMarker(section string) string {
	return "<!-- BEGIN GENERATED " + section + " (make generate) -->"
}

func endMarker(section string) string { return "<!-- END GENERATED " + section + " -->" }

// Fill replaces the content of every generated block of page with the
// section of the same name. Every section must have exactly one block, and
// every block a section.
func Fill(page []byte, sections map[string]string) ([]byte, error) {
	out := page
	for _, name := range sortedNames(sections) {
		begin, end := []byte(beginMarker(name)+"\n"), []byte(endMarker(name))
		i := bytes.Index(out, begin)
		if i < 0 {
			return nil, fmt.Errorf("no %q line for the %s block", beginMarker(name), name)
		}
		if bytes.Count(out, begin) > 1 {
			return nil, fmt.Errorf("more than one %s block", name)
		}
		j := bytes.Index(out[i:], end)
		if j < 0 {
			return nil, fmt.Errorf("the %s block has no %q line", name, endMarker(name))
		}
		j += i
		var b bytes.Buffer
		b.Write(out[:i+len(begin)])
		b.WriteString(sections[name])
		b.Write(out[j:])
		out = b.Bytes()
	}
	if n := bytes.Count(out, []byte("<!-- BEGIN GENERATED ")); n != len(sections) {
		return nil, fmt.Errorf("%d generated blocks, but %d sections to fill (%s)", n, len(sections), strings.Join(sortedNames(sections), ", "))
	}
	return out, nil
}

func sortedNames(m map[string]string) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
