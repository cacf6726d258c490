// Package drift judges whether a live object on a member cluster still holds
// what Flotilla applied to it. It is pure: it compares objects it is given
// and talks to no API server.
//
// Only fields Flotilla owns count. Which fields those are comes from the
// managedFields entry of Flotilla's field manager on the object as applied
// (the response of a server-side apply, or of a dry run of one), so fields
// the API server defaulted, status, and fields only other controllers set
// (an HPA's replicas when the manifest leaves them out) are never drift. A
// field Flotilla owns whose live value differs is drift; the field manager
// that owns it on the live object now (kubectl-edit, say) is who drifted it.
package drift

import (
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"
	"sigs.k8s.io/structured-merge-diff/v6/value"
)

// MaxFields bounds the fields a Result lists (the Work API's bound).
const MaxFields = 32

// ErrNotManaged is returned when the applied object has no managedFields
// entry for the manager: there is nothing to judge against.
var ErrNotManaged = errors.New("no server-side apply managedFields entry for the field manager")

// Result is the drift of one object.
type Result struct {
	// Fields that differ, as dotted paths (spec.replicas,
	// spec.template.spec.containers[name=app].image), sorted; at most MaxFields.
	Fields []string
	// Count is the number of drifted fields, which may exceed len(Fields).
	Count int
	// By is the field manager that now owns most of the drifted fields, when
	// the live managedFields tell; empty when nobody does (a field removed).
	By string
	// Deleted is set when the live object is gone.
	Deleted bool
	// all holds every drifted field, also past MaxFields, sorted by its
	// dotted path: exceptions must cover each of them.
	all []field
}

// field is one drifted field: its path and its dotted rendering.
type field struct {
	path fieldpath.Path
	str  string
}

// Drifted reports whether anything differs.
func (r Result) Drifted() bool { return r.Count > 0 || r.Deleted }

// Judge compares live with applied, the object as the API server stores it
// once manager's desired state is applied to it. A nil live object is gone:
// every owned field drifted.
func Judge(applied, live *unstructured.Unstructured, manager string) (Result, error) {
	if applied == nil {
		return Result{}, errors.New("no applied object to judge against")
	}
	owned, err := ownedFields(applied.GetManagedFields(), manager)
	if err != nil {
		return Result{}, err
	}
	var liveObj map[string]any
	if live != nil {
		liveObj = live.Object
	}
	var drifted []fieldpath.Path
	owned.Leaves().Iterate(func(p fieldpath.Path) {
		if ignored(p) {
			return
		}
		want, wantOK := valueAt(applied.Object, p)
		got, gotOK := valueAt(liveObj, p)
		if !same(want, wantOK, got, gotOK) {
			drifted = append(drifted, p.Copy())
		}
	})
	res := Result{Count: len(drifted), Deleted: live == nil}
	for _, p := range drifted {
		res.all = append(res.all, field{path: p, str: PathString(p)})
	}
	sort.Slice(res.all, func(i, j int) bool { return res.all[i].str < res.all[j].str })
	for _, f := range res.all[:min(len(res.all), MaxFields)] {
		res.Fields = append(res.Fields, f.str)
	}
	if live != nil {
		res.By = changedBy(live.GetManagedFields(), manager, drifted)
	}
	return res, nil
}

// ownedFields returns the fields manager owns by server-side apply on the
// main resource.
func ownedFields(entries []metav1.ManagedFieldsEntry, manager string) (*fieldpath.Set, error) {
	for _, e := range entries {
		if e.Manager != manager || e.Operation != metav1.ManagedFieldsOperationApply || e.Subresource != "" {
			continue
		}
		set := &fieldpath.Set{}
		if e.FieldsV1 == nil {
			return set, nil
		}
		if err := set.FromJSON(e.FieldsV1.GetRawReader()); err != nil {
			return nil, fmt.Errorf("reading the managed fields of %s: %w", manager, err)
		}
		return set, nil
	}
	return nil, ErrNotManaged
}

// ignored: fields that are never drift even if listed (status is written
// through its own subresource; a manifest's status is not applied).
func ignored(p fieldpath.Path) bool {
	return len(p) > 0 && p[0].FieldName != nil && *p[0].FieldName == "status"
}

