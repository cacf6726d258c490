package measure

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/flotilla-dev/flotilla/internal/testenv"
	"github.com/flotilla-dev/flotilla/internal/verify"
)

// TestJobOnAMember runs test Jobs on a real member (kube-controller-manager's
// Job controller, kwok's Pods): one that succeeds passes, one that exits 1
// fails with its log's tail as the reason, and neither leaves its Job behind.
func TestJobOnAMember(t *testing.T) {
	member := testenv.NewMember(t)
	cs, err := kubernetes.NewForConfig(member.RESTConfig)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "checks"}}
	if _, err := cs.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	cond, err := verify.Compile(verify.KindJob, "")
	if err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(member.RESTConfig)
	if err != nil {
		t.Fatal(err)
	}
	template := func(image, message string) []byte {
		raw, err := json.Marshal(map[string]any{"template": map[string]any{
			"metadata": map[string]any{"annotations": map[string]string{"kwok.flotilla.dev/termination-message": message}},
			"spec":     map[string]any{"containers": []any{map[string]any{"name": "smoke", "image": image}}},
		}})
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	for _, tc := range []struct {
		name, image, message string
		want                 verify.Outcome
		value                string
	}{
		{"smoke-pass", "example.com/smoke:1", "", verify.Passed, "the Job succeeded"},
		{"smoke-fail", "exit1.invalid/smoke:1", "GET /checkout: 500 Internal Server Error\nFAIL checkout", verify.Failed,
			"the Job failed: GET /checkout: 500 Internal Server Error\nFAIL checkout"},
	} {
		check := &JobCheck{Client: dyn, Namespace: "checks", Name: tc.name, Template: template(tc.image, tc.message),
			Timeout: 90 * time.Second, Poll: 200 * time.Millisecond}
		m := Job(ctx, check, cond, time.Now())
		if m.Outcome != tc.want || m.Value != tc.value {
			t.Errorf("%s: %+v, want %s with %q", tc.name, m, tc.want, tc.value)
		}
		if _, err := cs.BatchV1().Jobs("checks").Get(ctx, tc.name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("%s: the Job is still there (%v)", tc.name, err)
		}
	}

	// A Job that cannot be created (no such namespace): Inconclusive, saying why.
	check := &JobCheck{Client: dyn, Namespace: "nosuch", Name: "x", Template: template("example.com/smoke:1", "")}
	if m := Job(ctx, check, cond, time.Now()); m.Outcome != verify.Inconclusive || !strings.Contains(m.Message, "creating test Job nosuch/x") {
		t.Errorf("no namespace: %+v", m)
	}
}
