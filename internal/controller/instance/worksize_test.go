package instance_test

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/controller/promise/promisetest"
	"github.com/flotilla-dev/flotilla/internal/hub"
)

// The attack: a team asks for an instance whose render is more than a Work
// may hold (more objects than its 500 manifests, or more bytes than etcd
// stores in one object): the API server refused the Work's write, the hub
// retried it for ever with backoff, and the instance said nothing of why
// its change never reached the cluster (a careless team waits; a platform
// engineer finds only the hub's log). Now the render is refused for that
// cluster, as a render that fails is: the instance is Stalled naming the
// bound, and the Work stays as it was.
func TestARenderTooLargeForAWorkIsRefusedOnTheInstance(t *testing.T) {
	e := newEnv(t)
	startHub(t, hub.Options{})
	const group, kind = "worksize.example.com", "Many"
	e.Cluster("worksize-1", map[string]string{"story": "worksize"})
	e.Fleet("worksize", map[string]string{"story": "worksize"}, "worksize-team")
	e.Namespace("worksize-team", nil)
	p := configMapPromise("worksize-db", group, kind, "worksize")
	p.Spec.API.Schema = promisetest.Raw(map[string]any{"type": "object", "required": []string{"count", "big"}, "properties": map[string]any{
		"count": map[string]any{"type": "integer", "minimum": 1, "maximum": 1000},
		"big":   map[string]any{"type": "boolean"},
	}})
	p.Spec.Templates.GoTemplates[0].Template = `{{ range $i := .spec.count }}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ printf "%s-%d" $.instance.metadata.name $i | quote }}
data:
  n: {{ printf "%d" $i | quote }}
{{- if $.spec.big }}
  pad: {{ printf "%040000d" 0 | quote }}
{{- end }}
{{ end }}`
	p.Spec.Examples = []fleetv1alpha1.PromiseExample{{Name: "two", Spec: promisetest.Raw(map[string]any{"count": 2, "big": false})}}
	e.Create(p)
	e.PromiseReady("worksize-db")
	e.Create(instance(group, kind, "worksize-team", "orders", map[string]any{"count": 2, "big": false}))
	before := e.WaitWork("worksize-db", "worksize-team", "orders", "worksize-1", func(w *fleetv1alpha1.Work) (bool, string) {
		return len(w.Spec.Manifests) == 2, ""
	})

	for gen, spec := range []map[string]any{
		{"count": 501, "big": false}, // more objects than a Work's 500
		{"count": 40, "big": true},   // 1.6 MB of manifests
	} {
		e.UpdateInstance(instance(group, kind, "worksize-team", "orders", nil), func(u *unstructured.Unstructured) {
			u.Object["spec"] = spec
		})
		st := e.WaitInstance(group, kind, "worksize-team", "orders", "stalled", func(s fleetv1alpha1.InstanceStatus) bool {
			return conditionIs(s.Conditions, fleetv1alpha1.ConditionStalled, metav1.ConditionTrue) && s.ObservedGeneration == int64(gen+2)
		})
		msg := ""
		for _, c := range st.Conditions {
			if c.Type == fleetv1alpha1.ConditionStalled {
				msg = c.Message
			}
		}
		if !strings.Contains(msg, "a Work holds at most") || conditionReason(st.Conditions, fleetv1alpha1.ConditionReady) != fleetv1alpha1.ReasonRenderFailed {
			t.Errorf("spec %v: Stalled message %q does not give the Work's bound; conditions %+v", spec, msg, st.Conditions)
		}
		after := e.Work("worksize-db", "worksize-team", "orders", "worksize-1")
		if after.Generation != before.Generation || len(after.Spec.Manifests) != 2 {
			t.Errorf("spec %v: the Work changed: generation %d -> %d, %d manifests", spec, before.Generation, after.Generation, len(after.Spec.Manifests))
		}
	}
}
