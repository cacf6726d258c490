package drift

import (
	"reflect"
	"sort"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// Resource identifies a member object for matching exceptions.
type Resource struct {
	Group, Kind, Namespace, Name string
}

// SelectorMatches reports whether sel matches r: group "*" is any group
// ("" the core group), kind must equal, an empty namespace or name matches any.
func SelectorMatches(sel fleetv1alpha1.ResourceSelector, r Resource) bool {
	return (sel.Group == "*" || sel.Group == r.Group) && sel.Kind == r.Kind &&
		(sel.Namespace == "" || sel.Namespace == r.Namespace) && (sel.Name == "" || sel.Name == r.Name)
}

// Active reports whether e is in force at now: until its expiresAt.
func Active(e fleetv1alpha1.WorkDriftException, now time.Time) bool {
	return now.Before(e.ExpiresAt.Time)
}

// Covers reports whether an exception path covers a drifted field: the path
// itself and everything below it, fields (spec covers spec.replicas) and
// list items (spec.template.spec.containers covers
// spec.template.spec.containers[name=app].image).
func Covers(path, field string) bool {
	if !strings.HasPrefix(field, path) {
		return false
	}
	rest := field[len(path):]
	return rest == "" || rest[0] == '.' || rest[0] == '['
}

// CoversDrift reports whether e may accept the drift of fields on r: one
// of its resource selectors matches r and its paths cover every field (an
// exception without paths covers any). Its expiry is not looked at.
func CoversDrift(e fleetv1alpha1.WorkDriftException, r Resource, fields []string) bool {
	selected := false
	for _, sel := range e.Resources {
		if SelectorMatches(sel, r) {
			selected = true
			break
		}
	}
	if !selected {
		return false
	}
	for _, f := range fields {
		if !coveredBy(e, f) {
			return false
		}
	}
	return true
}

// NextExpiry returns the earliest expiresAt after now among excs, or the
// zero time when none expires later.
func NextExpiry(excs []fleetv1alpha1.WorkDriftException, now time.Time) time.Time {
	var next time.Time
	for _, e := range excs {
		if t := e.ExpiresAt.Time; t.After(now) && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	return next
}

// Split is a drift divided by the exceptions in force.
type Split struct {
	// Accepted is the drift exceptions cover; not Drifted when none.
	Accepted Result
	// Unexplained is the rest, to which the drift policy applies.
	Unexplained Result
	// Exception names (namespace/name) the exception accepting the drift:
	// the first by name that covers every accepted field, else the first that
	// covers any.
	Exception string
}

// Accept divides res, the drift of object r, by the exceptions in force at
// now whose resource selectors match r. A field is accepted when an
// exception's paths cover it (an exception without paths covers every
// field); a deleted object only by an exception without paths.
func Accept(res Result, r Resource, excs []fleetv1alpha1.WorkDriftException, now time.Time) Split {
	if !res.Drifted() {
		return Split{}
	}
	var matching []fleetv1alpha1.WorkDriftException
	for _, e := range excs {
		if !Active(e, now) {
			continue
		}
		for _, sel := range e.Resources {
			if SelectorMatches(sel, r) {
				matching = append(matching, e)
				break
			}
		}
	}
	if len(matching) == 0 {
		return Split{Unexplained: res}
	}
	sort.Slice(matching, func(i, j int) bool { return matching[i].Name < matching[j].Name })
	if res.Deleted {
		for _, e := range matching {
			if len(e.Paths) == 0 {
				return Split{Accepted: res, Exception: e.Name}
			}
		}
		return Split{Unexplained: res}
	}
	covered := make([]bool, len(res.all))
	coversAll, first := "", ""
	for _, e := range matching {
		n := 0
		for i, f := range res.all {
			if coveredBy(e, f.str) {
				covered[i] = true
				n++
			}
		}
		if n > 0 && first == "" {
			first = e.Name
		}
		if n == len(res.all) && coversAll == "" {
			coversAll = e.Name
		}
	}
	var accepted, unexplained []field
	for i, f := range res.all {
		if covered[i] {
			accepted = append(accepted, f)
		} else {
			unexplained = append(unexplained, f)
		}
	}
	s := Split{Accepted: subset(res, accepted), Unexplained: subset(res, unexplained), Exception: first}
	if coversAll != "" {
		s.Exception = coversAll
	}
	return s
}

func coveredBy(e fleetv1alpha1.WorkDriftException, f string) bool {
	if len(e.Paths) == 0 {
		return true
	}
	for _, p := range e.Paths {
		if Covers(p, f) {
			return true
		}
	}
	return false
}

// subset is res narrowed to fields (sorted as res.all is).
func subset(res Result, fields []field) Result {
	if len(fields) == 0 {
		return Result{}
	}
	out := Result{Count: len(fields), By: res.By, all: fields}
	for _, f := range fields[:min(len(fields), MaxFields)] {
		out.Fields = append(out.Fields, f.str)
	}
	return out
}

// Restrict narrows accepted drift to the fields listed in fields (dotted
// paths): after a spec change only drift accepted before stays accepted, as a
// field the new spec changes differs from the live object without being drift.
// A deletion stays accepted as it was.
func Restrict(accepted Result, fields []string) Result {
	if accepted.Deleted {
		return accepted
	}
	keep := make(map[string]bool, len(fields))
	for _, f := range fields {
		keep[f] = true
	}
	var out []field
	for _, f := range accepted.all {
		if keep[f.str] {
			out = append(out, f)
		}
	}
	return subset(accepted, out)
}

// Strip returns a copy of the manifest obj without the fields of accepted
// drift, so that a server-side apply of it leaves those fields as they are
// on the member (with whoever changed them owning them) and applies the rest.
// A field inside an atomic list stands for the whole list. obj itself is
// returned when there is nothing to strip.
func Strip(obj *unstructured.Unstructured, accepted Result) *unstructured.Unstructured {
	if len(accepted.all) == 0 || accepted.Deleted {
		return obj
	}
	out := obj.DeepCopy()
	for _, f := range accepted.all {
		p := f.path
		for i, pe := range p {
			if pe.Index != nil {
				p = p[:i] // an atomic list is one field
				break
			}
		}
		if len(p) > 0 {
			out.Object, _ = removeAt(out.Object, p).(map[string]any)
		}
	}
	return out
}

// removeAt removes the value at p from cur and returns cur.
func removeAt(cur any, p fieldpath.Path) any {
	pe := p[0]
	last := len(p) == 1
	if pe.FieldName != nil {
		m, ok := cur.(map[string]any)
		if !ok {
			return cur
		}
		if last {
			delete(m, *pe.FieldName)
		} else if v, ok := m[*pe.FieldName]; ok {
			m[*pe.FieldName] = removeAt(v, p[1:])
		}
		return m
	}
	l, ok := cur.([]any)
	if !ok {
		return cur
	}
	i := indexOf(l, pe)
	if i < 0 {
		return cur
	}
	if last {
		return append(l[:i:i], l[i+1:]...)
	}
	l[i] = removeAt(l[i], p[1:])
	return l
}

// indexOf finds the list item pe names: by its key fields, or by value.
func indexOf(l []any, pe fieldpath.PathElement) int {
	for i, item := range l {
		switch {
		case pe.Key != nil:
			if _, ok := findKeyed([]any{item}, *pe.Key); ok {
				return i
			}
		case pe.Value != nil:
			if _, ok := findValue([]any{item}, *pe.Value); ok {
				return i
			}
		}
	}
	return -1
}

// KeepUnchanged narrows accepted drift, across a new spec, to the fields the
// new manifest (now) sets as the earlier one (before) did: a field the new
// spec sets differently is a change to apply, not drift, or an exception
// would keep every later change of it (a patched image) off the object
// while the new revision read applied. A deletion stays accepted as it was;
// with no earlier manifest known, so does everything.
func KeepUnchanged(accepted Result, before, now *unstructured.Unstructured) Result {
	if accepted.Deleted || before == nil || now == nil {
		return accepted
	}
	var out []field
	for _, f := range accepted.all {
		was, wasOK := valueAt(before.Object, f.path)
		is, isOK := valueAt(now.Object, f.path)
		if wasOK == isOK && reflect.DeepEqual(was, is) {
			out = append(out, f)
		}
	}
	return subset(accepted, out)
}