// same compares two values at an owned leaf. A leaf that is an empty map in
// the applied object stands for the map's existence only (keys in it belong
// to whoever set them); anything else is compared in full (scalars, atomic
// lists and maps).
func same(want any, wantOK bool, got any, gotOK bool) bool {
	if wantOK != gotOK {
		return false
	}
	if !wantOK {
		return true
	}
	if m, ok := want.(map[string]any); ok && len(m) == 0 {
		_, isMap := got.(map[string]any)
		return isMap || got == nil
	}
	return reflect.DeepEqual(want, got)
}

// valueAt walks obj along p. It reports false when any step is missing or
// of an unexpected shape.
func valueAt(obj any, p fieldpath.Path) (any, bool) {
	cur := obj
	for _, pe := range p {
		switch {
		case pe.FieldName != nil:
			m, ok := cur.(map[string]any)
			if !ok {
				return nil, false
			}
			if cur, ok = m[*pe.FieldName]; !ok {
				return nil, false
			}
		case pe.Key != nil:
			item, ok := findKeyed(cur, *pe.Key)
			if !ok {
				return nil, false
			}
			cur = item
		case pe.Value != nil:
			item, ok := findValue(cur, *pe.Value)
			if !ok {
				return nil, false
			}
			cur = item
		case pe.Index != nil:
			l, ok := cur.([]any)
			if !ok || *pe.Index < 0 || *pe.Index >= len(l) {
				return nil, false
			}
			cur = l[*pe.Index]
		default:
			return nil, false
		}
	}
	return cur, true
}

// findKeyed finds the item of an associative list whose key fields match.
func findKeyed(list any, key value.FieldList) (any, bool) {
	l, ok := list.([]any)
	if !ok {
		return nil, false
	}
outer:
	for _, item := range l {
		m, ok := item.(map[string]any)
		if !ok {
			continue
		}
		for _, f := range key {
			v, ok := m[f.Name]
			if !ok || !value.Equals(value.NewValueInterface(v), f.Value) {
				continue outer
			}
		}
		return item, true
	}
	return nil, false
}

// findValue finds the item of a set-like list equal to v.
func findValue(list any, v value.Value) (any, bool) {
	l, ok := list.([]any)
	if !ok {
		return nil, false
	}
	for _, item := range l {
		if value.Equals(value.NewValueInterface(item), v) {
			return item, true
		}
	}
	return nil, false
}

// changedBy names the other field manager that owns the most drifted
// fields on the live object (the latest to write, on a tie). Writes through
// a subresource count: kubectl scale owns spec.replicas through scale.
func changedBy(entries []metav1.ManagedFieldsEntry, manager string, drifted []fieldpath.Path) string {
	type owner struct {
		name  string
		count int
		at    time.Time
	}
	var best *owner
	for _, e := range entries {
		if e.Manager == manager || e.FieldsV1 == nil {
			continue
		}
		set := &fieldpath.Set{}
		if err := set.FromJSON(e.FieldsV1.GetRawReader()); err != nil {
			continue
		}
		o := owner{name: e.Manager}
		if e.Time != nil {
			o.at = e.Time.Time
		}
		for _, p := range drifted {
			if set.Has(p) {
				o.count++
			}
		}
		if o.count == 0 {
			continue
		}
		if best == nil || o.count > best.count || (o.count == best.count && o.at.After(best.at)) {
			best = &o
		}
	}
	if best == nil {
		return ""
	}
	return best.name
}

// PathString renders a field path as a dotted path: fields joined by dots,
// list items by their keys in brackets (containers[name=app]), set items by
// value (finalizers[x]) and atomic list items by index (args[0]).
func PathString(p fieldpath.Path) string {
	var b strings.Builder
	for _, pe := range p {
		switch {
		case pe.FieldName != nil:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(*pe.FieldName)
		case pe.Key != nil:
			b.WriteByte('[')
			for i, f := range *pe.Key {
				if i > 0 {
					b.WriteByte(',')
				}
				b.WriteString(f.Name)
				b.WriteByte('=')
				b.WriteString(scalar(f.Value))
			}
			b.WriteByte(']')
		case pe.Value != nil:
			b.WriteString("[" + scalar(*pe.Value) + "]")
		case pe.Index != nil:
			b.WriteString("[" + strconv.Itoa(*pe.Index) + "]")
		}
	}
	return b.String()
}

// scalar renders a key value without JSON quotes for strings.
func scalar(v value.Value) string {
	if v.IsString() {
		return v.AsString()
	}
	return value.ToString(v)
}
