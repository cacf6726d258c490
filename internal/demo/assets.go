package demo

import (
	"bytes"
	"embed"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// The demo's manifests, embedded so that the binary alone runs the demo, and
// written into DIR/manifests so that the commands it shows can be run too.
//
//go:embed assets/*.yaml
var assets embed.FS

// Asset files, in the order the story applies them.
const (
	fleetAsset     = "fleet.yaml"
	promiseAsset   = "promise.yaml"
	instancesAsset = "instances.yaml"
)

// manifestsDir is where, under the demo directory, the assets are written.
const manifestsDir = "manifests"

func asset(name string) ([]byte, error) {
	data, err := assets.ReadFile("assets/" + name)
	if err != nil {
		return nil, fmt.Errorf("reading embedded %s: %w", name, err)
	}
	return data, nil
}

// decodeAsset splits an asset into its objects.
func decodeAsset(name string) ([]*unstructured.Unstructured, error) {
	data, err := asset(name)
	if err != nil {
		return nil, err
	}
	return decodeYAML(name, data)
}

// decodeYAML decodes a multi-document YAML stream into objects, skipping
// documents that hold only comments.
func decodeYAML(name string, data []byte) ([]*unstructured.Unstructured, error) {
	var objs []*unstructured.Unstructured
	for i, doc := range bytes.Split(data, []byte("\n---")) {
		obj := map[string]any{}
		if err := yaml.Unmarshal(doc, &obj); err != nil {
			return nil, fmt.Errorf("decoding document %d of %s: %w", i+1, name, err)
		}
		if len(obj) == 0 {
			continue
		}
		u := &unstructured.Unstructured{Object: obj}
		if u.GetKind() == "" || u.GetAPIVersion() == "" || u.GetName() == "" {
			return nil, fmt.Errorf("document %d of %s: apiVersion, kind and metadata.name are required", i+1, name)
		}
		objs = append(objs, u)
	}
	return objs, nil
}

// writeAssets writes every asset into dir/manifests.
func writeAssets(dir string) error {
	out := filepath.Join(dir, manifestsDir)
	if err := os.MkdirAll(out, 0o700); err != nil {
		return fmt.Errorf("creating %s: %w", out, err)
	}
	entries, err := assets.ReadDir("assets")
	if err != nil {
		return fmt.Errorf("listing embedded manifests: %w", err)
	}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".yaml") {
			continue
		}
		data, err := asset(e.Name())
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(out, e.Name()), data, 0o600); err != nil {
			return fmt.Errorf("writing %s: %w", e.Name(), err)
		}
	}
	return nil
}
