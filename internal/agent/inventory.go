package agent

import "sort"

// inventory is the set of member objects a Work may have created: everything
// the agent ever tried to apply for it and has not yet pruned. Prune only
// ever deletes objects listed here (and still labelled as this Work's).
type inventory []objectRef

// newInventory returns the refs sorted and without duplicates (by key; the
// last version wins).
func newInventory(refs ...objectRef) inventory {
	byKey := make(map[refKey]objectRef, len(refs))
	for _, r := range refs {
		byKey[r.key()] = r
	}
	out := make(inventory, 0, len(byKey))
	for _, r := range byKey {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}

// union returns the refs of both, later versions from other.
func (inv inventory) union(other ...objectRef) inventory {
	return newInventory(append(append([]objectRef(nil), inv...), other...)...)
}

// without returns the refs of inv whose key is not among keep: the objects
// that left the Work.
func (inv inventory) without(keep ...objectRef) []objectRef {
	kept := make(map[refKey]bool, len(keep))
	for _, r := range keep {
		kept[r.key()] = true
	}
	var out []objectRef
	for _, r := range inv {
		if !kept[r.key()] {
			out = append(out, r)
		}
	}
	return out
}

// equal reports whether two inventories hold the same refs.
func (inv inventory) equal(other inventory) bool {
	if len(inv) != len(other) {
		return false
	}
	for i := range inv {
		if inv[i] != other[i] {
			return false
		}
	}
	return true
}
