// Package hub embeds the hub's admission policies that every hub runs with,
// so that test hubs and `flotilla dev up` install the very manifests
// config/hub ships (the chart holds a copy, checked by test/install).
package hub

import (
	_ "embed"
	"fmt"
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
)

//go:embed actors-policy.yaml
var actorsPolicy string

//go:embed override-patch-policy.yaml
var overridePatchPolicy string

// ActorPolicies decodes the ValidatingAdmissionPolicies and bindings of
// actors-policy.yaml: the "by" of every change on a Rollout or FleetFreeze,
// and a DriftException's declaredBy, is the requesting user, and only the
// platform changes a Rollout's strategy or update policy; and a Promise's
// instance CRD, or a Promise the hub counts instances of, is deleted only
// once annotated force-delete; and nobody deletes a Rollout, a revision the
// hub records, a joined cluster's namespace or the record of unjoined names
// by hand. Each call returns fresh objects.
func ActorPolicies() ([]*admissionregistrationv1.ValidatingAdmissionPolicy, []*admissionregistrationv1.ValidatingAdmissionPolicyBinding, error) {
	return decodePolicies("actors-policy.yaml", actorsPolicy)
}

// TeamOverridePolicies decodes override-patch-policy.yaml: a team's Override
// may not change which object it patches nor use $ directives. Test hubs do
// not install it (the render enforces the same rules; some tests write such
// Overrides on purpose); its own test does.
func TeamOverridePolicies() ([]*admissionregistrationv1.ValidatingAdmissionPolicy, []*admissionregistrationv1.ValidatingAdmissionPolicyBinding, error) {
	return decodePolicies("override-patch-policy.yaml", overridePatchPolicy)
}

// decodePolicies decodes the policies and bindings of one embedded file.
func decodePolicies(file, text string) ([]*admissionregistrationv1.ValidatingAdmissionPolicy, []*admissionregistrationv1.ValidatingAdmissionPolicyBinding, error) {
	scheme := runtime.NewScheme()
	utilruntime.Must(admissionregistrationv1.AddToScheme(scheme))
	decoder := serializer.NewCodecFactory(scheme).UniversalDeserializer()
	var (
		policies []*admissionregistrationv1.ValidatingAdmissionPolicy
		bindings []*admissionregistrationv1.ValidatingAdmissionPolicyBinding
	)
	for i, doc := range strings.Split(text, "\n---\n") {
		obj, _, err := decoder.Decode([]byte(doc), nil, nil)
		if err != nil {
			return nil, nil, fmt.Errorf("decoding document %d of %s: %w", i, file, err)
		}
		switch o := obj.(type) {
		case *admissionregistrationv1.ValidatingAdmissionPolicy:
			policies = append(policies, o)
		case *admissionregistrationv1.ValidatingAdmissionPolicyBinding:
			bindings = append(bindings, o)
		default:
			return nil, nil, fmt.Errorf("document %d of %s is a %T", i, file, obj)
		}
	}
	return policies, bindings, nil
}
