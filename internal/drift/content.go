package drift

import (
	"encoding/base64"
	"maps"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"
)

// Compare judges a live object against the manifest it should have been
// written from by a tool Flotilla does not see (a GitOps tool applying the
// files the hub commits), when no managedFields tell which fields are the
// manifest's: every field the manifest sets must hold its value on the live
// object. It is Judge for a report-only agent, which may make no dry-run
// apply. The manifest is compared as the API server stores it (Stored);
// fields it leaves out are not compared, so defaults, status and fields
// other controllers set are never a difference, nor is metadata other than
// labels and annotations (the server's, and the namespace the object was
// read in). Numbers compare by value; an empty value or null may be missing
// on the live object; lists compare item by item, each item like the
// manifest's (the defaults inside a container are tolerated, an item added
// is not).
//
// With substituted, a string with ${var} in the manifest matches any live
// value that has its literal parts around the variables: Flux's post-build
// substitution replaced them from values the hub does not know.
func Compare(manifest, live map[string]any, substituted bool) Result {
	c := comparison{substituted: substituted}
	want := manifest
	for _, k := range slices.Sorted(maps.Keys(want)) {
		switch k {
		case "status":
			continue // written through its own subresource, not applied
		case "metadata":
			md, _ := want[k].(map[string]any)
			liveMD, _ := live[k].(map[string]any)
			for _, f := range []string{"labels", "annotations"} {
				if v, ok := md[f]; ok {
					got, gotOK := liveMD[f]
					c.compare(fieldpath.MakePathOrDie(k, f), v, got, gotOK)
				}
			}
		default:
			got, ok := live[k]
			c.compare(fieldpath.MakePathOrDie(k), want[k], got, ok)
		}
	}
	sort.Slice(c.differ, func(i, j int) bool { return c.differ[i].str < c.differ[j].str })
	res := Result{Count: len(c.differ), all: c.differ}
	for _, f := range c.differ[:min(len(c.differ), MaxFields)] {
		res.Fields = append(res.Fields, f.str)
	}
	return res
}

type comparison struct {
	substituted bool
	differ      []field
}

// compare compares want with got at p. p is a stack the callers share:
// add copies it.
func (c *comparison) compare(p fieldpath.Path, want, got any, gotOK bool) {
	if !gotOK || got == nil {
		if !isZero(want) {
			c.add(p)
		}
		return
	}
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			c.add(p)
			return
		}
		for _, k := range slices.Sorted(maps.Keys(w)) {
			v, ok := g[k]
			c.compare(append(p, fieldpath.PathElement{FieldName: &k}), w[k], v, ok)
		}
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			c.add(p)
			return
		}
		for i := range w {
			c.compare(append(p, fieldpath.PathElement{Index: &i}), w[i], g[i], true)
		}
	default:
		if !c.sameScalar(want, got) {
			c.add(p)
		}
	}
}

func (c *comparison) add(p fieldpath.Path) {
	c.differ = append(c.differ, field{path: p.Copy(), str: PathString(p)})
}

func (c *comparison) sameScalar(want, got any) bool {
	if reflect.DeepEqual(want, got) {
		return true
	}
	if w, ok := number(want); ok {
		if g, ok := number(got); ok {
			return w == g
		}
	}
	w, ok := want.(string)
	if !ok || !c.substituted || !strings.Contains(w, "${") {
		return false
	}
	gotStr, ok := scalarString(got)
	return ok && substitution(w).MatchString(gotStr)
}

// Stored returns the manifest as the API server stores it, where that can
// be told without asking it: a kind scheme knows goes through its Go type,
// as on the server, so zero values the type omits are dropped and
// quantities are canonical (cpu "0.5" is stored as "500m"); a Secret's
// stringData is stored base64 in data. Other kinds (custom resources) are
// stored as written, as is a manifest its type cannot hold (a ${var} in an
// integer field).
func Stored(manifest map[string]any, scheme *runtime.Scheme) map[string]any {
	out := manifest
	gvk := (&unstructured.Unstructured{Object: manifest}).GroupVersionKind()
	if typed, err := scheme.New(gvk); err == nil {
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(manifest, typed); err == nil {
			if m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(typed); err == nil {
				out = m
			}
		}
	}
	sd, ok := out["stringData"].(map[string]any)
	if !ok || gvk.Group != "" || gvk.Kind != "Secret" {
		return out
	}
	data, _ := out["data"].(map[string]any)
	folded := make(map[string]any, len(data)+len(sd))
	for k, v := range data {
		folded[k] = v
	}
	for k, v := range sd {
		if s, ok := v.(string); ok {
			folded[k] = base64.StdEncoding.EncodeToString([]byte(s))
		}
	}
	withData := make(map[string]any, len(out))
	for k, v := range out {
		withData[k] = v
	}
	delete(withData, "stringData")
	withData["data"] = folded
	return withData
}

var variable = regexp.MustCompile(`\$\{[^}]*\}`)

// substitution matches what Flux may make of s: its literal parts in order,
// anything where the variables were.
func substitution(s string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString(`(?s)^`)
	last := 0
	for _, loc := range variable.FindAllStringIndex(s, -1) {
		b.WriteString(regexp.QuoteMeta(s[last:loc[0]]))
		b.WriteString(`.*`)
		last = loc[1]
	}
	b.WriteString(regexp.QuoteMeta(s[last:]))
	b.WriteString(`$`)
	return regexp.MustCompile(b.String())
}

func number(v any) (float64, bool) {
	switch n := v.(type) {
	case int64:
		return float64(n), true
	case float64:
		return n, true
	case int:
		return float64(n), true
	}
	return 0, false
}

func scalarString(v any) (string, bool) {
	switch s := v.(type) {
	case string:
		return s, true
	case bool:
		return strconv.FormatBool(s), true
	case int64:
		return strconv.FormatInt(s, 10), true
	case int:
		return strconv.Itoa(s), true
	case float64:
		return strconv.FormatFloat(s, 'f', -1, 64), true
	}
	return "", false
}

// isZero: values the server may omit, which mean what their absence does.
func isZero(v any) bool {
	switch z := v.(type) {
	case nil:
		return true
	case map[string]any:
		return len(z) == 0
	case []any:
		return len(z) == 0
	}
	return false
}
