package instance_test

import (
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/controller/promise/promisetest"
	"github.com/flotilla-dev/flotilla/internal/hub"
)

// The platform finds that its Promise let teams run any image and tightens
// the schema: spec.image must now come from its registry. Team sch1-team
// requested its instance before, with an image from elsewhere; the API
// server keeps the instance as stored (and, ratcheting, lets the team
// update it as long as the image stays). The new revision's templates were
// written for the new schema: they must never render a spec it refuses, or
// the instance keeps, at every later revision, what the platform forbade.
// Nothing running is lost either: the instance is held, its Work as it is,
// and says which field the Promise now refuses; an instance the new schema
// accepts moves on.
func TestASpecTheNewSchemaRefusesIsHeld(t *testing.T) {
	e := newEnv(t)
	startHub(t, hub.Options{AdmitLatest: true})
	const group, kind = "sch1.example.com", "Sch1App"
	e.Cluster("sch1-1", map[string]string{"story": "sch1"})
	e.Fleet("sch1", map[string]string{"story": "sch1"}, "sch1-team")
	e.Namespace("sch1-team", nil)
	p := imagePromise("sch1-app", group, kind, "sch1")
	e.Create(p)
	first := e.PromiseReady("sch1-app")

	e.Create(instance(group, kind, "sch1-team", "miner", map[string]any{"image": "evil.example/miner:1"}))
	e.Create(instance(group, kind, "sch1-team", "web", map[string]any{"image": "registry.example.com/web:1"}))
	before := e.WaitWork("sch1-app", "sch1-team", "miner", "sch1-1", func(w *fleetv1alpha1.Work) (bool, string) {
		return w.Spec.Revision == first, w.Spec.Revision
	})

	e.UpdatePromise("sch1-app", func(p *fleetv1alpha1.Promise) {
		p.Spec.API.Schema = promisetest.Raw(map[string]any{
			"type":     "object",
			"required": []string{"image"},
			"properties": map[string]any{
				"image": map[string]any{"type": "string", "pattern": `^registry\.example\.com/`},
			},
		})
	})
	second := e.PromiseReady("sch1-app")
	if second == first {
		t.Fatal("the schema change made no new revision")
	}
	e.WaitWork("sch1-app", "sch1-team", "web", "sch1-1", func(w *fleetv1alpha1.Work) (bool, string) {
		return w.Spec.Revision == second, w.Spec.Revision
	})
	e.WaitInstance(group, kind, "sch1-team", "miner", "held", func(s fleetv1alpha1.InstanceStatus) bool {
		c := meta.FindStatusCondition(s.Conditions, fleetv1alpha1.ConditionReady)
		return c != nil && c.Status == metav1.ConditionFalse && c.Reason == fleetv1alpha1.ReasonInvalidSpec &&
			strings.Contains(c.Message, "spec.image") && strings.Contains(c.Message, second)
	})
	time.Sleep(time.Second)
	w := e.Work("sch1-app", "sch1-team", "miner", "sch1-1")
	if w == nil || w.Spec.Revision != first || w.Generation != before.Generation {
		t.Fatalf("the instance's Work moved to %s, whose schema refuses its spec (it renders %s), or went: %+v",
			second, manifestData(t, w, "image"), w)
	}
}

// imagePromise is a Promise whose instances render one ConfigMap carrying
// spec.image, any string.
func imagePromise(name, group, kind string, fleets ...string) *fleetv1alpha1.Promise {
	p := configMapPromise(name, group, kind, fleets...)
	p.Spec.API.Schema = promisetest.Raw(map[string]any{
		"type":       "object",
		"required":   []string{"image"},
		"properties": map[string]any{"image": map[string]any{"type": "string"}},
	})
	p.Spec.Templates.GoTemplates[0].Template = `apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .instance.metadata.name | quote }}
data:
  image: {{ .spec.image | quote }}
`
	p.Spec.Examples = []fleetv1alpha1.PromiseExample{{Name: "web", Spec: promisetest.Raw(map[string]any{"image": "registry.example.com/web:1"})}}
	return p
}
