package instance_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/hub"
)

// Team nsr4-pay names an instance eu under ${namespace}-${name} before the
// platform onboards team nsr4-pay-eu: nsr4-pay-eu is no namespace of the hub
// yet, so the Work is written with it in its scope. Then team nsr4-pay-eu
// arrives. Its instances land in its namespace on the members, and team
// nsr4-pay's Work must not keep the right to write there (and its objects
// there) for ever.
func TestAnEarlierInstanceDoesNotKeepANewTeamsNamespace(t *testing.T) {
	e := newEnv(t)
	startHub(t, hub.Options{AdmitLatest: true})
	const group, kind = "nsrule4.example.com", "PerNS4"
	e.Cluster("nsr4-1", map[string]string{"story": "nsr4"})
	e.Fleet("nsr4", map[string]string{"story": "nsr4"}, "nsr4-pay", "nsr4-pay-eu")
	e.Namespace("nsr4-pay", nil)
	p := configMapPromise("nsr4-db", group, kind, "nsr4")
	p.Spec.Output.Namespaces = []string{"${namespace}-${name}"}
	p.Spec.Templates.GoTemplates[0].Template = `apiVersion: v1
kind: ConfigMap
metadata:
  name: data
  namespace: {{ printf "%s-%s" .instance.metadata.namespace .instance.metadata.name | quote }}
data:
  size: {{ .spec.size | quote }}
`
	e.Create(p)
	e.PromiseReady("nsr4-db")

	e.Create(instance(group, kind, "nsr4-pay", "eu", map[string]any{"size": "small"}))
	e.WaitWork("nsr4-db", "nsr4-pay", "eu", "nsr4-1", func(w *fleetv1alpha1.Work) (bool, string) {
		return w.Spec.Scope != nil && slices.Contains(w.Spec.Scope.Namespaces, "nsr4-pay-eu"), ""
	})

	// The platform onboards team nsr4-pay-eu; it creates an instance.
	e.Namespace("nsr4-pay-eu", nil)
	e.Create(instance(group, kind, "nsr4-pay-eu", "orders", map[string]any{"size": "small"}))
	e.WaitWork("nsr4-db", "nsr4-pay-eu", "orders", "nsr4-1", func(w *fleetv1alpha1.Work) (bool, string) {
		return len(w.Spec.Manifests) == 1, ""
	})
	// The new namespace brings team nsr4-pay's instance back: refused.
	e.WaitInstance(group, kind, "nsr4-pay", "eu", "refused", func(s fleetv1alpha1.InstanceStatus) bool {
		c := meta.FindStatusCondition(s.Conditions, fleetv1alpha1.ConditionReady)
		return c != nil && c.Status == metav1.ConditionFalse && strings.Contains(c.Message, "nsr4-pay-eu")
	})
	time.Sleep(3 * time.Second)
	if w := e.Work("nsr4-db", "nsr4-pay", "eu", "nsr4-1"); w != nil && w.DeletionTimestamp.IsZero() &&
		w.Spec.Scope != nil && slices.Contains(w.Spec.Scope.Namespaces, "nsr4-pay-eu") {
		t.Errorf("team nsr4-pay's Work keeps scope %v and manifests %s in team nsr4-pay-eu's namespace: the agent keeps "+
			"applying (and correcting) them there", w.Spec.Scope.Namespaces, w.Spec.Manifests[0].Raw)
	}
}
