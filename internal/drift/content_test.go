package drift

import (
	"reflect"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes/scheme"
)

func object(t *testing.T, s string) map[string]any {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON([]byte(s)); err != nil {
		t.Fatal(err)
	}
	return u.Object
}

func TestCompare(t *testing.T) {
	const head = `"apiVersion":"example.com/v1","kind":"Widget","metadata":{"name":"w"}`
	for _, tc := range []struct {
		name, manifest, live string
		substituted          bool
		want                 []string
	}{
		{name: "defaults and other fields are no difference",
			manifest: `{` + head + `,"spec":{"a":{"b":"x"},"items":[{"name":"i","v":1}]}}`,
			live:     `{` + head + `,"spec":{"a":{"b":"x","c":"default"},"items":[{"name":"i","v":1,"d":true}],"other":1},"status":{"ok":true}}`},
		{name: "a changed value", manifest: `{` + head + `,"spec":{"a":{"b":"x"}}}`, live: `{` + head + `,"spec":{"a":{"b":"y"}}}`,
			want: []string{"spec.a.b"}},
		{name: "a missing value", manifest: `{` + head + `,"spec":{"a":"x","n":3}}`, live: `{` + head + `,"spec":{}}`,
			want: []string{"spec.a", "spec.n"}},
		{name: "empty values the server omits", manifest: `{` + head + `,"spec":{"d":{},"e":[],"f":null}}`, live: `{` + head + `,"spec":{}}`},
		{name: "a zero value in a custom resource", manifest: `{` + head + `,"spec":{"a":false,"b":0,"c":""}}`, live: `{` + head + `,"spec":{}}`,
			want: []string{"spec.a", "spec.b", "spec.c"}},
		{name: "zero values a Go type omits",
			manifest: `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"hostNetwork":false,"automountServiceAccountToken":false,` +
				`"containers":[{"name":"c","image":"i","volumeMounts":[{"name":"v","mountPath":"/v","readOnly":false}]}]}}`,
			live: `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"automountServiceAccountToken":false,` +
				`"containers":[{"name":"c","image":"i","volumeMounts":[{"name":"v","mountPath":"/v"}]}]}}`},
		{name: "a pointer's false is not its absence",
			manifest: `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"automountServiceAccountToken":false}}`,
			live:     `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{}}`,
			want:     []string{"spec.automountServiceAccountToken"}},
		{name: "an item added or changed in a list",
			manifest: `{` + head + `,"spec":{"l":[{"name":"a"}],"s":["x","y"]}}`,
			live:     `{` + head + `,"spec":{"l":[{"name":"a"},{"name":"b"}],"s":["x","z"]}}`,
			want:     []string{"spec.l", "spec.s[1]"}},
		{name: "numbers by value", manifest: `{` + head + `,"spec":{"n":2.0}}`, live: `{` + head + `,"spec":{"n":2}}`},
		{name: "quantities canonical in a Go type",
			manifest: `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"c","resources":{"limits":{"cpu":"0.5","memory":"1024Mi"},"requests":{"cpu":0.25}}}]}}`,
			live:     `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"c","resources":{"limits":{"cpu":"500m","memory":"1Gi"},"requests":{"cpu":"250m"}}}]}}`},
		{name: "a quantity in a custom resource as written", manifest: `{` + head + `,"spec":{"cpu":"0.5"}}`, live: `{` + head + `,"spec":{"cpu":"500m"}}`,
			want: []string{"spec.cpu"}},
		{name: "data is kept as given",
			manifest: `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"data":{"cpu":"0.5"}}`,
			live:     `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"data":{"cpu":"500m"}}`,
			want:     []string{"data.cpu"}},
		{name: "a Secret's stringData is its data",
			manifest: `{"apiVersion":"v1","kind":"Secret","metadata":{"name":"s"},"stringData":{"p":"pw"},"data":{"q":"eA=="}}`,
			live:     `{"apiVersion":"v1","kind":"Secret","metadata":{"name":"s"},"data":{"p":"cHc=","q":"eA=="},"type":"Opaque"}`},
		{name: "a Secret's stringData changed",
			manifest: `{"apiVersion":"v1","kind":"Secret","metadata":{"name":"s"},"stringData":{"p":"pw"}}`,
			live:     `{"apiVersion":"v1","kind":"Secret","metadata":{"name":"s"},"data":{"p":"b3RoZXI="}}`,
			want:     []string{"data.p"}},
		{name: "labels and annotations compared, other metadata not",
			manifest: `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c","namespace":"x","creationTimestamp":null,"labels":{"a":"1"},"annotations":{"b":"2"}}}`,
			live:     `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c","namespace":"default","creationTimestamp":"2026-01-01T00:00:00Z","labels":{"a":"1","x":"y"},"annotations":{"b":"3"}}}`,
			want:     []string{"metadata.annotations.b"}},
		{name: "variables substituted", substituted: true,
			manifest: `{` + head + `,"spec":{"url":"https://${host}/x","n":"${replicas}","m":"${a}-${b:=z}"}}`,
			live:     `{` + head + `,"spec":{"url":"https://example.com/x","n":3,"m":"1-z"}}`},
		{name: "literal parts around a variable", substituted: true,
			manifest: `{` + head + `,"spec":{"url":"https://${host}/x"}}`, live: `{` + head + `,"spec":{"url":"https://example.com/y"}}`,
			want: []string{"spec.url"}},
		{name: "a variable in an integer field", substituted: true,
			manifest: `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d"},"spec":{"replicas":"${replicas}"}}`,
			live:     `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d"},"spec":{"replicas":3}}`},
		{name: "variables only where Flux substitutes",
			manifest: `{` + head + `,"spec":{"url":"${host}"}}`, live: `{` + head + `,"spec":{"url":"example.com"}}`,
			want: []string{"spec.url"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Compare(Stored(object(t, tc.manifest), scheme.Scheme), object(t, tc.live), tc.substituted)
			if !reflect.DeepEqual(got.Fields, tc.want) || got.Count != len(tc.want) {
				t.Errorf("Compare = %v (%d), want %v", got.Fields, got.Count, tc.want)
			}
		})
	}
}
