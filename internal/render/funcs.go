package render

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"text/template"

	"sigs.k8s.io/yaml"
)

// maxIncludeDepth bounds include recursion (a template including itself).
const maxIncludeDepth = 64

// funcMap is the function set of Go templates, on top of text/template's
// built-ins (printf, len, index, eq, and, or, not, …). It is deliberately
// small; docs/templates.md documents each function.
func funcMap(root *template.Template) template.FuncMap {
	depth := 0
	include := func(name string, data any) (string, error) {
		if depth >= maxIncludeDepth {
			return "", fmt.Errorf("include %q: nested more than %d deep", name, maxIncludeDepth)
		}
		depth++
		defer func() { depth-- }()
		var b limitedBuilder
		if err := root.ExecuteTemplate(&b, name, data); err != nil {
			return "", err
		}
		return b.String(), nil
	}
	return template.FuncMap{
		"default":   defaultValue,
		"required":  required,
		"quote":     quote,
		"toYaml":    toYAML,
		"toJson":    toJSON,
		"indent":    indent,
		"nindent":   nindent,
		"lower":     func(v any) string { return strings.ToLower(toString(v)) },
		"upper":     func(v any) string { return strings.ToUpper(toString(v)) },
		"trim":      func(v any) string { return strings.TrimSpace(toString(v)) },
		"b64enc":    func(v any) string { return base64.StdEncoding.EncodeToString([]byte(toString(v))) },
		"sha256sum": func(v any) string { s := sha256.Sum256([]byte(toString(v))); return hex.EncodeToString(s[:]) },
		"hasKey":    hasKey,
		"dig":       dig,
		"join":      join,
		"include":   include,
	}
}

// toString formats a value for the string functions; nil is "".
func toString(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case []byte:
		return string(v)
	default:
		return fmt.Sprint(v)
	}
}

// empty says whether v is a zero value: nil, false, 0, "", or an empty list or map.
func empty(v any) bool {
	if v == nil {
		return true
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Array, reflect.Map, reflect.Slice, reflect.String:
		return rv.Len() == 0
	case reflect.Pointer, reflect.Interface:
		return rv.IsNil()
	default:
		return rv.IsZero()
	}
}

// defaultValue is `default DEFAULT VALUE`: VALUE unless it is empty (see empty).
func defaultValue(def any, given ...any) any {
	if len(given) == 0 || empty(given[0]) {
		return def
	}
	return given[0]
}

// required is `required MESSAGE VALUE`: VALUE, or an error with MESSAGE when
// VALUE is nil or "".
func required(msg string, v any) (any, error) {
	if v == nil {
		return nil, errors.New(msg)
	}
	if s, ok := v.(string); ok && s == "" {
		return nil, errors.New(msg)
	}
	return v, nil
}

// quote is `quote VALUE…`: each value as a double-quoted string (valid in
// YAML and JSON), separated by spaces.
func quote(vs ...any) string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = strconv.Quote(toString(v))
	}
	return strings.Join(out, " ")
}

func toYAML(v any) (string, error) {
	b, err := yaml.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("toYaml: %w", err)
	}
	return strings.TrimSuffix(string(b), "\n"), nil
}

func toJSON(v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("toJson: %w", err)
	}
	return string(b), nil
}

// indent is `indent N TEXT`: every line of TEXT indented by N spaces.
func indent(n int, v any) string {
	if n < 0 {
		n = 0
	}
	pad := strings.Repeat(" ", min(n, 256))
	return pad + strings.ReplaceAll(toString(v), "\n", "\n"+pad)
}

// nindent is `nindent N TEXT`: a newline, then indent N TEXT.
func nindent(n int, v any) string {
	return "\n" + indent(n, v)
}

// hasKey is `hasKey MAP KEY`: whether MAP has KEY.
func hasKey(m map[string]any, key string) bool {
	_, ok := m[key]
	return ok
}

// dig is `dig KEY… DEFAULT MAP`: the value at the path of KEYs in MAP, or
// DEFAULT when any step is missing, null or not a map. It is the safe lookup
// for optional values, which plain field access (.spec.x) reports as errors.
func dig(args ...any) (any, error) {
	if len(args) < 3 {
		return nil, errors.New("dig needs at least one key, a default and a map")
	}
	def := args[len(args)-2]
	cur, err := digMap(args[len(args)-1])
	if err != nil {
		return nil, err
	}
	keys := args[:len(args)-2]
	for i, k := range keys {
		key, ok := k.(string)
		if !ok {
			return nil, fmt.Errorf("dig: key %d is %T, not a string", i+1, k)
		}
		v, ok := cur[key]
		if !ok || v == nil {
			return def, nil
		}
		if i == len(keys)-1 {
			return v, nil
		}
		next, ok := v.(map[string]any)
		if !ok {
			return def, nil
		}
		cur = next
	}
	return def, nil
}

func digMap(v any) (map[string]any, error) {
	switch m := v.(type) {
	case map[string]any:
		return m, nil
	case nil:
		return nil, nil
	default:
		return nil, fmt.Errorf("dig: last argument is %T, not a map", v)
	}
}

// join is `join SEPARATOR LIST`: the list's elements as strings, joined.
func join(sep string, list any) (string, error) {
	switch l := list.(type) {
	case nil:
		return "", nil
	case []string:
		return strings.Join(l, sep), nil
	case []any:
		out := make([]string, len(l))
		for i, v := range l {
			out[i] = toString(v)
		}
		return strings.Join(out, sep), nil
	default:
		return "", fmt.Errorf("join: %T is not a list", list)
	}
}
