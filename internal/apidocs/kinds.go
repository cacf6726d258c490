package apidocs

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/runtime"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/config/crd"
	"github.com/flotilla-dev/flotilla/internal/instanceapi"
)

// InstanceFile is the page of the kinds generated from Promises.
const InstanceFile = "instance.md"

// Kinds lists every reference page: one per CRD of the Flotilla API, plus
// the page of the generated instance kinds. It checks that each collapsed
// field really has the schema its text points to.
func Kinds() ([]Kind, error) {
	crds, err := crd.CRDs()
	if err != nil {
		return nil, err
	}
	byKind := map[string]*apiextensionsv1.CustomResourceDefinition{}
	var kinds []Kind
	for _, c := range crds {
		byKind[c.Spec.Names.Kind] = c
		kinds = append(kinds, Kind{Kind: c.Spec.Names.Kind, File: strings.ToLower(c.Spec.Names.Kind) + ".md", CRD: c})
	}
	for i := range kinds {
		switch kinds[i].Kind {
		case "Rollout":
			kinds[i].Collapse = map[string]string{"spec.strategy": "strategy is an inline strategy, for ad hoc rollouts: " +
				"the fields of a [RolloutStrategy's spec](rolloutstrategy.md#spec) (`waves`, `onFailure`, `offlinePolicy`, `immediate`)."}
			if err := sameSchema(byKind, "Rollout", "spec.strategy", "RolloutStrategy", "spec"); err != nil {
				return nil, err
			}
		case "PromiseRevision":
			kinds[i].Collapse = map[string]string{"spec.content": "content is the Promise's render inputs at this revision: " +
				"`api`, `templates`, `fleetResources` and `examples`, with the fields of [a Promise's spec](promise.md#spec)."}
			for _, f := range []string{"api", "templates", "fleetResources", "examples"} {
				if err := sameSchema(byKind, "PromiseRevision", "spec.content."+f, "Promise", "spec."+f); err != nil {
					return nil, err
				}
			}
		}
	}
	inst, err := instanceKind()
	if err != nil {
		return nil, err
	}
	return append(kinds, inst), nil
}

// instanceKind is a sample CRD as the hub generates it for a Promise; only
// what every instance kind shares is documented from it.
func instanceKind() (Kind, error) {
	api := &fleetv1alpha1.PromiseAPI{Group: "platform.example.com", Kind: "Database",
		Schema: runtime.RawExtension{Raw: []byte(`{"type":"object","x-kubernetes-preserve-unknown-fields":true}`)}}
	c, err := instanceapi.GenerateCRD("database", api)
	if err != nil {
		return Kind{}, fmt.Errorf("generating a sample instance CRD: %w", err)
	}
	return Kind{Kind: "instance", File: InstanceFile, CRD: c, Instance: true}, nil
}

// sameSchema fails unless field path of kind a has the schema of path of
// kind b, descriptions of the two roots aside.
func sameSchema(byKind map[string]*apiextensionsv1.CustomResourceDefinition, a, pathA, b, pathB string) error {
	sa, err := schemaAt(byKind[a], pathA)
	if err != nil {
		return err
	}
	sb, err := schemaAt(byKind[b], pathB)
	if err != nil {
		return err
	}
	sa.Description, sb.Description = "", ""
	if !equality.Semantic.DeepEqual(sa, sb) {
		return fmt.Errorf("%s %s no longer has the schema of %s %s: update the collapsed text in internal/apidocs", a, pathA, b, pathB)
	}
	return nil
}

func schemaAt(c *apiextensionsv1.CustomResourceDefinition, path string) (apiextensionsv1.JSONSchemaProps, error) {
	if c == nil || len(c.Spec.Versions) == 0 || c.Spec.Versions[0].Schema == nil {
		return apiextensionsv1.JSONSchemaProps{}, fmt.Errorf("no schema for %s", path)
	}
	s := *c.Spec.Versions[0].Schema.OpenAPIV3Schema
	for _, f := range strings.Split(path, ".") {
		child, ok := s.Properties[f]
		if !ok {
			return apiextensionsv1.JSONSchemaProps{}, fmt.Errorf("%s has no field %s", c.Spec.Names.Kind, path)
		}
		s = child
	}
	return s, nil
}

// Render returns the page of k in dir with its generated blocks filled.
func Render(dir string, k Kind) (current, rendered []byte, err error) {
	path := filepath.Join(dir, k.File)
	current, err = os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, fmt.Errorf("%s documents kind %s and is missing: write it with the prose and these generated blocks: %s",
			path, k.Kind, strings.Join(blockNames(k), ", "))
	}
	if err != nil {
		return nil, nil, fmt.Errorf("reading %s: %w", path, err)
	}
	sections, err := Sections(k)
	if err != nil {
		return nil, nil, err
	}
	rendered, err = Fill(current, sections)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return current, rendered, nil
}

func blockNames(k Kind) []string {
	s, err := Sections(k)
	if err != nil {
		return nil
	}
	var out []string
	for _, n := range sortedNames(s) {
		out = append(out, beginMarker(n)+" … "+endMarker(n))
	}
	return out
}

// Generate fills the generated blocks of every page in dir.
func Generate(dir string) error {
	kinds, err := Kinds()
	if err != nil {
		return err
	}
	for _, k := range kinds {
		current, rendered, err := Render(dir, k)
		if err != nil {
			return err
		}
		if !bytes.Equal(current, rendered) {
			if err := os.WriteFile(filepath.Join(dir, k.File), rendered, 0o644); err != nil {
				return fmt.Errorf("writing %s: %w", k.File, err)
			}
		}
	}
	return nil
}

// Stale lists the pages in dir whose generated blocks differ from the schemas.
func Stale(dir string) ([]string, error) {
	kinds, err := Kinds()
	if err != nil {
		return nil, err
	}
	var stale []string
	for _, k := range kinds {
		current, rendered, err := Render(dir, k)
		if err != nil {
			return nil, err
		}
		if !bytes.Equal(current, rendered) {
			stale = append(stale, k.File)
		}
	}
	return stale, nil
}
