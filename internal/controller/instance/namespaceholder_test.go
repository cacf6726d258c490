package instance_test

import (
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/hub"
)

// The attack: a Promise gives each instance a namespace of its own
// (${namespace}-${name}) and each team one it shares
// (${namespace}-shared). Team nsh-pay names an instance eu-shared, whose
// rule gives nsh-pay-eu-shared, the namespace team nsh-pay-eu's instances
// share: the hub refuses it, as it must, but its status named the instance
// of the other team that holds the namespace, nsh-pay-eu/acquisition-zeta, a
// name team nsh-pay could not have guessed. The refusal says only that an
// instance of another namespace holds it; the hub's log names it for the
// platform.
func TestARefusedNamespaceNamesNoOtherTeamsInstance(t *testing.T) {
	e := newEnv(t)
	startHub(t, hub.Options{AdmitLatest: true})
	const group, kind = "nsholder.example.com", "NsHolder"
	e.Cluster("nsh-1", map[string]string{"story": "nsh"})
	e.Fleet("nsh", map[string]string{"story": "nsh"}, "nsh-pay", "nsh-pay-eu")
	e.Namespace("nsh-pay", nil)
	e.Namespace("nsh-pay-eu", nil)
	p := perNamespacePromise("nsh-db", group, kind, "nsh")
	p.Spec.Output.Namespaces = append(p.Spec.Output.Namespaces, "${namespace}-shared")
	e.Create(p)
	e.PromiseReady("nsh-db")

	e.Create(instance(group, kind, "nsh-pay-eu", "acquisition-zeta", map[string]any{"size": "small"}))
	e.WaitWork("nsh-db", "nsh-pay-eu", "acquisition-zeta", "nsh-1", func(w *fleetv1alpha1.Work) (bool, string) {
		return w.Spec.Scope != nil && slices.Contains(w.Spec.Scope.Namespaces, "nsh-pay-eu-shared"), ""
	})
	e.Create(instance(group, kind, "nsh-pay", "eu-shared", map[string]any{"size": "small"}))
	s := e.WaitInstance(group, kind, "nsh-pay", "eu-shared", "refused", func(s fleetv1alpha1.InstanceStatus) bool {
		c := meta.FindStatusCondition(s.Conditions, fleetv1alpha1.ConditionReady)
		return c != nil && c.Status == metav1.ConditionFalse && strings.Contains(c.Message, "nsh-pay-eu-shared")
	})
	msg := meta.FindStatusCondition(s.Conditions, fleetv1alpha1.ConditionReady).Message
	if strings.Contains(msg, "acquisition-zeta") {
		t.Errorf("team nsh-pay reads team nsh-pay-eu's instance name on its own instance: %s", msg)
	}
	if !strings.Contains(msg, "another namespace") {
		t.Errorf("message %q does not say another namespace's instance holds it", msg)
	}
	if w := e.Work("nsh-db", "nsh-pay", "eu-shared", "nsh-1"); w != nil {
		t.Errorf("instance nsh-pay/eu-shared got a Work with scope %+v", w.Spec.Scope)
	}
}
