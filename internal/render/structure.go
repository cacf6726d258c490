package render

// The injection check: a value from an instance may change values, never add
// YAML structure (objects, documents, keys, list items). Templates are
// executed twice over the same data, so control flow is the same: the real
// render, and a probe render in which every value an action prints has its
// special characters neutralised (each character that is not an ASCII letter
// or digit becomes 'x'). What functions build from trusted parts (the
// template text that include renders, the YAML that toYaml writes, the
// indentation of indent) is kept as is in the probe, between markers that a
// value cannot forge. The two outputs must have the same YAML shape,
// document by document. See docs/templates.md, "Values never make structure".

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"math/big"
	"reflect"
	"sort"
	"strings"
	"text/template"
	"text/template/parse"
	"unicode"
	"unicode/utf8"

	yamlv2 "go.yaml.in/yaml/v2"
)

// probeFunc is the function the probe appends to every printing action.
const probeFunc = "__flotillaProbe"

// markers delimit trusted segments in probe output. They hold a random nonce,
// fresh for every render, so that no value can forge them.
type markers struct{ open, close string }

func newMarkers() markers {
	// Digits only, so that case functions (upper, lower) leave them alone.
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 96))
	if err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err)) // crypto/rand does not fail on supported platforms
	}
	nonce := n.String()
	return markers{open: "\uE000" + nonce + "\uE001", close: "\uE002" + nonce + "\uE003"}
}

func (m markers) wrap(s string) string { return m.open + s + m.close }

// unwrap keeps the text inside matched segments (without their markers) and
// passes the text outside them through untrusted. Unmatched markers are
// untrusted text.
func (m markers) unwrap(s string, untrusted func(string) string) string {
	if !strings.Contains(s, m.open) && !strings.Contains(s, m.close) {
		return untrusted(s)
	}
	var b strings.Builder
	for len(s) > 0 {
		i := strings.Index(s, m.open)
		j := strings.Index(s, m.close)
		switch {
		case i < 0 && j < 0:
			b.WriteString(untrusted(s))
			s = ""
		case j >= 0 && (i < 0 || j < i): // a close without an open
			b.WriteString(untrusted(s[:j+len(m.close)]))
			s = s[j+len(m.close):]
		default:
			b.WriteString(untrusted(s[:i]))
			rest := s[i+len(m.open):]
			end := m.matching(rest)
			if end < 0 { // an open without a close
				b.WriteString(untrusted(m.open))
				s = rest
				continue
			}
			b.WriteString(m.strip(rest[:end]))
			s = rest[end+len(m.close):]
		}
	}
	return b.String()
}

// matching is the index of the close marker that matches an open marker just
// before s, counting nested segments; -1 if there is none.
func (m markers) matching(s string) int {
	depth, off := 0, 0
	for {
		i := strings.Index(s[off:], m.open)
		j := strings.Index(s[off:], m.close)
		if j < 0 {
			return -1
		}
		if i >= 0 && i < j {
			depth++
			off += i + len(m.open)
			continue
		}
		if depth == 0 {
			return off + j
		}
		depth--
		off += j + len(m.close)
	}
}

// strip removes the markers of nested segments from trusted text.
func (m markers) strip(s string) string {
	if !strings.Contains(s, m.open) && !strings.Contains(s, m.close) {
		return s
	}
	return strings.ReplaceAll(strings.ReplaceAll(s, m.open, ""), m.close, "")
}

// neutralise replaces every character that is not an ASCII letter or digit
// with 'x', one for one.
func neutralise(s string) string {
	return neutraliseExcept(s, "")
}

