package rollout_test

import (
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// A template change that renders nothing. A platform engineer's new
// release guards the whole template with a misspelt field
// (`{{ if eq .spec.size "large" }}` where it meant `ne`), so every small instance renders no object. The
// canary's Work was written with no manifests: its agent pruned the
// instance's workload, found nothing unhealthy in nothing, and reported
// Ready; the canary passed, and the general wave would delete the
// workload everywhere under a Succeeded Rollout. A render of no object is
// now a failed render: the Work stays as it is, the instance says why, and
// the cluster fails the wave by its progress deadline.
func TestARevisionThatRendersNothingDeletesNoWorkload(t *testing.T) {
	s := newStory(t, "emptyrnd.example.com")
	s.strategy("emptyrnd", fleetv1alpha1.FailureHalt, wave("canary"), wave("general"))
	r1 := s.givenSite("emptyrnd", "emptyrnd")
	s.changePromise("emptyrnd", `{{ if eq .spec.size "large" }}`+template("2")+"{{ end }}")

	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, c := range s.clusters("emptyrnd") {
			w := s.Work("emptyrnd", "emptyrnd-team", "shop", c)
			if w == nil || w.Spec.Revision != r1 || len(w.Spec.Manifests) == 0 {
				t.Fatalf("the Work on %s no longer renders %s's objects: %+v", c, r1, w)
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.WaitInstance(s.group, "Site", "emptyrnd-team", "shop", "reports the render of nothing", func(st fleetv1alpha1.InstanceStatus) bool {
		c := meta.FindStatusCondition(st.Conditions, fleetv1alpha1.ConditionReady)
		return c != nil && c.Reason == fleetv1alpha1.ReasonRenderFailed && strings.Contains(c.Message, "rendered no object for this instance")
	})
}
