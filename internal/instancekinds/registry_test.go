package instancekinds

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime/schema"
)

func kind(group, version string) schema.GroupVersionKind {
	return schema.GroupVersionKind{Group: group, Version: version, Kind: "Site"}
}

// A subscriber is a controller's Watch. While that controller is still
// starting, its Watch waits for the controller's sources to sync, and a
// source syncs only once its event handlers have handled the informer's
// first list; the instance controller's handlers call Lookup. A Register
// that held the registry's lock while calling subscribers deadlocked with
// such a handler: the hub's Promise controller stalled in Register, no
// Promise became Ready, and after two minutes the instance controller gave
// up waiting for its caches and stopped the hub.
func TestLookupDoesNotWaitForSubscribers(t *testing.T) {
	k := &Registry{}
	gvk := kind("a.example.com", "v1")
	// The handler's Lookup runs on another goroutine, as an informer's
	// handler does; the subscriber waits for it as Watch waits for the sync.
	if err := k.Subscribe(func(_ schema.GroupVersionKind, promise string) error {
		handled := make(chan struct{})
		go func() {
			defer close(handled)
			k.Lookup(promise)
		}()
		select {
		case <-handled:
			return nil
		case <-time.After(5 * time.Second):
			return fmt.Errorf("a handler's Lookup of %s waited for the subscriber that waits for it", promise)
		}
	}); err != nil {
		t.Fatal(err)
	}
	if err := k.Register(context.Background(), "a", gvk); err != nil {
		t.Fatal(err)
	}
	if got, ok := k.Lookup("a"); !ok || got != gvk {
		t.Errorf("Lookup(a) = %v, %v; want %v", got, ok, gvk)
	}
}

// calls records what subscribers were called with.
type calls struct {
	mu  sync.Mutex
	got []string
}

func (c *calls) subscriber(name string) Subscriber {
	return func(gvk schema.GroupVersionKind, promise string) error {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.got = append(c.got, name+" "+promise+" "+gvk.GroupVersion().String())
		return nil
	}
}

func (c *calls) take() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	got := c.got
	c.got = nil
	slices.Sort(got)
	return got
}

func TestRegistryCallsEachSubscriberOncePerKind(t *testing.T) {
	ctx := context.Background()
	k := &Registry{}
	c := &calls{}
	if err := k.Subscribe(c.subscriber("first")); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		what string
		do   func() error
		want []string
	}{
		{"a kind registered", func() error { return k.Register(ctx, "a", kind("a.example.com", "v1")) },
			[]string{"first a a.example.com/v1"}},
		{"the same kind again", func() error { return k.Register(ctx, "a", kind("a.example.com", "v1")) }, nil},
		{"a later subscriber, given the kinds so far", func() error { return k.Subscribe(c.subscriber("second")) },
			[]string{"second a a.example.com/v1"}},
		{"a new version of the kind", func() error { return k.Register(ctx, "a", kind("a.example.com", "v2")) },
			[]string{"first a a.example.com/v2", "second a a.example.com/v2"}},
		{"the kind forgotten", func() error { k.Forget(ctx, "a"); return nil }, nil},
		{"the kind registered again", func() error { return k.Register(ctx, "a", kind("a.example.com", "v2")) },
			[]string{"first a a.example.com/v2", "second a a.example.com/v2"}},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			t.Fatalf("%s: %v", s.what, err)
		}
		if got := c.take(); !slices.Equal(got, s.want) {
			t.Errorf("%s: subscribers called with %q, want %q", s.what, got, s.want)
		}
	}
	k.Forget(ctx, "a")
	if _, ok := k.Lookup("a"); ok {
		t.Error("a forgotten kind is still looked up")
	}
}

// Registers, Forgets and Lookups from many goroutines (the Promise
// controller's reconciles and every handler) leave each Promise with the
// kind it registered last (run with -race).
func TestRegistryUnderConcurrentUse(t *testing.T) {
	ctx := context.Background()
	k := &Registry{}
	if err := k.Subscribe(func(schema.GroupVersionKind, string) error { return nil }); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 8 {
		promise := fmt.Sprintf("p%d", i)
		wg.Go(func() {
			for v := range 50 {
				_ = k.Register(ctx, promise, kind(promise+".example.com", fmt.Sprintf("v%d", v)))
				k.Lookup(promise)
				if v%10 == 0 {
					k.Forget(ctx, promise)
				}
			}
		})
	}
	wg.Wait()
	for i := range 8 {
		promise := fmt.Sprintf("p%d", i)
		if got, ok := k.Lookup(promise); !ok || got.Version != "v49" {
			t.Errorf("Lookup(%s) = %v, %v; want version v49", promise, got, ok)
		}
	}
}