func neutraliseExcept(s, keep string) string {
	clean := true
	for i := 0; i < len(s); i++ {
		if !isAlnum(s[i]) && strings.IndexByte(keep, s[i]) < 0 {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		if r < utf8.RuneSelf && (isAlnum(byte(r)) || strings.IndexByte(keep, byte(r)) >= 0) {
			b.WriteRune(r)
		} else {
			b.WriteByte('x')
		}
	}
	return b.String()
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// neutraliseValue copies a value with every string neutralised. Map keys
// become k000000, k000001, … in the order of the original keys, so that toYaml
// and toJson (which sort keys) keep the entries in the same order.
func neutraliseValue(v any) any {
	switch v := v.(type) {
	case string:
		return neutralise(v)
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		out := make(map[string]any, len(v))
		for i, k := range keys {
			out[fmt.Sprintf("k%06d", i)] = neutraliseValue(v[k])
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = neutraliseValue(e)
		}
		return out
	case nil, bool, int, int64, float64:
		return v
	default:
		// Other types: through JSON, as toYaml and toJson see them.
		j, err := json.Marshal(v)
		if err != nil {
			return v
		}
		var out any
		if err := json.Unmarshal(j, &out); err != nil {
			return v
		}
		return neutraliseValue(out)
	}
}

// probeFuncMap is the function set of the probe render: fm (bound to the
// probe's template set) with include, toYaml, toJson, indent and nindent
// marking what they build as trusted, and the probe function.
func probeFuncMap(fm template.FuncMap, m markers) template.FuncMap {
	include := fm["include"].(func(string, any) (string, error))
	fm["include"] = func(name string, data any) (string, error) {
		s, err := include(name, data)
		return m.wrap(s), err
	}
	for _, name := range []string{"toYaml", "toJson"} {
		f := fm[name].(func(any) (string, error))
		fm[name] = func(v any) (string, error) {
			s, err := f(neutraliseValue(v))
			return m.wrap(s), err
		}
	}
	for _, name := range []string{"indent", "nindent"} {
		f := fm[name].(func(int, any) (string, error))
		fm[name] = func(n int, v any) (string, error) {
			s := m.unwrap(toString(v), func(s string) string { return neutraliseExcept(s, "\n ") })
			s, err := f(n, s)
			return m.wrap(s), err
		}
	}
	fm[probeFunc] = func(v any) string {
		var s string
		switch v := v.(type) {
		case nil:
		case string:
			s = v
		default:
			s = printed(v)
		}
		return m.unwrap(s, neutralise)
	}
	return fm
}

// printed formats a value as text/template prints it.
func printed(v any) string {
	if v == nil {
		return ""
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Pointer && !rv.IsNil() {
		if _, ok := v.(fmt.Stringer); !ok {
			if _, ok := v.(error); !ok {
				v = rv.Elem().Interface()
			}
		}
	}
	return fmt.Sprint(v)
}

// rewriteProbe appends the probe function to every action that prints.
func rewriteProbe(n parse.Node) {
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return
		}
		for _, c := range n.Nodes {
			rewriteProbe(c)
		}
	case *parse.ActionNode:
		p := n.Pipe
		if len(p.Decl) > 0 || p.IsAssign || isCall(p, tickFunc) {
			return
		}
		p.Cmds = append(p.Cmds, funcCommand(probeFunc, n.Pos))
	case *parse.IfNode:
		rewriteProbe(n.List)
		rewriteProbe(n.ElseList)
	case *parse.WithNode:
		rewriteProbe(n.List)
		rewriteProbe(n.ElseList)
	case *parse.RangeNode:
		rewriteProbe(n.List)
		rewriteProbe(n.ElseList)
	}
}

func isCall(p *parse.PipeNode, fn string) bool {
	if len(p.Cmds) != 1 || len(p.Cmds[0].Args) != 1 {
		return false
	}
	id, ok := p.Cmds[0].Args[0].(*parse.IdentifierNode)
	return ok && id.Ident == fn
}

// injectionAdvice ends every ErrValueCreatesStructure message.
const injectionAdvice = "print instance values quoted ({{ .spec.version | quote }}), and maps and lists with toYaml ({{ toYaml .spec.resources | nindent 4 }})"

// compareShapes checks that a render's output and its probe have the same
// YAML documents, each of the same shape. source names the template.
func compareShapes(source, out, probe string) error {
	docs, pdocs := splitDocuments(out), splitDocuments(probe)
	if len(docs) != len(pdocs) {
		// Name the first document that differs.
		i, n := 0, min(len(docs), len(pdocs))
		for ; i < n; i++ {
			a, err1 := yamlShape(docs[i].text)
			b, err2 := yamlShape(pdocs[i].text)
			if _, _, _, same := sameShape(a, b, ""); err1 != nil || err2 != nil || !same {
				break
			}
		}
		i = min(i, len(docs)-1)
		return fmt.Errorf("%s: rendered document %d (from output line %d): a value made a document separator (---): the output has %d YAML documents, %d without the values' special characters; %s: %w",
			source, docs[i].index, docs[i].line, len(docs), len(pdocs), injectionAdvice, ErrValueCreatesStructure)
	}
	for i, d := range docs {
		if d.text == pdocs[i].text {
			continue
		}
		if strings.TrimSpace(d.text) == "" && strings.TrimSpace(pdocs[i].text) == "" {
			continue
		}
		where := fmt.Sprintf("%s: rendered document %d (from output line %d)", source, d.index, d.line)
		real, err := yamlShape(d.text)
		if err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
		pr, err := yamlShape(pdocs[i].text)
		if err != nil {
			return fmt.Errorf("%s: it is valid YAML only thanks to special characters of a value (without them: %w); %s: %w",
				where, err, injectionAdvice, ErrValueCreatesStructure)
		}
		if path, got, want, ok := sameShape(real, pr, ""); !ok {
			if path == "" {
				path = "the top"
			}
			return fmt.Errorf("%s: at %s a value made YAML structure: the output has %s, without the values' special characters %s; %s: %w",
				where, path, got, want, injectionAdvice, ErrValueCreatesStructure)
		}
	}
	return nil
}

// yamlShape parses a document with the YAML parser decodeDocuments uses,
// keeping the order of keys.
func yamlShape(doc string) (yamlv2.MapSlice, error) {
	var m yamlv2.MapSlice
	if err := yamlv2.Unmarshal([]byte(doc), &m); err != nil {
		return nil, err
	}
	return m, nil
}

// sameShape compares two parsed YAML values position by position, ignoring
// keys and scalar values; on a difference it returns the path (from a's keys)
// and both shapes.
func sameShape(a, b any, path string) (string, string, string, bool) {
	switch a := a.(type) {
	case yamlv2.MapSlice:
		bm, ok := b.(yamlv2.MapSlice)
		if !ok || len(bm) != len(a) {
			return path, shapeName(a), shapeName(b), false
		}
		for i, item := range a {
			if p, x, y, ok := sameShape(item.Key, bm[i].Key, joinPath(path, fmt.Sprint(item.Key))+" (key)"); !ok {
				return p, x, y, false
			}
			if p, x, y, ok := sameShape(item.Value, bm[i].Value, joinPath(path, fmt.Sprint(item.Key))); !ok {
				return p, x, y, false
			}
		}
	case []any:
		bs, ok := b.([]any)
		if !ok || len(bs) != len(a) {
			return path, shapeName(a), shapeName(b), false
		}
		for i := range a {
			if p, x, y, ok := sameShape(a[i], bs[i], fmt.Sprintf("%s[%d]", path, i)); !ok {
				return p, x, y, false
			}
		}
	default:
		if !isScalar(b) {
			return path, shapeName(a), shapeName(b), false
		}
	}
	return "", "", "", true
}

func isScalar(v any) bool {
	switch v.(type) {
	case yamlv2.MapSlice, []any, map[any]any:
		return false
	}
	return true
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func shapeName(v any) string {
	switch v := v.(type) {
	case yamlv2.MapSlice:
		return plural(len(v), "a mapping of %d key")
	case []any:
		return plural(len(v), "a sequence of %d item")
	case map[any]any:
		return plural(len(v), "a mapping of %d key")
	default:
		return "a scalar"
	}
}

// plural formats n and adds an s unless n is 1.
func plural(n int, format string) string {
	s := fmt.Sprintf(format, n)
	if n != 1 {
		s += "s"
	}
	return s
}

// neutraliseHelm copies Helm values with the characters that can make YAML
// structure replaced by 'x' in strings and keys; a string without them is
// kept, so that the chart's control flow rarely differs from the real render.
func neutraliseHelm(v any) any {
	switch v := v.(type) {
	case string:
		return helmSafe(v)
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[helmSafe(k)] = neutraliseHelm(e)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = neutraliseHelm(e)
		}
		return out
	default:
		return v
	}
}

// helmSafe replaces the characters that can make YAML structure: all but
// letters, digits, space and - _ . / + = ~ ( ) $ ^ ;
func helmSafe(s string) string {
	safe := func(r rune) bool {
		if r < utf8.RuneSelf {
			return isAlnum(byte(r)) || strings.ContainsRune(" -_./+=~()$^;", r)
		}
		return unicode.IsLetter(r) || unicode.IsDigit(r)
	}
	if strings.IndexFunc(s, func(r rune) bool { return !safe(r) }) < 0 {
		return s
	}
	return strings.Map(func(r rune) rune {
		if safe(r) {
			return r
		}
		return 'x'
	}, s)
}

// compareGuardedKeys refuses a Helm render in which a label or annotation
// key on a document's metadata that is the platform's to set (managementKey;
// podSecurityKey on a Namespace) is not in the probe at its place: a team's
// value made it, though no value holds it as written (a chart that runs
// values through tpl, as Bitnami's common.tplvalues.render does, builds it
// at render time). Helm's probe changes nothing but what the instance and
// the team's Overrides gave, so a key the chart writes itself is the same
// in both. out and probe have the same shape (compareShapes).
func compareGuardedKeys(source, out, probe string) error {
	docs, pdocs := splitDocuments(out), splitDocuments(probe)
	for i, d := range docs {
		if i >= len(pdocs) || d.text == pdocs[i].text {
			continue
		}
		real, err1 := yamlShape(d.text)
		pr, err2 := yamlShape(pdocs[i].text)
		if err1 != nil || err2 != nil {
			continue // compareShapes reports it
		}
		if field, key := valueMadeGuardedKey(real, pr); key != "" {
			return fmt.Errorf("%s: rendered document %d (from output line %d): metadata.%s has the key %s, which a value of the instance (or a team's Values Override) made; it is the platform's to set: %w",
				source, d.index, d.line, field, key, ErrValueCreatesStructure)
		}
	}
	return nil
}

// valueMadeGuardedKey returns the field (labels or annotations) and a
// guarded key of real's metadata that differs in probe at the same place.
func valueMadeGuardedKey(real, probe yamlv2.MapSlice) (string, string) {
	isNamespace := false
	for _, item := range real {
		if item.Key == "kind" && item.Value == "Namespace" {
			isNamespace = true
		}
	}
	for i, item := range real {
		md, ok := item.Value.(yamlv2.MapSlice)
		if item.Key != "metadata" || !ok || i >= len(probe) {
			continue
		}
		pmd, _ := probe[i].Value.(yamlv2.MapSlice)
		for j, f := range md {
			m, ok := f.Value.(yamlv2.MapSlice)
			if (f.Key != "labels" && f.Key != "annotations") || !ok || j >= len(pmd) {
				continue
			}
			pm, _ := pmd[j].Value.(yamlv2.MapSlice)
			for k, e := range m {
				key := fmt.Sprint(e.Key)
				if !guardedKey(key, isNamespace) {
					continue
				}
				if k >= len(pm) || fmt.Sprint(pm[k].Key) != key {
					return fmt.Sprint(f.Key), key
				}
			}
		}
	}
	return "", ""
}

// guardedKey says whether a label or annotation key is the platform's to
// set: a management key anywhere, a Pod Security key on a Namespace.
func guardedKey(key string, namespace bool) bool {
	return managementKey(key) || namespace && podSecurityKey(key)
}
