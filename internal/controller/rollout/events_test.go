package rollout_test

import (
	"fmt"
	"slices"
	"strings"
	"time"

	eventsv1 "k8s.io/api/events/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/controller/promise/promisetest"
)

// hasEvent waits until Rollout name (in the platform namespace) has an
// events.k8s.io Event "type reason note…" starting with want.
func (s *story) hasEvent(name, want string) {
	s.TB.Helper()
	promisetest.Eventually(s.TB, 30*time.Second, fmt.Sprintf("event %q on rollout %s", want, name), func() (bool, string) {
		list := &eventsv1.EventList{}
		if err := s.C.List(s.Ctx, list, client.InNamespace(fleetv1alpha1.PlatformNamespace)); err != nil {
			return false, err.Error()
		}
		var got []string
		for _, e := range list.Items {
			if e.Regarding.Kind == "Rollout" && e.Regarding.Name == name {
				got = append(got, e.Type+" "+e.Reason+" "+e.Note)
			}
		}
		return slices.ContainsFunc(got, func(line string) bool { return strings.HasPrefix(line, want) }), strings.Join(got, "\n")
	})
}
