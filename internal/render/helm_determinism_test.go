package render

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// The hub renders a revision again for every cluster and after every restart
// (its memo of renders is in memory), and writes a Work whose render changed.
// A render that differs from one time to the next is so a change that reaches
// every cluster at once, outside the Rollout's waves, approvals and freezes:
//   - a team's value run through tpl, `{{ if gt (now | unixEpoch) T }}evil
//     {{ else }}good{{ end }}`, passed the canary good and turned evil on
//     every cluster at the hub's next restart after T;
//   - a chart that makes a password when none is given (Bitnami's
//     randAlphaNum, with lookup, which finds nothing here) gave each cluster a
//     new one at every hub restart, under a database that keeps the old one;
//   - a chart printing the keys of a map in Sprig's (random) order.
//
// So the functions whose result is not fixed by their arguments are refused,
// in a chart's templates and in a text it gives tpl, and keys and values come
// in the order of the keys.
func TestAHelmRenderIsTheSameEveryTime(t *testing.T) {
	t.Run("a team's value through tpl", func(t *testing.T) {
		chart := pgChart(t, map[string]string{
			"tpl.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-tpl\ndata:\n  x: {{ tpl .Values.x . | quote }}\n",
		})
		for name, value := range map[string]string{
			"time bomb":    `{{ if gt (unixEpoch now) "1000000000" }}evil.example/miner:1{{ else }}registry.example.com/app:1{{ end }}`,
			"now":          `{{ now | date "15:04:05.000000000" }}`,
			"ago":          `{{ ago (toDate "2006-01-02" "2020-01-01") }}`,
			"randAlphaNum": `{{ randAlphaNum 16 }}`,
			"randInt":      `{{ randInt 0 1000000000 }}`,
			"uuidv4":       `{{ uuidv4 }}`,
			"shuffle":      `{{ shuffle "abcdefghijklmnopqrstuvwxyz" }}`,
			"encryptAES":   `{{ encryptAES "key" "secret" }}`,
		} {
			t.Run(name, func(t *testing.T) {
				wantNotRepeatable(t, helmInput(chart, map[string]any{"x": value}))
			})
		}
	})
	t.Run("a chart's own templates", func(t *testing.T) {
		for name, tpl := range map[string]string{
			"a password made when none is given": "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {{ .Release.Name }}-auth\nstringData:\n" +
				"  password: {{ .Values.password | default (randAlphaNum 16) | quote }}\n",
			"a CA for a webhook": "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {{ .Release.Name }}-ca\nstringData:\n" +
				"  ca.crt: {{ (genCA \"ca\" 365).Cert | quote }}\n",
			"an htpasswd for a registry": "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {{ .Release.Name }}-htpasswd\nstringData:\n" +
				"  htpasswd: {{ htpasswd \"user\" \"pw\" | quote }}\n",
			"a timestamp to restart Pods": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-stamp\n" +
				"  annotations:\n    rollme: {{ now | unixEpoch | quote }}{{ randAlpha 5 | quote }}\ndata: {}\n",
		} {
			t.Run(name, func(t *testing.T) {
				chart := pgChart(t, map[string]string{"extra.yaml": tpl})
				wantNotRepeatable(t, helmInput(chart, map[string]any{}))
			})
		}
	})
	t.Run("keys and values of a map come in the order of the keys", func(t *testing.T) {
		chart := pgChart(t, map[string]string{
			"keys.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-keys\ndata:\n" +
				"  keys: {{ keys .Values.m | join \",\" | quote }}\n  values: {{ values .Values.m | join \",\" | quote }}\n",
		})
		m := map[string]any{}
		for _, k := range strings.Split("q w e r t y u i o p a s d f g h j k l z x c v b n m", " ") {
			m[k] = strings.ToUpper(k)
		}
		in := helmInput(chart, map[string]any{"m": m})
		first := rendersTheSame(t, in)
		for _, o := range first {
			if o.GetName() != "orders-keys" {
				continue
			}
			keys, _, _ := unstructured.NestedString(o.Object, "data", "keys")
			values, _, _ := unstructured.NestedString(o.Object, "data", "values")
			if keys != "a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q,r,s,t,u,v,w,x,y,z" || values != strings.ToUpper(keys) {
				t.Errorf("keys %q, values %q", keys, values)
			}
			return
		}
		t.Fatal("no ConfigMap orders-keys")
	})
	t.Run("what is fixed by its arguments renders", func(t *testing.T) {
		chart := pgChart(t, map[string]string{
			"tpl.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-tpl\ndata:\n  x: {{ tpl .Values.x . | quote }}\n",
		})
		got := renderedTplValue(t, chart, `{{ toDate "2006-01-02" "2020-01-02" | date "Jan 2" }} {{ "pw" | b64enc }} {{ sha256sum "x" | trunc 8 }}`)
		if got != "Jan 2 cHc= 2d711642" {
			t.Errorf("x = %q", got)
		}
	})
}

// wantNotRepeatable renders in and wants it refused, saying why.
func wantNotRepeatable(t *testing.T, in Input) {
	t.Helper()
	_, err := Render(in)
	if !errors.Is(err, ErrNotRepeatable) {
		t.Fatalf("error %v, want ErrNotRepeatable", err)
	}
	if !strings.Contains(err.Error(), "another result at every render") {
		t.Errorf("the error does not say why: %v", err)
	}
}

// rendersTheSame renders in a few times, wants the same objects each time
// and returns them.
func rendersTheSame(t *testing.T, in Input) []*unstructured.Unstructured {
	t.Helper()
	first, err := Render(in)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		again, err := Render(in)
		if err != nil {
			t.Fatalf("rendered once, then %v", err)
		}
		if !reflect.DeepEqual(first.Manifests, again.Manifests) {
			t.Fatalf("two renders of the same input differ:\n%v\n%v", first.Manifests, again.Manifests)
		}
	}
	return first.Manifests
}
