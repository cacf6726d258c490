package health

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

func load(t *testing.T, name string) *unstructured.Unstructured {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	// Decode the way live objects arrive from the API server: integers as int64.
	data, err = yaml.YAMLToJSON(data)
	if err != nil {
		t.Fatalf("converting %s: %v", name, err)
	}
	obj := &unstructured.Unstructured{}
	if err := obj.UnmarshalJSON(data); err != nil {
		t.Fatalf("decoding %s: %v", name, err)
	}
	return obj
}

// fixtureCase is a live object (a file of testdata), the health it must
// read and a part of its message.
type fixtureCase struct {
	fixture     string
	want        fleetv1alpha1.HealthStatus
	wantMessage string
}

func judgeFixtures(t *testing.T, cases []fixtureCase) {
	t.Helper()
	for _, tt := range cases {
		t.Run(tt.fixture, func(t *testing.T) {
			got := Of(load(t, tt.fixture))
			if got.Status != tt.want {
				t.Errorf("status = %s, want %s (message %q)", got.Status, tt.want, got.Message)
			}
			if !strings.Contains(got.Message, tt.wantMessage) {
				t.Errorf("message = %q, want it to contain %q", got.Message, tt.wantMessage)
			}
		})
	}
}

func TestOf(t *testing.T) {
	judgeFixtures(t, []fixtureCase{
		{"deployment-available.yaml", fleetv1alpha1.HealthCurrent, "Deployment is available"},
		{"deployment-progressing.yaml", fleetv1alpha1.HealthInProgress, "Updated: 1/3"},
		{"deployment-stale-generation.yaml", fleetv1alpha1.HealthInProgress, "generation is 4, but latest observed generation is 3"},
		{"deployment-deadline-exceeded.yaml", fleetv1alpha1.HealthFailed, "Progress deadline exceeded"},
		{"configmap.yaml", fleetv1alpha1.HealthCurrent, "Resource is always ready"},
		{"unknown-kind-plain.yaml", fleetv1alpha1.HealthCurrent, "Resource is current"},
		{"unknown-kind-ready-false.yaml", fleetv1alpha1.HealthInProgress, "waiting for the database"},
		{"unknown-kind-stalled.yaml", fleetv1alpha1.HealthFailed, "quota exceeded"},
		{"unknown-kind-malformed-conditions.yaml", fleetv1alpha1.HealthUnknown, "judging health"},
		{"terminating.yaml", fleetv1alpha1.HealthInProgress, "scheduled for deletion"},
		{"crd-established.yaml", fleetv1alpha1.HealthCurrent, "CRD is established"},
	})
}

func TestOfNil(t *testing.T) {
	if got := Of(nil); got.Status != fleetv1alpha1.HealthUnknown || got.Message == "" {
		t.Errorf("Of(nil) = %+v, want Unknown with a message", got)
	}
}

func TestOfEmptyObject(t *testing.T) {
	// No kind, no metadata: judged by the generic rules, never a panic.
	got := Of(&unstructured.Unstructured{Object: map[string]any{}})
	if got.Status == "" {
		t.Errorf("Of(empty) returned no status")
	}
}

func TestSummaryStatus(t *testing.T) {
	const (
		cur  = fleetv1alpha1.HealthCurrent
		prog = fleetv1alpha1.HealthInProgress
		fail = fleetv1alpha1.HealthFailed
		unk  = fleetv1alpha1.HealthUnknown
	)
	tests := []struct {
		name     string
		statuses []fleetv1alpha1.HealthStatus
		want     fleetv1alpha1.HealthStatus
		message  string
	}{
		{"empty is healthy", nil, cur, "0/0 current"},
		{"all current", []fleetv1alpha1.HealthStatus{cur, cur}, cur, "2/2 current"},
		{"failed wins", []fleetv1alpha1.HealthStatus{cur, prog, fail, unk}, fail, "1/4 current, 1 in progress, 1 failed, 1 unknown"},
		{"in progress before unknown", []fleetv1alpha1.HealthStatus{cur, unk, prog}, prog, "1/3 current, 1 in progress, 1 unknown"},
		{"unknown", []fleetv1alpha1.HealthStatus{cur, unk}, unk, "1/2 current, 1 unknown"},
		{"empty status counts as unknown", []fleetv1alpha1.HealthStatus{""}, unk, "0/1 current, 1 unknown"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Summarize(tt.statuses...)
			if got := s.Status(); got != tt.want {
				t.Errorf("Status() = %s, want %s", got, tt.want)
			}
			if got := s.String(); got != tt.message {
				t.Errorf("String() = %q, want %q", got, tt.message)
			}
			if s.Total() != len(tt.statuses) {
				t.Errorf("Total() = %d, want %d", s.Total(), len(tt.statuses))
			}
		})
	}
}

