package controller_test

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/controller"
)

func clusterAt(name, rv string) *fleetv1alpha1.Cluster {
	return &fleetv1alpha1.Cluster{ObjectMeta: metav1.ObjectMeta{Name: name, ResourceVersion: rv}}
}

func TestOwnWritesBehind(t *testing.T) {
	for _, tc := range []struct {
		name    string
		written []string // resourceVersions recorded, in order
		cached  string
		want    bool
	}{
		{name: "nothing written", cached: "100"},
		{name: "cache at the write", written: []string{"100"}, cached: "100"},
		{name: "cache past the write", written: []string{"100"}, cached: "101"},
		{name: "cache before the write", written: []string{"100"}, cached: "99", want: true},
		{name: "more digits is newer", written: []string{"1000"}, cached: "999", want: true},
		{name: "an older write does not move it back", written: []string{"100", "90"}, cached: "95", want: true},
		{name: "the last of several writes", written: []string{"90", "100"}, cached: "95", want: true},
		{name: "empty versions are not recorded", written: []string{""}, cached: "1"},
		{name: "incomparable, different", written: []string{"a"}, cached: "b", want: true},
		{name: "incomparable, same", written: []string{"a"}, cached: "a"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var w controller.OwnWrites
			for _, rv := range tc.written {
				w.Record(clusterAt("edge-1", rv))
			}
			if got := w.Behind(clusterAt("edge-1", tc.cached)); got != tc.want {
				t.Errorf("Behind(%q) after writes %q = %v, want %v", tc.cached, tc.written, got, tc.want)
			}
			if w.Behind(clusterAt("edge-2", "1")) {
				t.Error("another object is behind")
			}
		})
	}
}

func TestOwnWritesForget(t *testing.T) {
	var w controller.OwnWrites
	w.Record(clusterAt("edge-1", "100"))
	w.Forget(client.ObjectKey{Name: "edge-1"})
	if w.Behind(clusterAt("edge-1", "5")) {
		t.Error("behind a write that was forgotten")
	}
}

func TestOwnWritesRetain(t *testing.T) {
	var w controller.OwnWrites
	w.Record(clusterAt("edge-1", "100"))
	w.Record(clusterAt("edge-2", "100"))
	w.Retain(func(key client.ObjectKey) bool { return key.Name == "edge-2" })
	if w.Behind(clusterAt("edge-1", "5")) {
		t.Error("behind a write of an object not retained")
	}
	if !w.Behind(clusterAt("edge-2", "5")) {
		t.Error("the retained write was dropped")
	}
}

func TestOwnWritesByOwner(t *testing.T) {
	var o controller.OwnWritesByOwner
	o.Of("redis").Record(clusterAt("shop", "100"))
	if !o.Of("redis").Behind(clusterAt("shop", "5")) {
		t.Error("an owner's write was not kept")
	}
	if o.Of("postgres").Behind(clusterAt("shop", "5")) {
		t.Error("another owner's object of the same name is behind")
	}
	o.Forget("redis")
	if o.Of("redis").Behind(clusterAt("shop", "5")) {
		t.Error("behind a write of a forgotten owner")
	}
}
