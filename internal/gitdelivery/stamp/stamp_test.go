package stamp

import (
	"encoding/json"
	"testing"
)

func TestStampAndHash(t *testing.T) {
	raw := []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a","annotations":{"x":"1"}},"data":{"k":"v"}}`)
	h, err := Hash(raw)
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != hashLength {
		t.Errorf("hash %q: want %d characters", h, hashLength)
	}
	stamped, err := Stamp(raw)
	if err != nil {
		t.Fatal(err)
	}
	var obj struct {
		Metadata struct {
			Annotations map[string]string `json:"annotations"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal(stamped, &obj); err != nil {
		t.Fatal(err)
	}
	if got := Of(obj.Metadata.Annotations); got != h || obj.Metadata.Annotations["x"] != "1" {
		t.Errorf("stamped annotations %v, want %s=%s and x=1", obj.Metadata.Annotations, Annotation, h)
	}
	// A stamped manifest hashes like the original, whatever key order.
	if h2, _ := Hash(stamped); h2 != h {
		t.Errorf("stamped hash %s, want %s", h2, h)
	}
	reordered := []byte(`{"data":{"k":"v"},"metadata":{"annotations":{"x":"1"},"name":"a"},"kind":"ConfigMap","apiVersion":"v1"}`)
	if h3, _ := Hash(reordered); h3 != h {
		t.Errorf("reordered hash %s, want %s", h3, h)
	}
	changed := []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a","annotations":{"x":"1"}},"data":{"k":"w"}}`)
	if h4, _ := Hash(changed); h4 == h {
		t.Error("a changed manifest hashes the same")
	}
}

func TestStampWithoutMetadataAnnotations(t *testing.T) {
	for _, raw := range []string{`{"kind":"ConfigMap"}`, `{"kind":"ConfigMap","metadata":{"name":"a"}}`} {
		stamped, err := Stamp([]byte(raw))
		if err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		h, _ := Hash([]byte(raw))
		var obj struct {
			Metadata struct {
				Annotations map[string]string `json:"annotations"`
			} `json:"metadata"`
		}
		if err := json.Unmarshal(stamped, &obj); err != nil || Of(obj.Metadata.Annotations) != h {
			t.Errorf("%s stamped as %s (%v)", raw, stamped, err)
		}
	}
}

func TestBadInput(t *testing.T) {
	for _, raw := range []string{``, `null`, `[1]`, `{"metadata":"x"}`, `{"metadata":{"annotations":[1]}}`} {
		if _, err := Stamp([]byte(raw)); err == nil {
			t.Errorf("Stamp(%q): no error", raw)
		}
	}
}
