// Package stamp marks the manifests the hub writes to git with a hash of
// what was rendered, so that an agent in report-only mode can tell whether
// the live object on the member is the rendered one (the GitOps tool synced
// it) or an older one; the agent then compares the content too, since anyone
// who may update the object can copy the annotation. It is pure: the
// publisher stamps, the agent compares.
package stamp

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// Annotation carries a manifest's rendered hash on the file in git and so,
// once the GitOps tool applied it, on the live object.
const Annotation = fleetv1alpha1.Group + "/rendered-hash"

// hashLength is the hex length of a hash: 64 bits tell the revisions of one
// object apart and stay readable in messages.
const hashLength = 16

// Hash returns the rendered hash of a manifest (a JSON object): a hash of its
// canonical JSON without the Annotation itself, so that a stamped manifest
// hashes like the unstamped one.
func Hash(raw []byte) (string, error) {
	obj, err := decode(raw)
	if err != nil {
		return "", err
	}
	if md, ok := obj["metadata"].(map[string]any); ok {
		if ann, ok := md["annotations"].(map[string]any); ok {
			delete(ann, Annotation)
			if len(ann) == 0 {
				delete(md, "annotations")
			}
		}
	}
	// encoding/json sorts map keys: the same object always hashes the same.
	canonical, err := json.Marshal(obj)
	if err != nil {
		return "", fmt.Errorf("encoding manifest: %w", err)
	}
	sum := sha256.Sum256(canonical)
	return hex.EncodeToString(sum[:])[:hashLength], nil
}

// Stamp returns the manifest as JSON with the Annotation set to its Hash.
func Stamp(raw []byte) ([]byte, error) {
	hash, err := Hash(raw)
	if err != nil {
		return nil, err
	}
	obj, err := decode(raw)
	if err != nil {
		return nil, err
	}
	md, ok := obj["metadata"].(map[string]any)
	switch {
	case obj["metadata"] == nil:
		md = map[string]any{}
		obj["metadata"] = md
	case !ok:
		return nil, errors.New("manifest metadata is not an object")
	}
	ann, ok := md["annotations"].(map[string]any)
	switch {
	case md["annotations"] == nil:
		ann = map[string]any{}
		md["annotations"] = ann
	case !ok:
		return nil, errors.New("manifest annotations are not an object")
	}
	ann[Annotation] = hash
	out, err := json.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("encoding manifest: %w", err)
	}
	return out, nil
}

// FluxSubstitute is the annotation by which an object opts out of Flux's
// post-build variable substitution.
const FluxSubstitute = "kustomize.toolkit.fluxcd.io/substitute"

// Substituted reports whether Flux may substitute variables in a manifest
// the hub commits: not in an instance's objects, which the publisher commits
// with FluxSubstitute: disabled, nor in one that opts out itself.
func Substituted(instance bool, annotations map[string]string) bool {
	return !instance && annotations[FluxSubstitute] != "disabled"
}

// Of returns the rendered hash an object's annotations carry; "" when none.
func Of(annotations map[string]string) string { return annotations[Annotation] }

func decode(raw []byte) (map[string]any, error) {
	var obj map[string]any
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil, fmt.Errorf("decoding manifest: %w", err)
	}
	if obj == nil {
		return nil, errors.New("manifest is not a JSON object")
	}
	return obj, nil
}