// A team (its values, its Overrides, or edit rights on the member) sets a
// StatefulSet's updateStrategy to OnDelete, or a partition, so that its Pods
// keep the earlier template: kstatus read it Current, and the Work Ready on a
// revision no Pod ran. It is InProgress until every Pod runs the new revision.
func TestAStatefulSetWhosePodsKeepTheEarlierRevisionIsNotCurrent(t *testing.T) {
	judgeFixtures(t, []fixtureCase{
		{"statefulset-ondelete-not-updated.yaml", fleetv1alpha1.HealthInProgress,
			"updateStrategy OnDelete (its Pods update only when deleted): 0 of 3 Pods on the new revision (update revision web-d44d5f5bc, current web-56b7787fc4)"},
		{"statefulset-ondelete-not-ready.yaml", fleetv1alpha1.HealthInProgress, "Ready: 0/3"},
		{"statefulset-ondelete-unobserved.yaml", fleetv1alpha1.HealthInProgress, "has not observed generation 2"},
		{"statefulset-partition-holds-all.yaml", fleetv1alpha1.HealthInProgress,
			"rollingUpdate.partition 3 (Pods below it keep the earlier revision): 0 of 3 Pods on the new revision"},
		{"statefulset-partition-holds-one.yaml", fleetv1alpha1.HealthInProgress,
			"rollingUpdate.partition 1 (Pods below it keep the earlier revision): 2 of 3 Pods on the new revision"},
		// Updates that completed stay Current.
		{"statefulset-ondelete-updated.yaml", fleetv1alpha1.HealthCurrent, ""},
		{"statefulset-rolled.yaml", fleetv1alpha1.HealthCurrent, "updated: 3"},
	})
}

// A team suspending its running Job (edit rights on the member, or an
// Override setting spec.suspend): its Pods are deleted, but a member that
// keeps the Job's startTime had kstatus read it Current ("Job in progress").
func TestASuspendedJobIsNotCurrent(t *testing.T) {
	if got := Of(load(t, "job-suspended-after-start.yaml")); got.Status != fleetv1alpha1.HealthInProgress ||
		!strings.Contains(got.Message, "Job suspended") {
		t.Errorf("suspended Job = %+v, want InProgress saying it is suspended", got)
	}
	if got := Of(load(t, "job-running.yaml")); got.Status != fleetv1alpha1.HealthCurrent {
		t.Errorf("running Job = %+v, want Current", got)
	}
}

// A custom kind whose controller records the generation it observed on its
// Ready condition only: after a new revision changed its spec, kstatus read
// the earlier generation's Ready=True as Current, though its controller
// (down, or not there yet) had not acted on the change.
func TestAReadyConditionOfAnEarlierGenerationIsNotCurrent(t *testing.T) {
	got := Of(load(t, "unknown-kind-ready-stale.yaml"))
	if got.Status != fleetv1alpha1.HealthInProgress ||
		!strings.Contains(got.Message, "Ready condition is of generation 1, the object is at generation 2") {
		t.Errorf("stale Ready = %+v, want InProgress naming both generations", got)
	}
	if got := Of(load(t, "unknown-kind-ready-observed.yaml")); got.Status != fleetv1alpha1.HealthCurrent {
		t.Errorf("Ready of the current generation = %+v, want Current", got)
	}
}
